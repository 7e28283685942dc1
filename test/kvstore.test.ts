// The kvstore app end to end (issue 6): Debian's libmemcached-tools, unmodified, in the
// dataplane's own namespace: memccapable's ASCII protocol conformance tests, memccp/memccat/
// memcrm storing and fetching values up to the 1 MB item limit (many frames each), memcslap
// and memcaslap for a bounded time with zero errors and verified values, with 1 and 2 cores.
//
// Each core holds its own partition (docs/kvstore.md): checks that store on one connection
// and fetch on another run with 1 core; with 2 cores every check stays within a connection.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireKvm, inCI } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane, type RunningDataplane } from './dataplane-proc.js';
import { netnsUnavailable } from '../src/net/netns.js';

const why = netnsUnavailable();
if (why && inCI) throw new Error(`kvstore end-to-end tests need network namespaces and CI=true: ${why}`);
const tools = ['memccapable', 'memccp', 'memccat', 'memcrm', 'memcslap', 'memcaslap', 'memcstat'];
const missing = tools.filter((t) => spawnSync('which', [t]).status !== 0);
if (missing.length && inCI) throw new Error(`kvstore tests need libmemcached-tools (missing: ${missing.join(', ')})`);
const run = requireKvm() && !why && missing.length === 0;
if (!run && !inCI) console.warn(`skipping kvstore end-to-end tests: ${why ?? (missing.length ? `missing ${missing.join(', ')}` : 'no /dev/kvm')}`);

const { dir, cleanup } = tempDir('ix-kvstore-');
afterAll(cleanup);
const READY = /kvstore: memcached protocol on TCP port 11211/;
// sends n pipelined gets of a stored key without waiting, counts the END lines that come back
const PIPELINE = `
import socket, sys, time
n = int(sys.argv[2]); s = socket.create_connection((sys.argv[1], 11211)); s.settimeout(30)
s.sendall(b"set pk 0 0 3\\r\\nabc\\r\\n"); assert s.recv(100) == b"STORED\\r\\n"
req = b"get pk\\r\\n" * n; s.setblocking(False); sent = ends = 0; tail = b""; t0 = time.time()
while ends < n and time.time() - t0 < 30:
    if sent < len(req):
        try: sent += s.send(req[sent:sent + 65536])
        except BlockingIOError: pass
    try: d = s.recv(1 << 20)
    except BlockingIOError: time.sleep(0.001); continue
    if not d: break
    d = tail + d; ends += d.count(b"VALUE pk 0 3\\r\\nabc\\r\\nEND\\r\\n"); tail = d[d.rfind(b"END\\r\\n") + 5:]
print(ends)
`;

function config1(): string {
  return writeConfig(
    dir,
    'kvstore1',
    `name = "kvstore1-${process.pid}"\ncores = 1\nmemory = "256M"\n[app]\npath = "${appElf('kvstore')}"\n` +
      `args = ["port=11211"]\nheap = "64M"\n[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\n`,
  );
}

function ok(dp: RunningDataplane, cmd: string, args: string[], timeoutMs = 60_000): string {
  const r = dp.exec(cmd, args, timeoutMs);
  expect(r.status, `${cmd} ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

function capable(dp: RunningDataplane): void {
  const out = ok(dp, 'memccapable', ['-a', '-h', dp.address, '-p', '11211', '-t', '5']);
  expect(out).toMatch(/All tests passed/);
}

/** memcaslap bounded by time ('2s') or by operations ('400'): values verified, no errors,
 * no misses. Runs stay far below the store's memory so that no eviction can cause a miss. */
function aslap(dp: RunningDataplane, bound: string, extra: string[] = []): Record<string, number> {
  const limit = bound.endsWith('s') ? ['-t', bound] : ['-x', bound];
  const out = ok(dp, 'memcaslap', ['-s', `${dp.address}:11211`, '-T', '2', '-c', '16', ...limit, '-v', '0.1', ...extra], 90_000);
  // errors are printed as "<fd message" lines; the summary as "name: number"
  expect(out.split('\n').filter((l) => l.startsWith('<'))).toEqual([]);
  const stats: Record<string, number> = {};
  for (const m of out.matchAll(/^(\w+): (\d+)$/gm)) stats[m[1]!] = Number(m[2]);
  expect(stats.cmd_get).toBeGreaterThan(0);
  expect(stats.cmd_set).toBeGreaterThan(0);
  expect(stats.get_misses).toBe(0);
  expect(stats.verify_failed).toBe(0);
  expect(stats.verify_misses).toBe(0);
  return stats;
}

async function stopped(dp: RunningDataplane): Promise<Record<string, unknown> | null> {
  const { code, summary } = await dp.stop();
  expect(code).toBe(0);
  expect(netnsExists(dp.netns)).toBe(false);
  return summary;
}

describe.runIf(run)('kvstore with 1 core', () => {
  it('passes memccapable, stores and fetches values up to 1 MB with memccp/memccat/memcrm, runs memcslap and memcaslap without errors', async () => {
    const dp = await startDataplane(config1(), READY);
    try {
      capable(dp);
      const files: [string, Buffer][] = [
        ['small.txt', Buffer.from('hello from the dataplane\n')],
        ['frames.bin', randomBytes(300_000)],
        ['limit.bin', randomBytes(1 << 20)], // exactly the default item limit
      ];
      for (const [name, data] of files) writeFileSync(join(dir, name), data);
      ok(dp, 'memccp', [`--servers=${dp.address}`, ...files.map(([n]) => join(dir, n))]);
      for (const [name, data] of files) {
        const out = join(dir, `${name}.out`);
        ok(dp, 'memccat', [`--servers=${dp.address}`, `--file=${out}`, name]);
        expect(readFileSync(out).equals(data), `${name} fetched back differs`).toBe(true);
      }
      // one byte over the limit is refused (SERVER_ERROR object too large), and the
      // connection goes on serving
      writeFileSync(join(dir, 'over.bin'), randomBytes((1 << 20) + 1));
      const over = dp.exec('memccp', [`--servers=${dp.address}`, join(dir, 'over.bin')]);
      expect(over.status).not.toBe(0);
      expect(over.stderr).toMatch(/TOO BIG/);
      ok(dp, 'memcrm', [`--servers=${dp.address}`, 'frames.bin']);
      expect(dp.exec('memccat', [`--servers=${dp.address}`, 'frames.bin']).status).not.toBe(0);
      ok(dp, 'memccat', [`--servers=${dp.address}`, `--file=${join(dir, 'again.out')}`, 'limit.bin']);
      expect(readFileSync(join(dir, 'again.out')).equals(files[2]![1])).toBe(true);

      for (const test of ['set', 'get', 'mget']) {
        const out = ok(dp, 'memcslap', [`--servers=${dp.address}`, '--concurrency=4', '--execute-number=1000', `--test=${test}`]);
        expect(out).toMatch(/Time total/);
      }
      // 50,000 gets pipelined in one burst: the connection pauses when its reply queue is
      // full and resumes as ACKs come, holding the client back with the TCP window
      const pipe = ok(dp, 'python3', ['-c', PIPELINE, dp.address, '50000']);
      expect(pipe.trim()).toBe('50000');
      aslap(dp, '2s');
      aslap(dp, '400', ['-X', '200000', '-c', '4']); // values of ~140 frames each
      const stat = ok(dp, 'memcstat', [`--servers=${dp.address}`]);
      expect(Number(/curr_items: (\d+)/.exec(stat)?.[1])).toBeGreaterThan(1000);
      expect(stat).toMatch(/version: 1\.6\.0/);
    } finally {
      await stopped(dp);
    }
  }, 180_000);
});

describe.runIf(run)('kvstore with 2 cores (configs/kvstore.toml)', () => {
  it('passes memccapable and runs memcaslap and memcslap over both cores without errors', async () => {
    const dp = await startDataplane(resolve('configs/kvstore.toml'), READY);
    let summary: Record<string, unknown> | null = null;
    try {
      capable(dp);
      aslap(dp, '3s');
      aslap(dp, '800', ['-X', '100000', '-c', '8']);
      ok(dp, 'memcslap', [`--servers=${dp.address}`, '--concurrency=8', '--execute-number=1000', '--test=set']);
    } finally {
      summary = await stopped(dp);
    }
    // RSS put memcaslap's connections on both cores, and both served them
    const perCore = (summary!.cores as { rxFrames: number }[]).map((c) => c.rxFrames);
    expect(perCore).toHaveLength(2);
    for (const n of perCore) expect(n).toBeGreaterThan(1000);
  }, 180_000);
});
