// Target (d) of docs/fuzzing.md, the XDP side: XdpEngine's descriptor handling between a
// hostile guest and a fake AF_XDP kernel that also lies, as a seeded structure-aware random
// loop (not coverage-guided) with a model, memory-write, content and ownership checks
// (src/testing/xdp-fuzz.ts). FUZZ_SECONDS / FUZZ_SEED override the bounded run
// (`npm run fuzz -- xdp --seconds N` sets them); FUZZ_RESUME=<state>@<round>, printed with a
// failure, replays only the failing episode.
import { describe, expect, it } from 'vitest';
import { BAD_KINDS } from '../src/nic/virtqueue.js';
import { fuzzXdp, parseResume } from '../src/testing/xdp-fuzz.js';
import { Rng } from '../src/testing/virtqueue-fuzz.js';

const seconds = Number(process.env.FUZZ_SECONDS ?? 6);
const seed = Number(process.env.FUZZ_SEED ?? 1);
const resume = process.env.FUZZ_RESUME; // <state>@<round>, as a failure prints it

describe('xdp fuzz (seeded, structure-aware)', () => {
  it(`seed ${seed}: ${seconds} s of hostile rings and a lying kernel`, () => {
    const stats = fuzzXdp(seed, Date.now() + seconds * 1000, resume ? 200 : Infinity, resume);
    if (resume) return; // one episode replayed: it did not fail
    console.log(`fuzz xdp: ${stats.rounds} executions (rounds: guest, kernel, one engine pass), ${stats.frames} frames, ${stats.kickerRounds} kicker rounds (xdp_rings "guest") in ${seconds} s, no crash; ` +
      `verdicts ${JSON.stringify(stats.verdicts)}`);
    // the loop reached every verdict (a generator that stopped producing one would hide it)
    for (const v of ['ok', ...BAD_KINDS, 'rx_drop_buffer_small', 'rx_bad_in_flight', 'rx_drop_oversize', 'rx_drop_no_buffer',
      'tx_drop_runt', 'tx_drop_oversize', 'tx_drop_bad_hdr', 'queue_broken',
      'kernel_rx_unknown', 'kernel_rx_layout', 'kernel_rx_jump', 'kernel_comp_bad', 'kernel_comp_spurious', 'kernel_comp_jump'])
      expect(stats.verdicts[v] ?? 0, v).toBeGreaterThan(0);
    expect(stats.kickerRounds).toBeGreaterThan(0);
  }, (seconds + 60) * 1000);
});

describe('replaying one episode (FUZZ_RESUME)', () => {
  it('Rng.fromState continues exactly where state was taken', () => {
    const a = new Rng(7);
    for (let i = 0; i < 1000; i++) a.next();
    const b = Rng.fromState(a.state);
    for (let i = 0; i < 1000; i++) expect(b.next()).toBe(a.next());
    expect(() => Rng.fromState('0000000000000000')).toThrow(/not all zero/);
    expect(() => Rng.fromState('xyz')).toThrow(/16 hex digits/);
  });

  it('parses <state>@<round> and refuses anything else', () => {
    expect(parseResume('38f7f275669276fa@3926872')).toEqual({ state: '38f7f275669276fa', round: 3926872 });
    for (const bad of ['', '38f7f275669276fa', '38f7f275669276f@1', '38f7f275669276fa@-1', '38f7f275669276fa@x'])
      expect(() => parseResume(bad), bad).toThrow(/FUZZ_RESUME/);
  });

  it('a resumed episode is the episode that started from that state, its rounds numbered from the given round', () => {
    const first = fuzzXdp(3, Date.now() + 60_000, 200);
    const again = fuzzXdp(3, Date.now() + 60_000, 200, `${new Rng(3).state}@1000`);
    expect(again.rounds).toBe(1000 + first.rounds);
    expect(again.verdicts).toEqual(first.verdicts);
    expect(again.frames).toBe(first.frames);
  });
});
