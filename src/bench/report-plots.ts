/**
 * What the report draws and compares for each kind of benchmark result, read from the
 * result shapes the benches write (trap.ts, boundary.ts, nic.ts, net.ts, e2e.ts) and an
 * `elastic` timeline when a run carries one. Latency CDFs are drawn from the percentiles the
 * tools report (p50, p90, p99, p99.9, max), not from every sample.
 */
import type { BoundaryBenchResult } from './boundary.js';
import type { ConnsBenchResult } from './conns.js';
import type { E2eResult } from './e2e.js';
import type { EchoLoadResult, RttResult } from './e2e-parse.js';
import type { NetBenchResult } from './net.js';
import type { NicBenchResult } from './nic.js';
import { VETH_CONFIGS } from './nic-options.js';
import { med, type Metric, type RunRecord } from './report-history.js';
import { barChart, lineChart, type LineSeries } from './report-svg.js';
import type { TrapBenchResult } from './trap.js';
import type { WakeBenchRow } from './wake.js';
import type { WakeDpResult } from './wake-dataplane.js';

export interface Plot {
  /** file name inside the report directory */
  file: string;
  title: string;
  svg: string;
}

/** elastic runs: one point per interval (optional; drawn when a result carries it) */
export interface ElasticResult {
  platform?: string;
  timeline: { t_s: number; cores: number; rps: number; p99_us: number }[];
}

const range = (xs: number[]): [number, number] | undefined => (xs.length > 1 ? [Math.min(...xs), Math.max(...xs)] : undefined);

export function caption(r: RunRecord, what: string): string {
  const when = r.time.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const load = r.load1 !== undefined && r.kind !== 'e2e' ? `, load ${r.load1.toFixed(1)}` : '';
  return `${what} · platform ${r.platform} · ${r.host.name} (${r.host.cpus} CPUs${load}) · ${when}${r.commit ? ` · ${r.commit}` : ''}`;
}

/**
 * CDFs are drawn on a "nines" axis (y = -log10(1 - q)): p50, p90, p99 and p99.9 are evenly
 * spaced, so the tail is visible; the maximum sits one step above p99.9.
 */
const MAX_NINES = 4;
const nines = (q: number): number => (q >= 1 ? MAX_NINES : -Math.log10(1 - q));
const NINES_TICKS: [number, string][] = [[0, 'min'], [nines(0.5), 'p50'], [1, 'p90'], [2, 'p99'], [3, 'p99.9'], [MAX_NINES, 'max']];

/** CDF points from reported percentiles */
function cdf(name: string, pts: [number, number | undefined][]): LineSeries {
  return { name, step: false, points: pts.filter((p): p is [number, number] => typeof p[1] === 'number' && p[1] > 0).map(([q, v]) => [v, nines(q)]) };
}
const CDF_OPTS = { xLog: true, yMin: 0, yMax: MAX_NINES, yTicks: NINES_TICKS };

const rttCdf = (name: string, rs: RttResult[]) =>
  cdf(name, [
    [0.5, med(rs.map((r) => r.p50_us))],
    [0.99, med(rs.map((r) => r.p99_us))],
    [0.999, med(rs.map((r) => r.p999_us))],
    [1, med(rs.map((r) => r.max_us))],
  ]);
const echoCdf = (name: string, rs: EchoLoadResult[]) =>
  cdf(name, [
    [0.5, med(rs.map((r) => r.p50_us))],
    [0.9, med(rs.map((r) => r.p90_us))],
    [0.99, med(rs.map((r) => r.p99_us))],
    [0.999, med(rs.map((r) => r.p999_us))],
  ]);

const CDF_AXES = { xLabel: 'latency, µs (log)', yLabel: 'percentile (points: reported by the tool)' };

export function plotsFor(r: RunRecord): Plot[] {
  switch (r.kind) {
    case 'trap': {
      const t = r.result as TrapBenchResult;
      const groups = t.perCall.map((p) => `batch ${p.batch}`);
      return [
        {
          file: 'trap-cost.svg',
          title: 'Cost of one batched call',
          svg: barChart(
            { title: 'Cost of one batched call (µs per call, log)', caption: caption(r, `bench trap, ${t.perCall[0]?.usPerCall.length ?? '?'} runs`), xLabel: 'calls per trap', yLabel: 'µs per call' },
            groups,
            [
              { name: `protected (${t.platform})`, values: t.perCall.map((p) => p.medianUs), ranges: t.perCall.map((p) => [p.minUs, p.maxUs]) },
              { name: 'protection = none', values: t.perCallNone.map((p) => p.medianUs), ranges: t.perCallNone.map((p) => [p.minUs, p.maxUs]) },
            ],
            { yLog: true },
          ),
        },
      ];
    }
    case 'boundary': {
      const b = r.result as BoundaryBenchResult;
      const modes = Object.keys(b.modes) as (keyof BoundaryBenchResult['modes'])[];
      const rows = [...new Set(modes.flatMap((m) => Object.keys(b.modes[m] ?? {})))];
      return [
        {
          file: 'boundary-cost.svg',
          title: 'Protection boundary costs per mode',
          svg: barChart(
            { title: 'Protection boundary costs per mode (µs, log)', caption: caption(r, `bench boundary, ${b.rounds} rounds`), xLabel: '', yLabel: 'µs per crossing / call / fault' },
            rows.map((x) => x.replace('user fault, delivered + reported', 'user fault')),
            modes.map((m) => {
              const cells = rows.map((row) => (b.modes[m] as Record<string, { median: number; min: number; max: number }> | undefined)?.[row]);
              return { name: m, values: cells.map((c) => c?.median ?? null), ranges: cells.map((c) => (c ? [c.min, c.max] : null)) };
            }),
            { yLog: true },
          ),
        },
      ];
    }
    case 'nic': {
      const n = r.result as NicBenchResult;
      const inflight = n.options.inflight;
      const pr = (cfg: string, k: number) => range((n.raw[`${cfg}/${k}`] ?? []).map((x) => x.pps)) ?? null;
      return [
        {
          file: 'nic-pps.svg',
          title: 'NIC packet rate against the C reflector',
          svg: barChart(
            { title: 'NIC path: packets/s against the C reflectors (TAP, veth)', caption: caption(r, `bench nic, ${n.options.rounds} rounds, ${n.options.payload} B UDP; legend: ${inflight} in flight / c-reflector`), xLabel: 'datagrams in flight', yLabel: 'round trips/s (median, min-max)' },
            ['1', String(inflight)],
            n.rows.map((row) => ({ name: row.ratio_n != null ? `${row.config} ${row.ratio_n.toFixed(2)}x` : row.config, values: [row.pps_1, row.pps_n], ranges: [pr(row.config, 1), pr(row.config, inflight)] })),
          ),
        },
        {
          file: 'nic-latency-cdf.svg',
          title: 'NIC round-trip latency per backend',
          svg: lineChart(
            { title: 'NIC round-trip latency, 1 datagram in flight', caption: caption(r, 'bench nic, p50 and p99 per backend'), ...CDF_AXES },
            n.rows.map((row) => cdf(row.config, [[0.5, row.rtt_p50_us], [0.99, row.rtt_p99_us]])),
            CDF_OPTS,
          ),
        },
      ];
    }
    case 'net': {
      const n = r.result as NetBenchResult;
      return [
        {
          file: 'net-latency-cdf.svg',
          title: 'Echo RTT: the stack in the host harness vs Linux',
          svg: lineChart(
            { title: 'TCP echo RTT: ix stack (host harness) vs Linux', caption: caption(r, `bench net, ${n.options.rounds} round trips x ${n.options.repeats}`), ...CDF_AXES },
            n.rows.map((row) => cdf(row.path === 'harness' ? 'ix stack (harness, TAP)' : 'Linux (veth)', [[0, row.min_us], [0.5, row.p50_us], [0.9, row.p90_us], [0.99, row.p99_us]])),
            CDF_OPTS,
          ),
        },
      ];
    }
    case 'e2e':
      return e2ePlots(r);
    case 'wake': {
      // one plot per idle time (the guest halted that long before each wake-up)
      const rows = (r.result as WakeBenchRow[]).filter((w) => w.wakeUs);
      const label = (w: WakeBenchRow) => `${w.route}${w.haltPollNs ? `, halt poll ${w.haltPollNs / 1000} µs` : ''}`;
      return [...new Set(rows.map((w) => w.idleMs))].map((idle) => ({
        file: `wake-cdf-idle${idle}ms.svg`,
        title: `Waking a halted vCPU after ${idle} ms idle, per route`,
        svg: lineChart(
          { title: `Waking a halted vCPU (idle ${idle} ms): trigger -> guest handler`, caption: caption(r, 'bench wake'), ...CDF_AXES },
          rows.filter((w) => w.idleMs === idle).map((w) => cdf(label(w), [[0, w.wakeUs!.min], [0.5, w.wakeUs!.median], [0.9, w.wakeUs!.p90], [1, w.wakeUs!.max]])),
          CDF_OPTS,
        ),
      }));
    }
    case 'elastic':
      return elasticPlots(r);
    default:
      return [];
  }
}

function e2ePlots(r: RunRecord): Plot[] {
  const e = r.result as E2eResult;
  const out: Plot[] = [];
  const what = `bench e2e, ${e.options.rounds} rounds x ${e.options.seconds} s, servers on CPU ${e.options.serverCpus.join(',')}${e.options.protection ? `, protection ${e.options.protection}` : ''}, load ${e.host.load1_start.toFixed(1)}-${e.host.load1_end.toFixed(1)}`;
  const rtt: [string, string][] = [
    ['rtt_block', 'sockperf 64 B, blocking client (vs default Linux)'],
    ['rtt_spin', 'sockperf 64 B, spinning client (vs busy-poll Linux)'],
  ];
  for (const [id, label] of rtt) {
    const s = e.samples[id];
    if (!s || (!s.ix.length && !s.linux.length)) continue;
    out.push({
      file: `e2e-${id}-cdf.svg`,
      title: `RTT CDF, ${label}`,
      svg: lineChart(
        { title: `RTT CDF: ${label}`, caption: caption(r, what), ...CDF_AXES },
        [rttCdf('ix', s.ix as RttResult[]), rttCdf('Linux', s.linux as RttResult[])].filter((x) => x.points.length),
        CDF_OPTS,
      ),
    });
  }
  const echoIds = Object.keys(e.samples)
    .filter((k) => /^echo_\d+$/.test(k))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  if (echoIds.length) {
    const side = (sd: 'ix' | 'linux', name: string): LineSeries => ({
      name,
      points: echoIds.map((id) => [Number(id.slice(5)), med((e.samples[id]![sd] as EchoLoadResult[]).map((x) => x.rps))] as [number, number]).filter((p) => Number.isFinite(p[1])),
    });
    out.push({
      file: 'e2e-echo-throughput.svg',
      title: 'Echo throughput against connection count',
      svg: lineChart({ title: 'Echo round trips/s against connections (64 B)', caption: caption(r, what), xLabel: 'connections (log)', yLabel: 'round trips/s (median)' }, [side('ix', 'ix'), side('linux', 'Linux epoll')], { xLog: true, yMin: 0 }),
    });
    const first = e.samples[echoIds[0]!]!;
    out.push({
      file: 'e2e-echo-cdf.svg',
      title: `Echo RTT CDF, ${echoIds[0]!.slice(5)} connection(s)`,
      svg: lineChart(
        { title: `Echo RTT CDF, ${echoIds[0]!.slice(5)} connection(s)`, caption: caption(r, what), ...CDF_AXES },
        [echoCdf('ix', first.ix as EchoLoadResult[]), echoCdf('Linux epoll', first.linux as EchoLoadResult[])].filter((x) => x.points.length),
        CDF_OPTS,
      ),
    });
  }
  return out;
}

function elasticPlots(r: RunRecord): Plot[] {
  const e = r.result as ElasticResult;
  const tl = e.timeline ?? [];
  if (!tl.length) return [];
  const series = (name: string, f: (p: ElasticResult['timeline'][number]) => number): LineSeries[] => [{ name, points: tl.map((p) => [p.t_s, f(p)]) }];
  const mk = (file: string, title: string, y: string, s: LineSeries[]): Plot => ({ file, title, svg: lineChart({ title, caption: caption(r, 'elastic run'), xLabel: 'time, s', yLabel: y }, s, { yMin: 0 }) });
  return [
    mk('elastic-cores.svg', 'Cores over time', 'cores', series('cores', (p) => p.cores)),
    mk('elastic-throughput.svg', 'Throughput over time', 'requests/s', series('throughput', (p) => p.rps)),
    mk('elastic-p99.svg', 'p99 latency over time', 'µs', series('p99', (p) => p.p99_us)),
  ];
}

/**
 * History at a glance: each metric of a kind over its runs on one host (oldest first), as a
 * ratio to its median over those runs, so metrics of any unit share one axis. At most 8
 * metrics (the first ones of the kind's list); null with fewer than two runs.
 */
export function trendPlot(runs: RunRecord[]): Plot | null {
  if (runs.length < 2) return null;
  const newest = runs[runs.length - 1]!;
  const per = runs.map(metricsFor);
  const names = metricsFor(newest)
    .map((m) => m.name)
    .slice(0, 8);
  const series: LineSeries[] = names.map((name) => {
    const vals = per.map((ms) => ms.find((m) => m.name === name)?.value);
    const m = med(vals.filter((v): v is number => v !== undefined));
    return { name, points: vals.flatMap((v, i) => (v === undefined || !(m > 0) ? [] : [[i + 1, v / m] as [number, number]])) };
  });
  return {
    file: `history-${newest.kind}.svg`,
    title: `${newest.kind}: the last ${runs.length} runs on this host`,
    svg: lineChart(
      { title: `${newest.kind}: the last ${runs.length} runs, each metric / its median`, caption: caption(newest, `runs from ${runs[0]!.time.slice(0, 16).replace('T', ' ')} on`), xLabel: 'run (oldest → newest)', yLabel: 'ratio to the median of these runs' },
      series.filter((x) => x.points.length),
      { yMin: 0, xInteger: true },
    ),
  };
}

/** The numbers a run of a kind is compared on across runs. */
export function metricsFor(r: RunRecord): Metric[] {
  const out: Metric[] = [];
  switch (r.kind) {
    case 'trap': {
      const t = r.result as TrapBenchResult;
      for (const p of t.perCall) out.push({ name: `µs/call, batch ${p.batch}`, value: p.medianUs, range: [p.minUs, p.maxUs], unit: 'µs' });
      out.push({ name: 'ix run -> first app instruction', value: t.bootToApp.medianMs, range: [t.bootToApp.minMs, t.bootToApp.maxMs], unit: 'ms' });
      break;
    }
    case 'boundary': {
      const b = r.result as BoundaryBenchResult;
      for (const [mode, rows] of Object.entries(b.modes))
        for (const [row, c] of Object.entries(rows ?? {})) out.push({ name: `${mode}: ${row}`, value: c.median, range: [c.min, c.max], unit: 'µs' });
      break;
    }
    case 'nic': {
      const n = r.result as NicBenchResult;
      const ref = n.rows.find((x) => x.config === 'c-reflector');
      const vref = n.rows.find((x) => x.config === 'c-reflector-veth');
      for (const row of n.rows) {
        const rr = (k: number) => range((n.raw[`${row.config}/${k}`] ?? []).map((x) => x.pps));
        out.push({ name: `${row.config}: pkt/s, 1 in flight`, value: row.pps_1, range: rr(1), unit: '/s' });
        out.push({ name: `${row.config}: pkt/s, ${n.options.inflight} in flight`, value: row.pps_n, range: rr(n.options.inflight), unit: '/s' });
        out.push({ name: `${row.config}: RTT p50`, value: row.rtt_p50_us, unit: 'µs' });
        if (ref && row !== ref && ref.pps_n > 0) out.push({ name: `${row.config} / c-reflector pkt/s, ${n.options.inflight} in flight`, value: row.pps_n / ref.pps_n, unit: 'x' });
        if (vref && row !== vref && VETH_CONFIGS.includes(row.config) && vref.pps_n > 0)
          out.push({ name: `${row.config} / c-reflector-veth pkt/s, ${n.options.inflight} in flight`, value: row.pps_n / vref.pps_n, unit: 'x' });
      }
      break;
    }
    case 'net': {
      const n = r.result as NetBenchResult;
      for (const row of n.rows) {
        const rs = n.raw[row.path] ?? [];
        out.push({ name: `${row.path}: RTT p50`, value: row.p50_us, range: range(rs.map((x) => x.p50_us)), unit: 'µs' });
        out.push({ name: `${row.path}: RTT p99`, value: row.p99_us, range: range(rs.map((x) => x.p99_us)), unit: 'µs' });
      }
      const h = n.rows.find((x) => x.path === 'harness');
      const l = n.rows.find((x) => x.path === 'linux');
      if (h && l && l.p50_us > 0) out.push({ name: 'harness / Linux RTT p50', value: h.p50_us / l.p50_us, unit: 'x' });
      break;
    }
    case 'e2e': {
      const e = r.result as E2eResult;
      for (const row of e.rows) {
        if (row.ix !== null) out.push({ name: `${row.metric}: ix`, value: row.ix, range: row.ix_range ?? undefined, unit: '' });
        if (row.linux !== null) out.push({ name: `${row.metric}: Linux`, value: row.linux, range: row.linux_range ?? undefined, unit: '' });
        if (row.ratio !== null) {
          const rg = row.ix_range && row.linux_range && row.linux_range[0] > 0 ? ([row.ix_range[0] / row.linux_range[1], row.ix_range[1] / row.linux_range[0]] as [number, number]) : undefined;
          out.push({ name: `${row.metric}: ratio`, value: row.ratio, range: rg, unit: 'x' });
        }
      }
      break;
    }
    case 'wake':
      for (const w of r.result as WakeBenchRow[])
        if (w.wakeUs) out.push({ name: `wake ${w.route}${w.haltPollNs ? ` poll ${w.haltPollNs} ns` : ''}, idle ${w.idleMs} ms: median`, value: w.wakeUs.median, unit: 'µs' });
      break;
    case 'wake_dp':
      for (const w of (r.result as WakeDpResult).rows)
        if (w.rttUs) out.push({ name: `${w.side}, one request every ${w.gapMs} ms: RTT p50`, value: w.rttUs.p50, range: [w.rttUs.min, w.rttUs.p99], unit: 'µs' });
      break;
    case 'conns':
      for (const row of (r.result as ConnsBenchResult).rows)
        if (row.result) {
          out.push({ name: `${row.side} ${row.conns} conns: round trips`, value: row.result.rtt_per_s, unit: '/s' });
          out.push({ name: `${row.side} ${row.conns} conns: p99`, value: row.result.p99_us, unit: 'µs' });
        }
      break;
    case 'elastic': {
      const tl = (r.result as ElasticResult).timeline ?? [];
      if (tl.length) {
        out.push({ name: 'throughput (median over time)', value: med(tl.map((p) => p.rps)), unit: '/s' });
        out.push({ name: 'p99 (median over time)', value: med(tl.map((p) => p.p99_us)), unit: 'µs' });
      }
      break;
    }
  }
  return out;
}
