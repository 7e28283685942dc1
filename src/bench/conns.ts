/**
 * `npm run bench -- conns`: connections at scale (docs/scale.md). The echo dataplane on 2
 * cores and a Linux epoll echo server each hold N concurrent connections opened by
 * bench/e2e/connload from 40 source addresses, for N = a low count (the peak) and 1k, 10k,
 * 100k, 250k by default; at every N the same number of messages (256) stays in flight over a
 * subset that rotates through all N connections, so throughput and p99 show what holding N
 * connections costs per packet. Every connection also echoes once (checked) and closes.
 *   options: --counts=1000,10000 (the counts besides the low one) --seconds=N (load per count, 5)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../control/paths.js';
import { buildE2eTools, E2eBenchError, LinuxLink, runClient, startServer, type BgServer } from './e2e-proc.js';
import { startIx, IX_ADDRESS } from './e2e-ix.js';
import { textTable } from './report-tables.js';

export class ConnsBenchError extends Error {
  override name = 'ConnsBenchError';
}

/** connload's result line */
export interface ConnloadResult {
  conns: number;
  workers: number;
  opened: number;
  open_s: number;
  verified: number;
  active: number;
  load_s: number;
  rtts: number;
  rtt_per_s: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  closed: number;
  errors: number;
  corrupt: number;
}

export interface ConnsRow {
  side: 'ix' | 'linux';
  conns: number;
  /** null when the run failed (then `error` says why) */
  result: ConnloadResult | null;
  error?: string;
  /** rtt_per_s / the same side's rtt_per_s at the lowest count */
  vsPeak?: number;
  /** ix only: the dataplane cores' busy TSC cycles per received frame over the whole run
   * (handshakes, echoes, closes; the app's time included), from `ix stats` before and after */
  cyclesPerFrame?: number;
  /** ix only: connections the guest still held 60 s after the client closed (0: all freed) */
  leftover?: number;
}

export interface ConnsBenchResult {
  counts: number[];
  inFlight: number;
  seconds: number;
  sources: number;
  ixCores: number;
  ixMaxConnsPerCore: number;
  linuxServers: number;
  rows: ConnsRow[];
}

const IX_NAME = 'bench-conns';
const LOW = 256;
const IN_FLIGHT = 256;
const SOURCES = 40; // the guest's ARP cache keeps 64 neighbours
const PORT = 7;
/** the echo app's state per connection: an ixev context with its 256-entry send queue */
const ECHO_APP_BYTES_PER_CONN = 4200;

export function connsOptionsFromArgs(args: string[]): { counts: number[]; seconds: number } {
  const val = (n: string) => args.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3);
  const counts = (val('counts') ?? '1000,10000,100000,250000').split(',').map(Number);
  const seconds = Number(val('seconds') ?? 5);
  if (counts.some((c) => !Number.isInteger(c) || c < 1 || c > 1_000_000) || !(seconds > 0 && seconds <= 600))
    throw new ConnsBenchError('bench conns: --counts must be integers from 1 to 1000000, --seconds from 1 to 600');
  return { counts, seconds };
}

function parseConnload(stdout: string): ConnloadResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ConnloadResult;
  } catch {
    throw new ConnsBenchError(`connload printed no result line: ${stdout.slice(-500)}`);
  }
}

async function measure(side: 'ix' | 'linux', netns: string, connload: string, address: string, firstSrc: string, n: number, seconds: number): Promise<ConnsRow> {
  const args = ['-a', address, '-p', String(PORT), '-c', String(n), '-A', firstSrc, '-k', String(SOURCES), '-d', String(seconds), '-r', String(IN_FLIGHT), '-P', '512', '-t', '180'];
  const r = await runClient(netns, [], connload, args, 1_200_000);
  try {
    const res = parseConnload(r.stdout);
    const ok = r.status === 0;
    return { side, conns: n, result: res, ...(ok ? {} : { error: `connload exit ${r.status}: ${r.stderr.split('\n').slice(0, 3).join('; ')}` }) };
  } catch (e) {
    return { side, conns: n, result: null, error: `${(e as Error).message} ${r.stderr.slice(-300)}` };
  }
}

function addSources(netns: string, dev: string, prefix: string, first: number): void {
  for (let i = 0; i < SOURCES; i++) {
    const r = spawnSync('ip', ['netns', 'exec', netns, 'ip', 'addr', 'add', `${prefix}${first + i}/24`, 'dev', dev], { encoding: 'utf8' });
    if (r.status !== 0) throw new ConnsBenchError(`adding source address ${prefix}${first + i} in namespace ${netns}: ${r.stderr}`);
  }
}

/** The dataplane's summed busy cycles and received frames (`ix stats NAME --json`). */
function ixCounters(name: string): { busy: number; rx: number; conns: number } | null {
  const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'ix.js'), 'stats', name, '--json'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return null;
  const c = (JSON.parse(r.stdout) as { counters: { busyCycles: number; rxFrames: number; tcpConns: number }[] }).counters;
  return { busy: c.reduce((a, x) => a + x.busyCycles, 0), rx: c.reduce((a, x) => a + x.rxFrames, 0), conns: c.reduce((a, x) => a + x.tcpConns, 0) };
}

/** Wait (at most 60 s) until the guest holds no connection, so one count's stragglers (a
 * close retransmitted after a loss) do not eat the next count's budget. Returns what is left. */
async function drained(name: string): Promise<number> {
  let left = ixCounters(name)?.conns ?? -1;
  for (let t = 0; t < 120 && left !== 0; t++) {
    await new Promise((res) => setTimeout(res, 500));
    left = ixCounters(name)?.conns ?? -1;
  }
  return left;
}

function hardFileLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) && n > 1000 ? n : 1_048_576;
}

async function ixSide(connload: string, counts: number[], seconds: number, rows: ConnsRow[], dir: string): Promise<number> {
  const max = Math.max(...counts, LOW);
  // 2 cores; RSS gives each about half, the rest is room for the imbalance
  const perCore = Math.max(8192, Math.ceil((max / 2) * 1.1));
  const heapMiB = Math.ceil((perCore * ECHO_APP_BYTES_PER_CONN) / (1 << 20)) + 4;
  const memMiB = 16 + 2 * (heapMiB + 8 + Math.ceil(perCore / 1024)) + 64;
  const cfg = join(dir, 'conns-ix.toml');
  writeFileSync(
    cfg,
    `name = "${IX_NAME}"\ncores = 2\nmemory = "${memMiB}M"\n[app]\npath = ${JSON.stringify(join(PACKAGE_ROOT, 'guest', 'build', 'apps', 'echo.elf'))}\nargs = ["${PORT}"]\n` +
      `heap = "${heapMiB}M"\n[nic]\nnamespace = true\naddress = "${IX_ADDRESS}/24"\ngateway = "10.10.0.1"\n[net]\nmax_connections = ${perCore}\n`,
  );
  const ix = await startIx(cfg, PORT, 60_000);
  try {
    const dev = /^\d+: (\S+)\s+inet 10\.10\.0\.1\//m.exec(spawnSync('ip', ['netns', 'exec', ix.netns, 'ip', '-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).stdout)?.[1];
    if (!dev) throw new ConnsBenchError(`no interface with 10.10.0.1 in the dataplane's namespace ${ix.netns}`);
    addSources(ix.netns, dev, '10.10.0.', 100);
    for (const n of [LOW, ...counts]) {
      const before = ixCounters(IX_NAME);
      const row = await measure('ix', ix.netns, connload, ix.address, '10.10.0.100', n, seconds);
      const after = ixCounters(IX_NAME);
      if (before && after && after.rx > before.rx) row.cyclesPerFrame = Math.round((after.busy - before.busy) / (after.rx - before.rx));
      row.leftover = await drained(IX_NAME);
      rows.push(row);
      console.error(`bench conns: ix ${n}: ${row.result ? `${row.result.rtt_per_s.toFixed(0)} round trips/s, p99 ${row.result.p99_us} µs` : row.error}`);
    }
  } finally {
    await ix.stop();
  }
  return perCore;
}

async function linuxSide(tools: { epollEcho: string; connload: string }, counts: number[], seconds: number, rows: ConnsRow[]): Promise<number> {
  const max = Math.max(...counts, LOW);
  // one process holds at most its open file limit: as many SO_REUSEPORT servers as needed
  const perServer = hardFileLimit() - 100;
  const nServers = Math.max(1, Math.ceil((max * 1.3) / perServer));
  const link = new LinuxLink();
  const servers: BgServer[] = [];
  try {
    for (let i = 0; i < nServers; i++) servers.push(await startServer(link.srv.name, [], tools.epollEcho, [String(PORT), '1'], PORT));
    // every listener bound before the load (the first one alone could not hold the count)
    const listeners = () => spawnSync('ip', ['netns', 'exec', link.srv.name, 'ss', '-Hltn', `sport = :${PORT}`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length;
    for (let t = 0; listeners() < nServers; t++) {
      if (t > 100) throw new ConnsBenchError(`only ${listeners()} of ${nServers} epoll_echo listeners came up`);
      await new Promise((res) => setTimeout(res, 50));
    }
    addSources(link.cli.name, 'ixe2e1', '10.77.0.', 100);
    for (const n of [LOW, ...counts]) {
      const row = await measure('linux', link.cli.name, tools.connload, link.serverAddress, '10.77.0.100', n, seconds);
      rows.push(row);
      console.error(`bench conns: linux ${n}: ${row.result ? `${row.result.rtt_per_s.toFixed(0)} round trips/s, p99 ${row.result.p99_us} µs` : row.error}`);
    }
  } finally {
    for (const s of servers) await s.stop();
    link.remove();
  }
  return nServers;
}

export async function runConnsBench(o: { counts: number[]; seconds: number }): Promise<ConnsBenchResult> {
  const tools = buildE2eTools();
  const dir = mkdtempSync(join(tmpdir(), 'ix-bench-conns-'));
  const rows: ConnsRow[] = [];
  try {
    const perCore = await ixSide(tools.connload, o.counts, o.seconds, rows, dir);
    const nServers = await linuxSide(tools, o.counts, o.seconds, rows);
    for (const side of ['ix', 'linux'] as const) {
      const peak = rows.find((r) => r.side === side && r.conns === LOW)?.result?.rtt_per_s;
      for (const r of rows) if (r.side === side && r.result && peak) r.vsPeak = r.result.rtt_per_s / peak;
    }
    return { counts: [LOW, ...o.counts], inFlight: IN_FLIGHT, seconds: o.seconds, sources: SOURCES, ixCores: 2, ixMaxConnsPerCore: perCore, linuxServers: nServers, rows };
  } catch (e) {
    if (e instanceof E2eBenchError || e instanceof ConnsBenchError) throw e;
    throw new ConnsBenchError(`bench conns failed: ${(e as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printConnsBench(r: ConnsBenchResult): void {
  console.log(`\nConnections at scale: ${r.inFlight} messages in flight over a rotating subset, ${r.seconds} s per count, ${r.sources} source addresses`);
  console.log(`ix: echo app on ${r.ixCores} cores, max_connections ${r.ixMaxConnsPerCore} per core; Linux: ${r.linuxServers} epoll_echo processes (SO_REUSEPORT)\n`);
  const cells = r.rows.map((row) => {
    const x = row.result;
    if (!x) return [row.side, String(row.conns), '-', '-', '-', '-', '-', '-', '-'];
    return [row.side, String(row.conns), x.open_s.toFixed(1), x.rtt_per_s.toFixed(0), (row.vsPeak ?? 0).toFixed(2), x.p50_us.toFixed(0), x.p99_us.toFixed(0), String(x.errors + x.corrupt), row.cyclesPerFrame !== undefined ? String(row.cyclesPerFrame) : '-'];
  });
  const notes = r.rows.map((row) => (row.result ? row.error : `failed: ${row.error ?? 'no result'}`));
  for (const line of textTable(['side', 'conns', 'open s', 'round trips/s', 'vs peak', 'p50 µs', 'p99 µs', 'errors', 'cycles/frame'], cells, notes)) console.log(line);
}
