// The libFuzzer targets (guest/test/fuzz, docs/fuzzing.md), each for a short bounded time
// through `npm run fuzz -- <target> --scratch` (a throw-away copy of the seed corpus, no ledger
// entry; it first replays the target's committed regression inputs):
// any crash, sanitizer report or failed check fails the test. Longer runs are manual.
// Also the execution ledger's totals (`npm run fuzz -- totals`) over a ledger written here.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const SECONDS = 12;
const store = mkdtempSync(join(tmpdir(), 'ix-fuzz-store-'));
afterAll(() => rmSync(store, { recursive: true, force: true }));
const env = { ...process.env, FUZZ_STORE: store };

describe('coverage-guided fuzzing (libFuzzer, ASan/UBSan)', () => {
  for (const target of ['net', 'kvstore', 'syscall']) {
    it(`${target}: ${SECONDS} s without a crash`, () => {
      const r = spawnSync('node', ['scripts/fuzz.mjs', target, '--seconds', String(SECONDS), '--scratch'], {
        encoding: 'utf8',
        timeout: 170_000,
        env,
      });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`fuzz ${target}: \\d+ executions in ${SECONDS} s, no crash`));
      expect(existsSync(join(store, 'ledger.jsonl')), 'a --scratch run wrote the ledger').toBe(false);
    }, 180_000);
  }
});

describe('fuzz targets', () => {
  it('list names every target; --fast refuses the TypeScript loops (no sanitizer build)', () => {
    const r = spawnSync('node', ['scripts/fuzz.mjs', 'list'], { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^targets: net, kvstore, syscall, virtqueue, xdp$/m);
    for (const t of ['virtqueue', 'xdp']) {
      const f = spawnSync('node', ['scripts/fuzz.mjs', t, '--fast'], { encoding: 'utf8', env });
      expect(f.status).toBe(2);
      expect(f.stderr).toMatch(new RegExp(`--fast is for the libFuzzer targets \\(${t} has no sanitizer build\\)`));
    }
  });
});

describe('fuzz ledger totals', () => {
  it('sums executions, seconds and crashes per target and skips a line that is not JSON', () => {
    const dir = join(store, 'totals');
    const line = (target: string, executions: number, cpuSeconds: number, crashes: number, variant: string, seed?: number) =>
      JSON.stringify({ target, commit: 'abc1234', date: '2026-12-03T22:00:00.000Z', seconds: 100, cpuSeconds, executions, crashes, variant, ...(seed !== undefined ? { seed } : {}) });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'ledger.jsonl'), [
      line('net', 300_000, 100, 0, 'asan+ubsan'),
      line('net', 700_000, 100, 0, 'asan'),
      'not json',
      line('syscall', 50, 10, 1, 'asan+ubsan'),
      line('xdp', 4000, 2, 0, 'node'),
      line('virtqueue', 3000, 1, 0, 'node'),
      line('virtqueue', 5000, 1, 0, 'node'),
      line('virtqueue', 2000, 1, 0, 'node', 7),
      line('virtqueue', 6000, 1, 0, 'node', 9),
      line('virtqueue', 1000, 1, 0, 'node', 9),
      '',
    ].join('\n'));
    const r = spawnSync('node', ['scripts/fuzz.mjs', 'totals'], { encoding: 'utf8', env: { ...process.env, FUZZ_STORE: dir } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^net: 1000000 executions in 2 runs, 200 s \(5000\/s, 5000 per CPU second\), 0 crashes; asan\+ubsan 300000, asan 700000;/m);
    expect(r.stdout).toMatch(/^syscall: 50 executions in 1 runs, 100 s \(1\/s, 5 per CPU second\), 1 crashes;/m);
    expect(r.stdout).toMatch(/^xdp: 4000 executions \(distinct: 4000 over 1 seed; a seed's rounds repeat in every run of it\) in 1 runs, 100 s \(40\/s, 2000 per CPU second\), 0 crashes; node 4000;/m);
    // a seed's rounds repeat: the longest run per seed counts (runs without a seed used seed 1)
    expect(r.stdout).toMatch(/^virtqueue: 17000 executions \(distinct: 13000 over 3 seeds;/m);
    expect(r.stdout).not.toMatch(/^kvstore/m);
    expect(r.stderr).toMatch(/line 3 .* is not JSON/);
  });
});
