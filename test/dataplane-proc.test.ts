// No `ix run` outlives the test that started it (test/dataplane-proc.ts; root + /dev/kvm,
// fails under CI=true when it cannot run). Here: a dataplane a test leaves running is stopped
// when that test ends; stopDataplanes() stops what runs. Then vitest runs of a fixture test
// (test/fixtures/orphans/) that times out, fails, or whose worker process gets SIGTERM or
// SIGKILL while its dataplane runs: after each run no `ix run` of it is left, nor its namespace.
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { startDataplane, stopDataplanes } from './dataplane-proc.js';

const run = requireNetKvm('dataplane process tests');

const { dir, cleanup } = tempDir('ix-dp-proc-');
afterAll(cleanup);

function config(name: string): string {
  return writeConfig(
    dir,
    name,
    `name = "${name}"\ncores = 1\nmemory = "128M"\n[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "16M"\n` +
      `[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\n`,
  );
}

/** pids of the processes whose command line names this config (the `ix run` of it) */
function ixRunsOf(cfg: string): number[] {
  const r = spawnSync('pgrep', ['-f', `ix.js run --json ${cfg}`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

/** namespaces `ix run` pid made (ix-<tag>-<pid>-<hex>) that still exist */
function namespacesOf(pid: number): string[] {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return list.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.includes(`-${pid}-`));
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Wait (bounded) until `done`; then its last answer. */
async function until<T>(what: () => T, done: (v: T) => boolean, ms: number): Promise<T> {
  const t0 = Date.now();
  let v = what();
  while (!done(v) && Date.now() - t0 < ms) {
    await new Promise((r) => setTimeout(r, 100));
    v = what();
  }
  return v;
}

describe.runIf(run)('dataplanes started by the test helper', () => {
  let leftPid = 0;
  it('a test that ends without stopping its dataplane (the next test checks it is gone)', async () => {
    const dp = await startDataplane(config(`orpha${process.pid % 10000}`), /echo: serving/);
    leftPid = dp.proc.pid!;
    expect(alive(leftPid)).toBe(true);
  });

  it('... has it stopped when it ends: SIGTERM, a clean exit, its namespace removed', async () => {
    expect(leftPid).toBeGreaterThan(0);
    expect(await until(() => alive(leftPid), (a) => !a, 20_000)).toBe(false);
    expect(namespacesOf(leftPid)).toEqual([]);
  });

  it('stopDataplanes() stops every dataplane still running', async () => {
    const a = await startDataplane(config(`orphb${process.pid % 10000}`), /echo: serving/);
    await stopDataplanes();
    expect(a.proc.exitCode).toBe(0); // SIGTERM: a clean stop, not SIGKILL
    expect(alive(a.proc.pid!)).toBe(false);
    expect(namespacesOf(a.proc.pid!)).toEqual([]);
  });
});

const VITEST = resolve('node_modules/vitest/vitest.mjs');
const FIXTURE_CONFIG = 'test/fixtures/orphans/vitest.config.ts';

describe.runIf(run).each([
  ['timeout', /Test timed out in \d+ms/],
  ['fail', /failed with its dataplane running/],
  // the worker's console output may die with it; vitest says what happened
  ['sigterm', /Worker exited unexpectedly/],
  ['sigkill', /Worker exited unexpectedly/],
] as const)('a vitest run whose test %s while its dataplane runs', (how, says) => {
  it('leaves no ix run and no namespace of it behind', async () => {
    const cfg = config(`orph${how.slice(0, 4)}${process.pid % 10000}`);
    const inner = spawn(process.execPath, [VITEST, 'run', '--config', FIXTURE_CONFIG], {
      env: { ...process.env, IX_ORPHAN_CASE: how, IX_ORPHAN_CONFIG: cfg, IX_ORPHAN_TIMEOUT_MS: '8000', NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    inner.stdout.on('data', (d: Buffer) => (out += d.toString()));
    inner.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const seen = new Set<number>();
    try {
      // the dataplane of the inner run, while it runs (bounded)
      const t0 = Date.now();
      while (inner.exitCode === null && inner.signalCode === null && Date.now() - t0 < 150_000) {
        for (const p of ixRunsOf(cfg)) seen.add(p);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(inner.exitCode, `the inner vitest run did not end in 150 s:\n${out}`).not.toBeNull();
      expect(inner.exitCode, out).not.toBe(0); // its test failed, as meant
      expect(out).toMatch(says);
      expect(seen.size, `no ix run of the fixture was seen:\n${out}`).toBeGreaterThan(0);
      // the worker is gone; whatever it started must be gone too (a stop takes a second or two)
      expect(await until(() => ixRunsOf(cfg), (l) => l.length === 0, 20_000), `ix run left behind by the inner run:\n${out}`).toEqual([]);
      for (const p of seen) expect(namespacesOf(p)).toEqual([]);
    } finally {
      if (inner.exitCode === null) inner.kill('SIGKILL');
      for (const p of ixRunsOf(cfg)) process.kill(p, 'SIGKILL');
    }
  }, 200_000);
});
