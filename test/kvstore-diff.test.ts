// Differential test: the same command streams against kvstore and against Debian's
// memcached 1.6 (/usr/bin/memcached, started here in a namespace of its own), replies
// compared byte for byte with the documented differences masked (docs/kvstore.md,
// "Differences from memcached"). The driver is test/fixtures/kvstore/diff.py: scripted cases
// (value limits, noreply, refused sets, flags, incr/decr, malformed lines, expiry with
// sleeps) and 200 seeded random batches always; more with KV_DIFF_RANDOM=<batches>.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
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

interface Batch { i: number; n: number; req: string; resp: string }

function drive(where: 'mc' | 'kv', args: string[], timeoutMs: number): Promise<Batch[]> {
  const host = where === 'mc' ? '127.0.0.1' : dp!.address;
  const netns = where === 'mc' ? ns!.name : dp!.netns;
  const p = spawn('ip', ['netns', 'exec', netns, 'python3', DRIVER, host, '11211', ...args], { timeout: timeoutMs });
  const out: Buffer[] = [];
  let err = '';
  p.stdout.on('data', (d: Buffer) => out.push(d));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((ok, fail) =>
    p.on('close', (code) => {
      if (code !== 0) return fail(new Error(`diff.py against ${where}: exit ${code}: ${err}`));
      ok(Buffer.concat(out).toString('latin1').trim().split('\n').map((l) => JSON.parse(l) as Batch));
    }),
  );
}

// memcached closes a connection when more than 2 KB of a line that is not a get have
// arrived without its newline; whether that happens depends on how the segments fell into
// its reads (a 5 KB line read whole is answered). kvstore answers lines up to 8 KB whatever
// the segmentation (docs/kvstore.md, "Differences"). Masked exactly: memcached's reply ends
// in a close or reset, the request has such a line, and kvstore's reply begins with
// everything memcached sent before closing.
//
// memcached holds the replies of earlier commands while it waits for the rest of a value
// (it writes only when its read buffer is empty between commands), so when a batch ends
// inside a value (both fall silent) it may have sent fewer of them than kvstore: masked as
// memcached's reply being a prefix of kvstore's, both silent.
//
// The `s` flag of a meta reply gives the value's length, so it shows the padding of an
// incremented number (docs/kvstore.md: memcached pads in place unless a reply it has not
// written yet holds the item; kvstore always pads): lines that differ only in `s`, with
// kvstore's at least memcached's, count as equal, as numbers are compared unpadded.
function samePadded(mc: string, kv: string): boolean {
  const a = mc.split('\r\n');
  const b = kv.split('\r\n');
  if (a.length !== b.length) return false;
  const sizes = / s(\d+)(?= |$)/g;
  return a.every((l, i) => {
    const k = b[i]!;
    if (l === k) return true;
    if (!/^(HD|VA|EN|NF|NS|EX)\b/.test(l) || l.replace(sizes, ' s') !== k.replace(sizes, ' s')) return false;
    const ms = [...l.matchAll(sizes)].map((m) => Number(m[1]));
    const ks = [...k.matchAll(sizes)].map((m) => Number(m[1]));
    return ms.every((n, j) => ks[j]! >= n);
  });
}

function sameReply(req: string, mc: string, kv: string): boolean {
  if (mc === kv || samePadded(mc, kv)) return true;
  if (mc.endsWith('<silence>') && kv.endsWith('<silence>')) return kv.startsWith(mc.slice(0, -'<silence>'.length));
  const closed = /<(closed|reset)>$/.exec(mc);
  if (!closed) return false;
  const longLine = req.split('\n').some((l) => l.length > 2048 && !/^ *gets? /.test(l));
  return longLine && kv.startsWith(mc.slice(0, closed.index));
}

// Both servers driven at once (the same seeded streams); returns the commands compared.
async function compare(args: string[], timeoutMs: number): Promise<number> {
  const [want, got] = await Promise.all([drive('mc', args, timeoutMs), drive('kv', args, timeoutMs)]);
  expect(got.length).toBe(want.length);
  const bad = want.map((w, k) => ({ w, g: got[k]! })).filter(({ w, g }) => !sameReply(w.req, w.resp, g.resp));
  const diffs = bad.map(({ w, g }) => ({ req: w.req.slice(0, 200), memcached: w.resp.slice(0, 300), kvstore: g.resp.slice(0, 300) }));
  if (process.env.KV_DIFF_OUT) writeFileSync(process.env.KV_DIFF_OUT + (args.includes('--scripted') ? '.scripted' : ''), bad.map(({ w, g }) => JSON.stringify({ i: w.i, req: w.req, memcached: w.resp, kvstore: g.resp })).join('\n'));
  expect(diffs.slice(0, 3), `${diffs.length} of ${want.length} batches differ`).toEqual([]);
  return want.reduce((n, b) => n + b.n, 0);
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

  it('scripted cases: byte for byte', async () => {
    await compare(['1', '0', '--scripted'], 120_000);
  }, 300_000);

  // A bounded random run always; KV_DIFF_RANDOM=<batches> (KV_DIFF_SEED, KV_DIFF_MAXCMDS:
  // commands per batch below this, default 40) for longer ones: docs/kvstore.md records the
  // long run (over 10^6 commands).
  it('random batches', async () => {
    const n = process.env.KV_DIFF_RANDOM ?? '200';
    const args = [process.env.KV_DIFF_SEED ?? '5', n, '--max-cmds', process.env.KV_DIFF_MAXCMDS ?? '40'];
    const cmds = await compare(args, 6 * 3_600_000);
    console.log(`kvstore-diff: ${n} random batches, ${cmds} commands, all equal`);
  }, 6 * 3_600_000);
});
