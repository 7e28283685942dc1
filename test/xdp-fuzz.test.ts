// Target (d) of docs/fuzzing.md, the XDP side: XdpEngine's descriptor handling between a
// hostile guest and a fake AF_XDP kernel that also lies, as a seeded structure-aware random
// loop (not coverage-guided) with a model, memory-write, content and ownership checks
// (src/testing/xdp-fuzz.ts). FUZZ_SECONDS / FUZZ_SEED override the bounded run
// (`npm run fuzz -- xdp --seconds N` sets them).
import { describe, expect, it } from 'vitest';
import { BAD_KINDS } from '../src/nic/virtqueue.js';
import { fuzzXdp } from '../src/testing/xdp-fuzz.js';

const seconds = Number(process.env.FUZZ_SECONDS ?? 6);
const seed = Number(process.env.FUZZ_SEED ?? 1);

describe('xdp fuzz (seeded, structure-aware)', () => {
  it(`seed ${seed}: ${seconds} s of hostile rings and a lying kernel`, () => {
    const stats = fuzzXdp(seed, Date.now() + seconds * 1000);
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
