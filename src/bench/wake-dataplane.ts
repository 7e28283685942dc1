/**
 * `npm run bench -- wake`, dataplane part (docs/wake.md): round trips at sparse traffic, so
 * that the dataplane core has halted before each request. One TCP connection, one request
 * every 1, 10 and 50 ms (test/fixtures/e2e/echo_client.py sparse: random sizes, every byte checked, RTT
 * measured by the client around send + receive) against
 *   - the echo app with wake = "kernel" (in-kernel LAPIC, irqfd from the NIC backend),
 *   - the same with halt_poll_us = 200 (KVM polls 200 µs before it blocks the halted vCPU),
 *   - the echo app with wake = "user" (the halt exits to the vCPU worker),
 *   - the echo app polling (idle_poll_us = 1 s: it never halts),
 *   - Linux: the epoll echo server (bench/e2e/epoll_echo.c) over a veth pair.
 * Every side gets the same client; the differences are the server's wake-up path.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT, appElf } from '../control/paths.js';
import { E2eBenchError, LinuxLink, buildE2eTools, runClient, startServer } from './e2e-proc.js';
import { startIx, IX_ADDRESS } from './e2e-ix.js';

export type WakeSide = 'ix wake=kernel' | 'ix kernel+hpoll' | 'ix wake=user' | 'ix polling' | 'linux';

export interface WakeDpRow {
  side: WakeSide;
  gapMs: number;
  count: number;
  ok: number;
  rttUs: { min: number; p50: number; p90: number; p99: number } | null;
  /** the dataplane core's idle halts and in-kernel wake interrupts over the whole run of this side (ix only) */
  halts?: number;
  irqNic?: number;
  error?: string;
}

export interface WakeDpResult {
  platform: string;
  load1Start: number;
  load1End: number;
  rows: WakeDpRow[];
}

const PORT = 7;
/** the e2e tests' echo client; its `sparse` series: random sizes, every byte checked, RTT percentiles */
const CLIENT = join(PACKAGE_ROOT, 'test', 'fixtures', 'e2e', 'echo_client.py');
/** requests per gap: about 1-3 s each */
const GAPS: [number, number][] = [
  [1, 1000],
  [10, 200],
  [50, 60],
];

function echoConfig(dir: string, name: string, extra: string): string {
  const p = join(dir, `${name}.toml`);
  writeFileSync(
    p,
    `name = "${name}"\ncores = 1\nmemory = "128M"\n${extra}\n[app]\npath = ${JSON.stringify(appElf('echo'))}\nargs = ["${PORT}"]\nheap = "16M"\nports = [${PORT}]\n` +
      `[nic]\nnamespace = true\naddress = "${IX_ADDRESS}/24"\ngateway = "10.10.0.1"\n`,
  );
  return p;
}

async function gaps(side: WakeSide, netns: string, address: string, log: (s: string) => void): Promise<WakeDpRow[]> {
  const rows: WakeDpRow[] = [];
  for (const [gapMs, count] of GAPS) {
    const r = await runClient(netns, [], 'python3', [CLIENT, address, String(PORT), 'sparse', String(count), String(gapMs)], count * (gapMs + 50) + 30_000);
    let row: WakeDpRow;
    try {
      const j = JSON.parse(r.stdout) as { ok: number; rtt_us: WakeDpRow['rttUs']; bad: unknown };
      row = { side, gapMs, count, ok: j.ok, rttUs: j.rtt_us, ...(j.bad ? { error: `echo mismatch: ${JSON.stringify(j.bad)}` } : {}) };
    } catch {
      row = { side, gapMs, count, ok: 0, rttUs: null, error: `client failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').pop()}` };
    }
    log(`  ${side.padEnd(15)} every ${String(gapMs).padStart(2)} ms: ${row.rttUs ? `RTT µs min ${row.rttUs.min} p50 ${row.rttUs.p50} p90 ${row.rttUs.p90} p99 ${row.rttUs.p99}` : row.error}`);
    rows.push(row);
  }
  return rows;
}

export async function runWakeDataplaneBench(log: (s: string) => void = (s) => console.error(s)): Promise<WakeDpResult> {
  if (spawnSync('python3', ['--version']).status !== 0) throw new E2eBenchError('the wake bench needs python3 (the sparse echo client)');
  const tools = buildE2eTools();
  const dir = mkdtempSync(join(tmpdir(), 'ix-bench-wake-'));
  const load1Start = loadavg()[0]!;
  const rows: WakeDpRow[] = [];
  let platform = 'unknown';
  const sides: [WakeSide, string][] = [
    ['ix wake=kernel', 'wake = "kernel"\nidle_poll_us = 0'],
    ['ix kernel+hpoll', 'wake = "kernel"\nidle_poll_us = 0\nhalt_poll_us = 200'],
    ['ix wake=user', 'wake = "user"\nidle_poll_us = 0'],
    ['ix polling', 'idle_poll_us = 1000000'],
  ];
  try {
    for (const [side, extra] of sides) {
      const dp = await startIx(echoConfig(dir, `benchwake${side.replace(/[^a-z]/g, '').slice(2, 12)}`, extra), PORT);
      let got: WakeDpRow[] = [];
      try {
        got = await gaps(side, dp.netns, dp.address, log);
      } finally {
        const { summary } = await dp.stop();
        platform = String(summary?.platform ?? platform);
        const core = (summary?.cores as { halts?: number; irqNic?: number }[] | undefined)?.[0];
        for (const g of got) rows.push({ ...g, halts: core?.halts, irqNic: core?.irqNic });
      }
    }
    const link = new LinuxLink();
    try {
      const srv = await startServer(link.srv.name, [], tools.epollEcho, [String(PORT), '1'], PORT);
      try {
        rows.push(...(await gaps('linux', link.cli.name, link.serverAddress, log)));
      } finally {
        await srv.stop();
      }
    } finally {
      link.remove();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { platform, load1Start: Math.round(load1Start * 100) / 100, load1End: Math.round(loadavg()[0]! * 100) / 100, rows };
}

export function printWakeDataplaneBench(r: WakeDpResult): void {
  console.log(`sparse round trips (one TCP connection, random 1-1400 B, every byte checked), platform ${r.platform}, load average ${r.load1Start} -> ${r.load1End}`);
  console.log('side             every ms  count   min µs   p50 µs   p90 µs   p99 µs  core halts  NIC irqs');
  for (const w of r.rows) {
    const t = w.rttUs;
    console.log(
      `${w.side.padEnd(15)}  ${String(w.gapMs).padStart(8)}  ${`${w.ok}/${w.count}`.padStart(9)}  ` +
        (t ? `${[t.min, t.p50, t.p90, t.p99].map((v) => String(v).padStart(7)).join('  ')}` : `${w.error}`) +
        `  ${String(w.halts ?? '-').padStart(10)}  ${String(w.irqNic ?? '-').padStart(8)}`,
    );
  }
}
