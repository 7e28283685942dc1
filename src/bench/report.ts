/**
 * `npm run bench -- report [files…]` (and the end of every `npm run bench -- <kind>`): a
 * self-contained report directory, report.md with the tables and one SVG per plot, for the
 * given runs (default: the newest run of each kind in the history), each compared with the
 * previous runs of its kind on the same host. Options: --history=DIR (default
 * ./bench-history or IX_BENCH_HISTORY), --out=DIR (default ./bench-reports/<time>).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, loadHistory, readRecords, sameHost, type Comparison, type RunRecord } from './report-history.js';
import { metricsFor, plotsFor, trendPlot } from './report-plots.js';
import { fmtNum, tableFor } from './report-tables.js';

const fmt = fmtNum;

function comparisonTable(cs: Comparison[]): string[] {
  if (!cs.length) return ['No previous run of this kind on this host: nothing to compare with yet.', ''];
  const lines = ['| metric | newest | previous (median) | runs | ratio | spread | moved? |', '|---|---|---|---|---|---|---|'];
  for (const c of cs) {
    const flag = c.moved === null ? 'spread unknown' : c.moved ? `**moved ${c.ratio > 1 ? 'up' : 'down'}**` : 'no';
    lines.push(`| ${c.metric} | ${fmt(c.newest)} ${c.unit} | ${fmt(c.previous)} ${c.unit} | ${c.runs} | ${c.ratio.toFixed(2)} | ${c.spread === null ? '-' : `±${(c.spread * 100).toFixed(0)}%`} | ${flag} |`);
  }
  return [...lines, ''];
}

export interface ReportResult {
  dir: string;
  plots: string[];
  flagged: Comparison[];
}

/** Write the report for `runs` into `dir`, comparing each with `history` (which may include it). */
export function writeReport(runs: RunRecord[], history: RunRecord[], dir: string): ReportResult {
  mkdirSync(dir, { recursive: true });
  const md: string[] = [
    '# Benchmark report',
    '',
    `Written ${new Date().toISOString()}. Plots are SVG files next to this one.`,
    '',
    "Each run is compared with the previous runs of its kind on the same host: a metric is flagged when it moved from their median by more than the run-to-run spread (the widest of: the previous values' max-min and each run's own min-max, relative to its value).",
    '',
  ];
  const plots: string[] = [];
  const flagged: Comparison[] = [];
  for (const r of runs) {
    const load = r.load1 !== undefined ? `, load ${r.load1}` : '';
    md.push(`## ${r.kind} (${r.time}, platform ${r.platform}, ${r.host.name}, ${r.host.cpus} CPUs${load}${r.commit ? `, commit ${r.commit}` : ''})`, '');
    if (r.file) md.push(`From \`${r.file}\`.`, '');
    for (const p of plotsFor(r)) {
      const file = r.kind === 'e2e' || runs.filter((x) => x.kind === r.kind).length === 1 ? p.file : `${r.time.replace(/[:.]/g, '-')}-${p.file}`;
      writeFileSync(join(dir, file), p.svg);
      plots.push(file);
      md.push(`![${p.title}](${file})`, '');
    }
    const ms = metricsFor(r);
    md.push(...tableFor(r));
    const prev = history.filter((h) => h.kind === r.kind && h.time < r.time && sameHost(h.host, r.host));
    md.push(`### Against ${prev.length} previous ${r.kind} run(s) on this host`, '');
    const trend = trendPlot([...prev.slice(-19), r]);
    if (trend) {
      writeFileSync(join(dir, trend.file), trend.svg);
      plots.push(trend.file);
      md.push(`![${trend.title}](${trend.file})`, '');
    }
    const cs = compare(ms, prev.map(metricsFor));
    flagged.push(...cs.filter((c) => c.moved));
    md.push(...comparisonTable(cs));
  }
  writeFileSync(join(dir, 'report.md'), `${md.join('\n')}\n`);
  return { dir, plots, flagged };
}

export const reportDir = (args: string[]): string => args.find((a) => a.startsWith('--out='))?.slice('--out='.length) ?? join('bench-reports', new Date().toISOString().replace(/[:.]/g, '-'));

/** `bench -- report [files…]`: the given files' runs, or the newest of each kind in the history. */
export function reportCommand(files: string[], historyPath: string, out: string): ReportResult {
  const history = loadHistory(historyPath);
  let runs: RunRecord[];
  if (files.length) runs = files.flatMap(readRecords);
  else {
    const newest = new Map<string, RunRecord>();
    for (const h of history) newest.set(h.kind, h);
    runs = [...newest.values()];
  }
  if (!runs.length) throw new Error(`no benchmark runs to report: ${historyPath} is empty; run \`npm run bench -- trap\` (or name results files)`);
  return writeReport(runs, history, out);
}

export function printReportResult(r: ReportResult): void {
  console.log(`\nreport written to ${join(r.dir, 'report.md')} (${r.plots.length} plots)`);
  for (const c of r.flagged) console.log(`  moved beyond the run-to-run spread: ${c.metric}: ${c.previous.toPrecision(3)} -> ${c.newest.toPrecision(3)} (x${c.ratio.toFixed(2)})`);
}
