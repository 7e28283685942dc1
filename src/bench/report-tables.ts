/**
 * The tables of report.md: each kind's result as the bench prints it (markdown), so the
 * report stands without the terminal output. Kinds without a table of their own get the
 * metric list the history compares (metricsFor).
 */
import type { BoundaryBenchResult } from './boundary.js';
import type { E2eBackend, E2eResult } from './e2e.js';
import type { ElasticBenchResult } from './elastic.js';
import type { NetBenchResult } from './net.js';
import type { NicBenchResult } from './nic.js';
import { skippedLine } from './nic-options.js';
import { nicTableCells, xdpTargetLines } from './nic-rows.js';
import type { RunRecord } from './report-history.js';
import { metricsFor } from './report-plots.js';
import type { TrapBenchResult } from './trap.js';
import type { WakeBenchRow } from './wake.js';

/** The line the e2e table prints for a backend this host could not measure (vhost without /dev/vhost-net). */
export function unavailableLine(u: { backend: E2eBackend; reason: string }): string {
  return `ix ${u.backend}: not measured on this host (${u.reason})`;
}

export const fmtNum = (v: number | null | undefined): string => {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)} M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)} k`;
  return `${+v.toPrecision(3)}`;
};

/** A table as markdown lines (a blank line after it); numbers through fmtNum, missing cells as '-'. */
export const markdownTable = (head: string[], rows: (string | number | null | undefined)[][]): string[] => [
  `| ${head.join(' | ')} |`,
  `|${head.map(() => '---').join('|')}|`,
  ...rows.map((r) => `| ${r.map((c) => (typeof c === 'number' ? fmtNum(c) : (c ?? '-'))).join(' | ')} |`),
  '',
];
/** The same cells as an aligned text table for the terminal: the first column left-aligned,
 * the others right-aligned, each as wide as its widest cell, two spaces between columns;
 * `after[i]`, when given, is printed after row i's last cell. */
export function textTable(head: string[], rows: string[][], after: (string | undefined)[] = []): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), ...rows.map((r, i) => `${line(r)}${after[i] ? `  (${after[i]})` : ''}`)];
}

/** An elastic run's steps as cells, for the terminal (printElasticBench) and report.md alike. */
export const ELASTIC_HEAD = ['dataplane', 'step', 'in flight', 'cores', 'round trips/s', 'p99 µs', 'host CPU s'];
export function elasticCells(r: Pick<ElasticBenchResult, 'rows'>): string[][] {
  return r.rows.map((x) => [x.dataplane, String(x.step), String(x.inFlight), String(x.cores), x.result ? x.result.rtt_per_s.toFixed(0) : '-', x.result ? String(x.result.p99_us) : '-', x.cpuS.toFixed(2)]);
}

/** The host CPU time of both dataplanes over all steps, and how they compare. */
export function elasticCpuLine(r: Pick<ElasticBenchResult, 'rows'>): string {
  const cpu = (d: string) => r.rows.filter((x) => x.dataplane === d).reduce((s, x) => s + x.cpuS, 0);
  const e = cpu('elastic');
  const f = cpu('fixed');
  const diff = f > 0 ? ((e / f - 1) * 100).toFixed(0) : '?';
  return `host CPU over all steps: elastic ${e.toFixed(2)} s, fixed ${f.toFixed(2)} s (elastic ${diff.startsWith('-') ? `${diff.slice(1)} % less` : `${diff} % more`})`;
}

const span = (r: [number, number] | null | undefined): string => (r ? `${fmtNum(r[0])}-${fmtNum(r[1])}` : '-');
/** a value with its min-max, the range left out when there is none or it is one sample */
const withSpan = (v: number | null, r: [number, number] | null | undefined): string => (r && r[1] > r[0] ? `${fmtNum(v)} (${span(r)})` : fmtNum(v));

export function tableFor(r: RunRecord): string[] {
  switch (r.kind) {
    case 'trap': {
      const t = r.result as TrapBenchResult;
      return [
        ...markdownTable(
          ['calls per trap', 'µs/call (median)', 'min-max', 'protection = none µs/call'],
          t.perCall.map((p, i) => [p.batch, p.medianUs, span([p.minUs, p.maxUs]), t.perCallNone[i]?.medianUs]),
        ),
        `\`ix run\` -> first app instruction (${t.bootToApp.samplesMs.length} boots): median ${fmtNum(t.bootToApp.medianMs)} ms (${span([t.bootToApp.minMs, t.bootToApp.maxMs])}).`,
        '',
      ];
    }
    case 'boundary': {
      const b = r.result as BoundaryBenchResult;
      const modes = Object.keys(b.modes) as (keyof BoundaryBenchResult['modes'])[];
      const rows = [...new Set(modes.flatMap((m) => Object.keys(b.modes[m] ?? {})))];
      const cell = (m: (typeof modes)[number], row: string) => (b.modes[m] as Record<string, { median: number; min: number; max: number }> | undefined)?.[row];
      const refused = Object.entries(b.refused).map(([m, why]) => `- \`${m}\` refused on this platform: ${why}`);
      return [
        ...markdownTable(
          ['µs', ...modes.map((m) => `\`${m}\``)],
          rows.map((row) => [row, ...modes.map((m) => (cell(m, row) ? `${fmtNum(cell(m, row)!.median)} (${span([cell(m, row)!.min, cell(m, row)!.max])})` : '-'))]),
        ),
        ...(refused.length ? [...refused, ''] : []),
      ];
    }
    case 'nic': {
      const n = r.result as NicBenchResult;
      const c = nicTableCells(n);
      const notes = [...xdpTargetLines(n.rows, n.options.inflight), ...(n.skipped ?? []).map(skippedLine), ...(n.errors ?? [])].map((x) => `- ${x}`);
      const host = n.host ? [`Host: ${n.host.cpus} CPUs, load average ${n.host.load1_start} before, ${n.host.load1_end} after.`] : [];
      return [...markdownTable(c.head, c.rows), ...host, ...notes, ...(host.length || notes.length ? [''] : [])];
    }
    case 'net': {
      const n = r.result as NetBenchResult;
      return markdownTable(
        ['path', 'min µs', 'p50 µs', 'p90 µs', 'p99 µs', 'mean µs'],
        n.rows.map((x) => [x.description, x.min_us, x.p50_us, x.p90_us, x.p99_us, x.mean_us]),
      );
    }
    case 'e2e': {
      const e = r.result as E2eResult;
      return [
        ...markdownTable(
          ['metric', 'ix (min-max)', 'Linux (min-max)', 'ratio', 'goal', 'met?'],
          e.rows.map((x) => [x.metric, withSpan(x.ix, x.ix_range), withSpan(x.linux, x.linux_range), x.ratio, x.goal || '-', x.met === null ? '-' : x.met ? 'yes' : 'no']),
        ),
        `Host: ${e.host.cpus} CPUs, load average ${e.host.load1_start} before, ${e.host.load1_end} after.`,
        ...[...(e.unavailable ?? []).map(unavailableLine), ...e.notes, ...e.errors].map((x) => `- ${x}`),
        '',
      ];
    }
    case 'wake':
      return markdownTable(
        ['idle ms', 'route', 'halt poll ns', 'HLT in kernel', 'delivered', 'min µs', 'median µs', 'p90 µs', 'max µs'],
        (r.result as WakeBenchRow[]).map((w) => [w.idleMs, w.route, w.haltPollNs ?? '-', w.haltBlocksInKernel === undefined ? '-' : String(w.haltBlocksInKernel), `${w.delivered}/${w.samples}`, w.wakeUs?.min, w.wakeUs?.median, w.wakeUs?.p90, w.wakeUs?.max]),
      );
    case 'elastic': {
      const e = r.result as Partial<ElasticBenchResult>;
      if (!Array.isArray(e.rows)) return metricTable(r); // a result without its steps: the metrics of its timeline
      const rows = { rows: e.rows };
      const errors = e.rows.filter((x) => x.error).map((x) => `- ${x.dataplane} step ${x.step}: ${x.error}`);
      return [...markdownTable(ELASTIC_HEAD, elasticCells(rows)), elasticCpuLine(rows) + '.', ...(errors.length ? ['', ...errors] : []), ''];
    }
    default:
      return metricTable(r);
  }
}

/** Kinds without a table of their own: the metrics the history compares. */
function metricTable(r: RunRecord): string[] {
  return markdownTable(
    ['metric', 'value', 'min-max in the run'],
    metricsFor(r).map((m) => [m.name, `${fmtNum(m.value)} ${m.unit}`, span(m.range)]),
  );
}
