// Network-stack RTT benchmark (not a test): TCP echo round-trip time, 64-byte messages, one
// connection, one message in flight, measured side by side in one run for
//   harness  the stack (guest/net) in the host harness behind a TAP device in a namespace,
//            serving --tcp-echo; the client is Linux's TCP in the same namespace
//   linux    Linux's own TCP: a C echo server and the same client in two namespaces joined
//            by a veth pair
// The client (bench/net/pingpong.c) and the Linux server (bench/net/echo_srv.c) are C so
// that interpreter overhead does not hide the difference. Runs alternate between the two
// paths for `repeats` rounds so slow periods of the shared host hit both alike; the table
// shows the median of each statistic over the repeats.
//
//   const r = await runNetBench({ rounds: 20000 }); printNetBench(r);
import type { BenchResult } from './result.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Netns, netnsUnavailable } from '../nic/netns.js';

export interface NetBenchOptions {
  /** round trips per measurement (after 1000 warm-up round trips) */
  rounds?: number;
  /** message size in bytes */
  size?: number;
  /** measurements per path, alternating between paths */
  repeats?: number;
  log?: (msg: string) => void;
}

export type NetBenchPath = 'harness' | 'linux';

export interface PingPongResult {
  rounds: number;
  size: number;
  mismatches: number;
  min_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  mean_us: number;
}

export interface NetBenchRow {
  path: NetBenchPath;
  description: string;
  min_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  mean_us: number;
}

export type NetBenchResult = BenchResult<NetBenchOptions, NetBenchRow, PingPongResult, NetBenchPath>;

export class NetBenchError extends Error {
  override name = 'NetBenchError';
}

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HARNESS = path.join(REPO, 'guest/test/net/build/harness');
const TOOLS = path.join(REPO, 'bench/net/build');

const DESCRIPTION: Record<NetBenchPath, string> = {
  harness: 'stack in the host harness, TAP in a namespace (Linux client -> TAP -> harness echo)',
  linux: 'Linux TCP echo over a veth pair between two namespaces',
};

function make(dir: string, target?: string): void {
  const r = spawnSync('make', ['-s', '-C', dir, ...(target ? [target] : [])], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new NetBenchError(`make -C ${dir} ${target ?? ''} failed: ${r.stderr || r.error?.message}`);
}

/** Spawn `cmd args` inside ns and wait until its stdout matches `ready`. */
async function startIn(ns: Netns, cmd: string, args: string[], ready: RegExp, what: string): Promise<ChildProcess> {
  const p = spawn('ip', ['netns', 'exec', ns.name, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  p.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const deadline = Date.now() + 10_000;
  while (!ready.test(out)) {
    if (p.exitCode !== null || p.signalCode !== null)
      throw new NetBenchError(`${what} exited before it was ready (code ${p.exitCode}): ${err.trim()}`);
    if (Date.now() > deadline) {
      p.kill('SIGKILL');
      throw new NetBenchError(`${what} not ready after 10 s: ${err.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return p;
}

function pingpong(ns: Netns, host: string, port: number, rounds: number, size: number): PingPongResult {
  const out = ns.exec(path.join(TOOLS, 'pingpong'), [host, String(port), String(rounds), String(size)], 120_000);
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as PingPongResult;
  if (r.mismatches !== 0) throw new NetBenchError(`pingpong to ${host}:${port}: ${r.mismatches} echoes differed from what was sent`);
  return r;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

export async function runNetBench(opts: NetBenchOptions = {}): Promise<NetBenchResult> {
  const o = { rounds: opts.rounds ?? 20_000, size: opts.size ?? 64, repeats: opts.repeats ?? 3 };
  const log = opts.log ?? ((m: string) => console.error(m));
  const why = netnsUnavailable();
  if (why) throw new NetBenchError(`the network benchmark needs namespaces and a TAP device: ${why}`);
  make(path.join(REPO, 'guest/test/net'), 'build/harness');
  make(path.join(REPO, 'bench/net'));

  const namespaces: Netns[] = [];
  const procs: ChildProcess[] = [];
  const raw: Record<NetBenchPath, PingPongResult[]> = { harness: [], linux: [] };
  try {
    // harness: the stack at 10.93.0.2 behind TAP ixnb0; Linux's side 10.93.0.1
    const nsH = new Netns('netbench');
    namespaces.push(nsH);
    procs.push(
      await startIn(nsH, HARNESS, ['--tap', 'ixnb0', '--addr', '10.93.0.2/24', '--peer-addr', '10.93.0.1', '--tcp-echo', '7'], /^ready /m, 'harness'),
    );
    // linux: echo server in nsA (10.94.0.1), client in nsB (10.94.0.2), veth between them
    const nsA = new Netns('netbencha');
    const nsB = new Netns('netbenchb');
    namespaces.push(nsA, nsB);
    nsA.ip('link', 'add', 'ixnbv0', 'type', 'veth', 'peer', 'name', 'ixnbv1', 'netns', nsB.name);
    nsA.ip('addr', 'add', '10.94.0.1/24', 'dev', 'ixnbv0');
    nsB.ip('addr', 'add', '10.94.0.2/24', 'dev', 'ixnbv1');
    nsA.ip('link', 'set', 'ixnbv0', 'up');
    nsB.ip('link', 'set', 'ixnbv1', 'up');
    procs.push(await startIn(nsA, path.join(TOOLS, 'echo_srv'), ['10.94.0.1', '7', String(o.repeats)], /listening/, 'echo_srv'));

    for (let i = 0; i < o.repeats; i++) {
      log(`net bench: round ${i + 1}/${o.repeats}: harness`);
      raw.harness.push(pingpong(nsH, '10.93.0.2', 7, o.rounds, o.size));
      log(`net bench: round ${i + 1}/${o.repeats}: linux`);
      raw.linux.push(pingpong(nsB, '10.94.0.1', 7, o.rounds, o.size));
    }
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    for (const ns of namespaces) ns.remove();
  }
  const rows = (['harness', 'linux'] as const).map((p): NetBenchRow => {
    const rs = raw[p];
    return {
      path: p,
      description: DESCRIPTION[p],
      min_us: median(rs.map((r) => r.min_us)),
      p50_us: median(rs.map((r) => r.p50_us)),
      p90_us: median(rs.map((r) => r.p90_us)),
      p99_us: median(rs.map((r) => r.p99_us)),
      mean_us: median(rs.map((r) => r.mean_us)),
    };
  });
  return { options: o, rows, raw };
}

export function printNetBench(r: NetBenchResult): void {
  const { rounds, size, repeats } = r.options;
  console.log(`\nTCP echo round trip, ${size} B, 1 connection, 1 in flight, ${rounds} round trips x ${repeats} (median of repeats), microseconds`);
  const head = ['path', 'min', 'p50', 'p90', 'p99', 'mean'];
  const lines = r.rows.map((x) => [x.path, x.min_us, x.p50_us, x.p90_us, x.p99_us, x.mean_us].map((v) => (typeof v === 'number' ? v.toFixed(1) : v)));
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  console.log(fmt(head));
  for (const l of lines) console.log(fmt(l.map(String)));
  for (const x of r.rows) console.log(`  ${x.path}: ${x.description}`);
  const h = r.rows.find((x) => x.path === 'harness');
  const l = r.rows.find((x) => x.path === 'linux');
  if (h && l) console.log(`  harness p50 / linux p50 = ${(h.p50_us / l.p50_us).toFixed(2)}`);
}
