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
// memcached's incr/decr/ma rewrite a number in place padded with spaces to the old length,
// except when a reply it has not written to the socket yet holds the item (a get before it
// in the same read, or a reply waiting for the socket): then the new item has the number's
// own length. Which one happens depends on how the stream fell into its reads, which a
// client cannot control; kvstore always pads (docs/kvstore.md). So a value (VALUE or VA)
// whose header differs only in the length counts as equal when kvstore's data is
// memcached's with extra spaces after digits (an append or prepend carries the padding
// into the middle of a value), and a meta line differing only in its `s` flag (the
// value's length) when kvstore's is at least memcached's.
function paddedData(mc: string, kv: string): boolean {
  const esc = mc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d/g, '$& *');
  return kv.length > mc.length && new RegExp(`^${esc}$`, 's').test(kv);
}

// The same choice decides the item's fetched mark: memcached's item rewritten in place keeps
// it, its new item starts unfetched, and besides pending replies the reference count
// memcached tests includes its LRU maintainer's asynchronous bump of an item read again
// (a thread's timing). kvstore always keeps the mark with the padding. So a meta `h0` on
// memcached against `h1` on kvstore is allowed, only in a batch that has an incr/decr/ma of
// a key before a meta command asking `h` of the same key (arithThenH).
function arithThenH(req: string): boolean {
  const counted = new Set<string>();
  for (const line of req.split('\n')) {
    const t = line.replace(/\r$/, '').split(' ');
    if (/^m[gsad]$/.test(t[0]!) && t.slice(2).includes('h') && counted.has(t[1]!)) return true;
    if (['incr', 'decr', 'ma'].includes(t[0]!) && t[1]) counted.add(t[1]);
  }
  return false;
}

// A meta reply line equal but for its `s` flag (kvstore's at least memcached's: padding,
// above), its `h` (h0 against h1 where hOk: arithThenH) and its `t` (ttl left) and `l`
// (seconds since the last access) flags, which may differ by one: each server counts them
// on its own one-second clock, and a tick can fall between the two servers' answers.
function sameMetaLine(l: string, k: string, hOk: boolean): boolean {
  const nums = / ([stlh])(\d+)(?= |$)/g;
  if (!/^(HD|VA|EN|NF|NS|EX)\b/.test(l) || l.replace(nums, ' $1') !== k.replace(nums, ' $1')) return false;
  const ms = [...l.matchAll(nums)];
  const ks = [...k.matchAll(nums)];
  return ms.every((m, j) => {
    const a = Number(m[2]);
    const b = Number(ks[j]![2]);
    if (m[1] === 'h') return a === b || (hOk && a === 0 && b === 1);
    return m[1] === 's' ? b >= a : Math.abs(a - b) <= 1;
  });
}

const VALUE_HEAD = /^(VALUE [^ ]+ \d+ )(\d+)((?: \d+)?)$|^(VA )(\d+)((?: .*)?)$/s;

// prefix: whether mc, cut anywhere (memcached closed the connection), is kvstore's reply so
// far, a value cut inside its padding included.
function samePadded(mc: string, kv: string, hOk: boolean, prefix = false): boolean {
  let a = 0;
  let b = 0;
  while (a < mc.length || (!prefix && b < kv.length)) {
    const ea = mc.indexOf('\r\n', a);
    const eb = kv.indexOf('\r\n', b);
    if (prefix && ea < 0) return kv.startsWith(mc.slice(a), b);
    if (ea < 0 || eb < 0) return mc.slice(a) === kv.slice(b);
    const l = mc.slice(a, ea);
    const k = kv.slice(b, eb);
    const hl = VALUE_HEAD.exec(l);
    const hk = VALUE_HEAD.exec(k);
    if (hl && hk) {
      const nl = Number(hl[2] ?? hl[5]);
      const nk = Number(hk[2] ?? hk[5]);
      const headL = l.replace(VALUE_HEAD, '$1$3$4$6');
      const headK = k.replace(VALUE_HEAD, '$1$3$4$6');
      if (headL !== headK && !sameMetaLine(headL, headK, hOk)) return false;
      const dl = mc.slice(ea + 2, ea + 2 + nl);
      const dk = kv.slice(eb + 2, eb + 2 + nk);
      if (prefix && ea + 2 + nl > mc.length) return dk.startsWith(dl) || (/^\d+ *$/.test(dl) && dl.trimEnd() === dk.trimEnd().slice(0, dl.trimEnd().length));
      if (dl !== dk && !(nk > nl && paddedData(dl, dk))) return false;
      if (mc.slice(ea + 2 + nl, ea + 4 + nl) !== '\r\n' || kv.slice(eb + 2 + nk, eb + 4 + nk) !== '\r\n') return mc.slice(ea) === kv.slice(eb);
      a = ea + 4 + nl;
      b = eb + 4 + nk;
      continue;
    }
    if (l !== k && !sameMetaLine(l, k, hOk)) return false;
    a = ea + 2;
    b = eb + 2;
  }
  return true;
}

function sameReply(req: string, mc: string, kv: string): boolean {
  const hOk = arithThenH(req);
  if (mc === kv || samePadded(mc, kv, hOk)) return true;
  if (mc.endsWith('<silence>') && kv.endsWith('<silence>')) return kv.startsWith(mc.slice(0, -'<silence>'.length));
  const closed = /<(closed|reset)>$/.exec(mc);
  if (!closed) return false;
  const longLine = req.split('\n').some((l) => l.length > 2048 && !/^ *gets? /.test(l));
  return longLine && (kv.startsWith(mc.slice(0, closed.index)) || samePadded(mc.slice(0, closed.index), kv, hOk, true));
}

// memcached 1.6.18 may refuse an incr/decr/ma of a number of 2^63 or more (its
// safe_strtoull looks for a '-' past the number, in slab memory: docs/kvstore.md). diff.py
// --explain replays such a batch against kvstore with probes and says whether its first
// difference is exactly that; such a batch is compared up to that command.
async function explain(args: string[], i: number, memcached: string, kvstore: string): Promise<{ explained: boolean; why: string }> {
  const rest = args.slice(2).filter((a) => a !== '--scripted');
  const argv = [args[0]!, String(i), '--explain', ...(args.includes('--scripted') ? ['--scripted'] : []), ...rest];
  const p = spawn('ip', ['netns', 'exec', dp!.netns, 'python3', DRIVER, dp!.address, '11211', ...argv], { timeout: 120_000 });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  p.stdin.end(JSON.stringify({ memcached, kvstore }));
  const code = await new Promise<number | null>((ok) => p.on('close', ok));
  if (code !== 0) throw new Error(`diff.py --explain of batch ${i}: exit ${code}: ${err}`);
  return JSON.parse(out) as { explained: boolean; why: string };
}

// Both servers driven at once (the same seeded streams); returns the commands compared.
async function compare(args: string[], timeoutMs: number): Promise<number> {
  const [want, got] = await Promise.all([drive('mc', args, timeoutMs), drive('kv', args, timeoutMs)]);
  expect(got.length).toBe(want.length);
  const differ = want.map((w, k) => ({ w, g: got[k]! })).filter(({ w, g }) => !sameReply(w.req, w.resp, g.resp));
  const bad: typeof differ = [];
  for (const d of differ) {
    const e = await explain(args, d.w.i, d.w.resp, d.g.resp);
    if (e.explained) console.log(`kvstore-diff: batch ${d.w.i} compared up to memcached 1.6.18's strtoull reading past the number: ${e.why}`);
    else bad.push(d);
  }
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
  // long run (over 10^6 commands). KV_DIFF_FIRST=<i> starts at batch i (a batch is the same
  // whatever runs before it), to replay one batch of a long run.
  it('random batches', async () => {
    const n = process.env.KV_DIFF_RANDOM ?? '200';
    const first = process.env.KV_DIFF_FIRST ? ['--first', process.env.KV_DIFF_FIRST] : [];
    const args = [process.env.KV_DIFF_SEED ?? '5', n, '--max-cmds', process.env.KV_DIFF_MAXCMDS ?? '40', ...first];
    const cmds = await compare(args, 6 * 3_600_000);
    console.log(`kvstore-diff: ${n} random batches, ${cmds} commands, all equal`);
  }, 6 * 3_600_000);
});
