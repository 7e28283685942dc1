// The libFuzzer targets (guest/test/fuzz, docs/fuzzing.md), each for a short bounded time
// through `npm run fuzz -- <target> --scratch` (a throw-away copy of the seed corpus, no ledger
// entry; it first replays the target's committed regression inputs):
// any crash, sanitizer report or failed check fails the test. Longer runs are manual.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const SECONDS = 12;

describe('coverage-guided fuzzing (libFuzzer, ASan/UBSan)', () => {
  for (const target of ['net', 'kvstore', 'syscall']) {
    it(`${target}: ${SECONDS} s without a crash`, () => {
      const r = spawnSync('node', ['scripts/fuzz.mjs', target, '--seconds', String(SECONDS), '--scratch'], {
        encoding: 'utf8',
        timeout: 170_000,
      });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`fuzz ${target}: \\d+ executions in ${SECONDS} s, no crash`));
    }, 180_000);
  }
});
