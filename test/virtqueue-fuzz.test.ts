// Target (d) of docs/fuzzing.md: the host virtqueue against a hostile guest, as a seeded
// structure-aware random loop (not coverage-guided) with a model and memory-write checks
// (src/testing/virtqueue-fuzz.ts). FUZZ_SECONDS / FUZZ_SEED override the bounded run
// (`npm run fuzz -- virtqueue --seconds N` sets them).
import { describe, expect, it } from 'vitest';
import { fuzzVirtqueue } from '../src/testing/virtqueue-fuzz.js';

const seconds = Number(process.env.FUZZ_SECONDS ?? 8);
const seed = Number(process.env.FUZZ_SEED ?? 1);

describe('virtqueue fuzz (seeded, structure-aware)', () => {
  it(`seed ${seed}: ${seconds} s of hostile rings`, () => {
    const stats = fuzzVirtqueue(seed, Date.now() + seconds * 1000);
    console.log(`fuzz virtqueue: ${stats.rounds} executions (rounds), ${stats.pops} pops in ${seconds} s, no crash; ` +
      `verdicts ${JSON.stringify(stats.verdicts)}`);
    // the loop reached every verdict (a generator that stopped producing one would hide it)
    for (const v of ['ok', 'bad_head', 'desc_out_of_range', 'desc_overlaps_ring', 'chain_loop', 'bad_flags', 'bad_next', 'zero_len', 'chain_too_long'])
      expect(stats.verdicts[v] ?? 0, v).toBeGreaterThan(0);
  }, (seconds + 60) * 1000);
});
