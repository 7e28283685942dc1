/**
 * Benchmark history: every run of every kind is kept as one JSON record (what ran, where,
 * when, and the bench's own result object) in a directory the user chooses (`--history=DIR`,
 * or IX_BENCH_HISTORY; default ./bench-history, gitignored). The report compares the newest
 * run of a kind with the previous runs of that kind on the same host.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg } from 'node:os';
import { basename, join } from 'node:path';

export const BENCH_KINDS = ['trap', 'boundary', 'nic', 'net', 'e2e', 'wake', 'wake_dp', 'elastic', 'conns'] as const;
export type BenchKind = (typeof BENCH_KINDS)[number];

export interface HostId {
  name: string;
  cpus: number;
  cpuModel: string;
}

export interface RunRecord {
  kind: BenchKind;
  /** ISO time the run ended */
  time: string;
  host: HostId;
  /** the guest's platform (pvm, vmx, ...) when the bench reports it, else 'unknown' */
  platform: string;
  commit: string | null;
  /** the host's 1-minute load average when the run ended (above the CPU count: other work skewed it) */
  load1?: number;
  result: unknown;
  /** where the record was read from (not stored) */
  file?: string;
}

export function thisHost(): HostId {
  const c = cpus();
  return { name: hostname(), cpus: c.length, cpuModel: c[0]?.model.trim() ?? 'unknown' };
}

export const sameHost = (a: HostId, b: HostId): boolean => a.name === b.name && a.cpus === b.cpus && a.cpuModel === b.cpuModel;

export function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

export function historyDir(args: string[]): string {
  const opt = args.find((a) => a.startsWith('--history='));
  return opt ? opt.slice('--history='.length) : (process.env.IX_BENCH_HISTORY ?? 'bench-history');
}

const platformOf = (result: unknown): string => {
  const p = (result as { platform?: unknown } | null)?.platform;
  return typeof p === 'string' ? p : 'unknown';
};

export function makeRecord(kind: BenchKind, result: unknown, time = new Date()): RunRecord {
  return { kind, time: time.toISOString(), host: thisHost(), platform: platformOf(result), commit: gitCommit(), load1: Math.round(loadavg()[0]! * 100) / 100, result };
}

/**
 * The platform of runs whose results do not name it: nic and net run no guest ('host'); an
 * e2e run's dataplane ran on the platform another bench of the same invocation reported, or
 * the one a probe boot finds.
 */
export async function fillPlatform(records: RunRecord[]): Promise<void> {
  fillKnownPlatform(records);
  const missing = records.filter((r) => r.platform === 'unknown');
  if (!missing.length) return;
  let known: string;
  {
    try {
      const { probeBoot } = await import('../control/probe.js');
      known = (await probeBoot()).platform;
    } catch {
      known = 'unknown';
    }
  }
  for (const r of missing) r.platform = known;
}

/** fillPlatform without a probe boot: what the records themselves say */
function fillKnownPlatform(records: RunRecord[]): void {
  for (const r of records) if (r.platform === 'unknown' && (r.kind === 'nic' || r.kind === 'net')) r.platform = 'host (no guest)';
  const known = records.find((r) => r.platform !== 'unknown' && r.kind !== 'nic' && r.kind !== 'net')?.platform;
  if (known) for (const r of records) if (r.platform === 'unknown') r.platform = known;
}

const stamp = (iso: string): string => iso.replace(/[:.]/g, '-');

export function saveRecord(dir: string, r: RunRecord): string {
  mkdirSync(dir, { recursive: true });
  const { file: _f, ...rest } = r;
  const path = join(dir, `${r.kind}-${r.host.name.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp(r.time)}.json`);
  writeFileSync(path, `${JSON.stringify(rest, null, 2)}\n`);
  return path;
}

const isRecord = (v: unknown): v is RunRecord =>
  typeof v === 'object' && v !== null && typeof (v as RunRecord).kind === 'string' && typeof (v as RunRecord).time === 'string' && 'result' in v && 'host' in v;

/**
 * Records from a file: a history record, or an older `bench-results-<time>.json` holding
 * { trap: ..., nic: ... } (host and platform then taken as this host's; time from the name
 * or the file's mtime).
 */
export function readRecords(file: string): RunRecord[] {
  const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (isRecord(v)) return [{ ...v, file }];
  if (typeof v !== 'object' || v === null) throw new Error(`${file}: not a benchmark results file`);
  const m = /(\d{4}-\d\d-\d\dT\d\d)-(\d\d)-(\d\d)-(\d{3})Z/.exec(basename(file));
  const time = m ? `${m[1]}:${m[2]}:${m[3]}.${m[4]}Z` : statSync(file).mtime.toISOString();
  const out: RunRecord[] = [];
  for (const [k, result] of Object.entries(v as Record<string, unknown>))
    if ((BENCH_KINDS as readonly string[]).includes(k)) out.push({ kind: k as BenchKind, time, host: thisHost(), platform: platformOf(result), commit: null, result, file });
  fillKnownPlatform(out);
  if (!out.length) throw new Error(`${file}: no benchmark results in it (expected a history record or { trap | nic | net | e2e | boundary | wake: ... })`);
  return out;
}

/** Every record in the history directory, oldest first (unreadable files are skipped). */
export function loadHistory(dir: string): RunRecord[] {
  if (!existsSync(dir)) return [];
  const out: RunRecord[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    try {
      out.push(...readRecords(join(dir, f)));
    } catch {
      /* not ours */
    }
  }
  return out.sort((a, b) => a.time.localeCompare(b.time));
}

// ---------------------------------------------------------------------------- comparison

/** One number a run of a kind yields, with its within-run min-max where the bench keeps it. */
export interface Metric {
  name: string;
  value: number;
  range?: [number, number];
  unit: string;
}

export interface Comparison {
  metric: string;
  unit: string;
  newest: number;
  /** median of the previous runs' values */
  previous: number;
  runs: number;
  /** newest / previous */
  ratio: number;
  /** run-to-run spread as a ratio around 1: max of the previous values' (max-min)/median and the within-run ranges */
  spread: number | null;
  /** moved by more than the spread (null: the spread is unknown) */
  moved: boolean | null;
}

/** the median (NaN of nothing) */
export const med = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length ? (s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2) : NaN;
};

/** Newest against the previous runs, metric by metric (metrics the previous runs lack are left out). */
export function compare(newest: Metric[], previous: Metric[][]): Comparison[] {
  const out: Comparison[] = [];
  for (const m of newest) {
    const prev = previous.map((p) => p.find((x) => x.name === m.name)).filter((x): x is Metric => x !== undefined && Number.isFinite(x.value));
    if (!prev.length || !Number.isFinite(m.value)) continue;
    const base = med(prev.map((p) => p.value));
    if (base === 0) continue;
    const widths: number[] = [];
    // a range of one sample (min = max) says nothing about the spread
    const rel = (r: [number, number] | undefined, c: number) => {
      if (r && r[1] > r[0] && c > 0) widths.push((r[1] - r[0]) / c);
    };
    rel(m.range, m.value);
    for (const p of prev) rel(p.range, p.value);
    if (prev.length > 1) widths.push((Math.max(...prev.map((p) => p.value)) - Math.min(...prev.map((p) => p.value))) / base);
    const spread = widths.length ? Math.max(...widths) : null;
    const ratio = m.value / base;
    out.push({ metric: m.name, unit: m.unit, newest: m.value, previous: base, runs: prev.length, ratio, spread, moved: spread === null ? null : Math.abs(ratio - 1) > spread });
  }
  return out;
}
