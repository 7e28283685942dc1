// Differential test: the same command streams against kvstore and against Debian's
// memcached 1.6 (/usr/bin/memcached, started here in a namespace of its own), replies
// compared byte for byte with the documented differences masked (docs/kvstore.md,
// "Differences from memcached"). The driver is test/fixtures/kvstore/diff.py: scripted cases
// (value limits, noreply, refused sets, flags, incr/decr, malformed lines, expiry with
// sleeps) always; seeded random batches when KV_DIFF_RANDOM=<batches> is set (outside CI;
// KV_DIFF_SEED picks the seed).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireKvm } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { startDataplane, type RunningDataplane } from './dataplane-proc.js';
import { TestNetns } from './net-ns.js';
import { netnsUnavailable } from '../src/nic/netns.js';

const MEMCACHED = '/usr/bin/memcached';
const run = requireKvm() && !netnsUnavailable() && existsSync(MEMCACHED);
const DRIVER = resolve('test/fixtures/kvstore/diff.py');
const { dir, cleanup } = tempDir('ix-kvdiff-');
let dp: RunningDataplane | undefined;
let ns: TestNetns | undefined;
let mc: ChildProcess | undefined;

interface Batch { i: number; req: string; resp: string }

function drive(where: 'mc' | 'kv', args: string[], timeoutMs: number): Batch[] {
  const [cmd, host] = where === 'mc' ? ['ip', '127.0.0.1'] : ['ip', dp!.address];
  const netns = where === 'mc' ? ns!.name : dp!.netns;
  const r = spawnSync(cmd, ['netns', 'exec', netns, 'python3', DRIVER, host, '11211', ...args], {
    encoding: 'latin1',
    timeout: timeoutMs,
    maxBuffer: 1 << 30,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Batch);
}

function compare(args: string[], timeoutMs: number): void {
  const want = drive('mc', args, timeoutMs);
  const got = drive('kv', args, timeoutMs);
  expect(got.length).toBe(want.length);
  const diffs = want.filter((w, k) => w.resp !== got[k]!.resp).map((w) => ({ req: w.req.slice(0, 200), memcached: w.resp.slice(0, 300), kvstore: got[w.i]!.resp.slice(0, 300) }));
  expect(diffs.slice(0, 3), `${diffs.length} of ${want.length} batches differ`).toEqual([]);
}

describe.runIf(run)('kvstore answers as memcached 1.6', () => {
  beforeAll(async () => {
    ns = new TestNetns('kvdiff');
    mc = spawn('ip', ['netns', 'exec', ns.name, MEMCACHED, '-p', '11211', '-U', '0', '-l', '127.0.0.1', '-m', '64', '-u', 'root'], { stdio: 'ignore' });
    const cfg = writeConfig(
      dir,
      'kvdiff',
      `name = "kvdiff-${process.pid}"\ncores = 1\nmemory = "256M"\n[app]\npath = "${appElf('kvstore')}"\n` +
        `args = ["port=11211", "conns=64"]\nheap = "64M"\n[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\n`,
    );
    dp = await startDataplane(cfg, /kvstore: memcached protocol on TCP port 11211/);
  }, 60_000);
  afterAll(async () => {
    mc?.kill('SIGTERM');
    if (dp) await dp.stop();
    ns?.remove();
    cleanup();
  });

  it('scripted cases: byte for byte', () => {
    compare(['1', '0', '--scripted'], 120_000);
  }, 300_000);

  it.runIf(process.env.KV_DIFF_RANDOM !== undefined)('random batches (KV_DIFF_RANDOM, KV_DIFF_SEED)', () => {
    const n = process.env.KV_DIFF_RANDOM || '200';
    compare([process.env.KV_DIFF_SEED ?? '5', n], 3_600_000);
  }, 3_600_000);
});
