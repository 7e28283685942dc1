/**
 * `node dist/bench/xdp-profile.js [conns] [seconds] [schedSliceUs]`: where the time of an echo
 * over the guest-polled AF_XDP rings goes (docs/nic.md, "Where the time goes"). Not a test.
 * The echo dataplane (one core on CPU 0, `xdp_rings = "guest"`) on a veth pair of its own,
 * `echoload` with `conns` connections on CPU 1 (the e2e bench's layout); around the load it
 * reads the dataplane's counters (`ix stats`: the guest core's, raw, and the kick thread's
 * queue counters) and every thread's scheduler statistics (/proc/<pid>/task/<tid>/schedstat:
 * time run and time runnable but waiting for a CPU; voluntary and involuntary switches), and
 * prints them per round trip and per RX batch.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT, appElf } from '../control/paths.js';
import { createXdpLink } from '../testing/xdp-link.js';
import { startIx, writeIxConfig, type RunningIx } from './e2e-ix.js';
import { E2eBenchError, buildE2eTools, runClient } from './e2e-proc.js';
import { parseEchoLoad } from './e2e-parse.js';

interface ThreadStat { comm: string; runNs: number; waitNs: number; slices: number; vol: number; inv: number; cpu: number }

/** Scheduler statistics of every thread of pid (threads that exit meanwhile are left out). */
export function threadStats(pid: number): Map<string, ThreadStat> {
  const out = new Map<string, ThreadStat>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const dir = `/proc/${pid}/task/${t}`;
      const [runNs, waitNs, slices] = readFileSync(`${dir}/schedstat`, 'utf8').trim().split(' ').map(Number);
      const status = readFileSync(`${dir}/status`, 'utf8');
      const stat = readFileSync(`${dir}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(t, {
        comm: readFileSync(`${dir}/comm`, 'utf8').trim(),
        runNs: runNs!, waitNs: waitNs!, slices: slices!,
        vol: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0),
        inv: Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0),
        cpu: Number(fields[36]), // field 39 of stat: the CPU it last ran on
      });
    } catch {
      // the thread exited
    }
  }
  return out;
}

/** Raw counters of `ix stats --prometheus NAME` (name{labels} → value). */
function promCounters(name: string): Map<string, number> {
  const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'ix.js'), 'stats', '--prometheus', name], { encoding: 'utf8', timeout: 10_000 });
  const m = new Map<string, number>();
  for (const l of (r.stdout ?? '').split('\n')) {
    if (!l || l.startsWith('#')) continue;
    const i = l.lastIndexOf(' ');
    m.set(l.slice(0, i).replace(/\{.*\}/, (x) => (x.includes('size=') ? `{${/size="([^"]+)"/.exec(x)![1]}}` : '')), Number(l.slice(i + 1)));
  }
  return m;
}

/** The kick thread's queue counters (`ix stats --json`: nicCounters of queue 0). */
function queueCounters(name: string): Record<string, number> {
  const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'ix.js'), 'stats', '--json', name], { encoding: 'utf8', timeout: 10_000 });
  try {
    const j = JSON.parse((r.stdout ?? '').trim().split('\n').pop() ?? '') as { nicCounters?: Record<string, number>[] | null };
    return j.nicCounters?.[0] ?? {};
  } catch {
    return {};
  }
}

export async function profileXdpEcho(conns: number, seconds: number, schedSliceUs?: number): Promise<string[]> {
  const tools = buildE2eTools();
  const link = createXdpLink({ queues: 1, tag: 'xprof' });
  const dir = mkdtempSync(join(tmpdir(), 'ix-xdp-profile-'));
  const app = { name: 'xprofecho', elf: appElf('echo'), args: ['7'], ports: [7], heap: '32M' };
  const xdp = { ifname: link.ifname, address: link.dpAddr, dpNetns: link.dp.name, clientNetns: link.client.name };
  let dp: RunningIx | undefined;
  try {
    dp = await startIx(writeIxConfig(dir, app, [0], undefined, xdp, schedSliceUs !== undefined ? { schedSliceUs } : {}), 7, 30_000, xdp);
    const pid = dp.proc.pid!;
    const load0 = loadavg()[0]!;
    const [c0, q0, t0] = [promCounters(app.name), queueCounters(app.name), threadStats(pid)];
    const r = await runClient(link.client.name, [1], tools.echoload, ['-a', link.dpAddr, '-p', '7', '-c', String(conns), '-s', '64', '-d', String(seconds), '-w', '0.5'], (seconds + 30) * 1000);
    const [c1, q1, t1] = [promCounters(app.name), queueCounters(app.name), threadStats(pid)];
    const echo = parseEchoLoad(r.stdout + r.stderr);
    const d = (k: string) => (c1.get(k) ?? 0) - (c0.get(k) ?? 0);
    const dq = (k: string) => (q1[k] ?? 0) - (q0[k] ?? 0);
    const frames = d('ix_rx_frames_total');
    const batches = [...c1.keys()].filter((k) => k.startsWith('ix_rx_batches_total{') && k !== 'ix_rx_batches_total{0}').reduce((s, k) => s + d(k), 0);
    const per = (v: number, n: number) => (n > 0 ? (v / n).toFixed(2) : '-');
    const lines = [
      `echo over AF_XDP guest rings, ${conns} connections, ${seconds} s: ${echo.rps.toFixed(0)} round trips/s (p50 ${echo.p50_us.toFixed(0)} µs, p99 ${echo.p99_us.toFixed(0)} µs); load ${load0.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)}`,
      `counter                      total     per frame   per RX batch`,
    ];
    const row = (label: string, v: number) => lines.push(`${label.padEnd(24)} ${String(v).padStart(10)}  ${per(v, frames).padStart(10)}  ${per(v, batches).padStart(12)}`);
    row('RX frames (guest)', frames);
    row('non-empty RX batches', batches);
    row('TX frames (guest)', d('ix_tx_frames_total'));
    row('sendto (tx_kicks)', dq('tx_kicks'));
    row('cores woken (wakeups)', dq('wakeups'));
    row('halts', d('ix_halts_total'));
    row('ix_bpoll crossings', d('ix_bpolls_total'));
    row('app calls', d('ix_calls_total'));
    row('dataplane loop passes', d('ix_loops_total'));
    lines.push(`thread (busiest first)   last CPU    run ms   waited ms   slices   µs waited/slice   sleeps   preempted`);
    const threads = [...t1.entries()]
      .map(([tid, a]) => {
        const b = t0.get(tid);
        return b ? { tid, a, run: (a.runNs - b.runNs) / 1e6, wait: (a.waitNs - b.waitNs) / 1e6, slices: a.slices - b.slices, vol: a.vol - b.vol, inv: a.inv - b.inv } : null;
      })
      .filter((x): x is NonNullable<typeof x> => x !== null && x.run >= 5)
      .sort((x, y) => y.run - x.run);
    for (const x of threads)
      lines.push(`${`${x.tid} ${x.a.comm}`.padEnd(24)} ${String(x.a.cpu).padStart(8)}  ${x.run.toFixed(0).padStart(8)}  ${x.wait.toFixed(0).padStart(10)}  ${String(x.slices).padStart(7)}  ${per(x.wait * 1000, x.slices).padStart(16)}  ${String(x.vol).padStart(7)}  ${String(x.inv).padStart(10)}`);
    return lines;
  } finally {
    if (dp) await dp.stop();
    link.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [conns, seconds, slice] = [Number(process.argv[2] ?? 16), Number(process.argv[3] ?? 3), process.argv[4]];
  if (!Number.isInteger(conns) || conns < 1 || !Number.isFinite(seconds) || seconds < 1 || (slice !== undefined && !/^\d+$/.test(slice)))
    throw new E2eBenchError('usage: node dist/bench/xdp-profile.js [conns >= 1] [seconds >= 1] [schedSliceUs]');
  for (const l of await profileXdpEcho(conns, seconds, slice !== undefined ? Number(slice) : undefined)) console.log(l);
}
