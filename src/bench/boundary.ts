/**
 * `npm run bench -- boundary`: every protection boundary this host's platform offers, side
 * by side (docs/protection.md): the null crossing (ix_bpoll with no call), one call at batch
 * 1, 8 and 64 (guest/apps/bench_trap.c), and a user fault delivered and reported (the fault
 * app's timed-fault: the kernel's TSC in the report minus the app's just before its ud2; one
 * sample per boot, the first fault of that core, so it includes first-touch costs). Ratios
 * are against protection = "none". A mode the guest refuses on this platform is listed with
 * its reason. Not a test: it prints a table (and JSON with --json).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appElf } from '../control/paths.js';
import { median, runIx } from './trap.js';

const MODES = ['none', 'page-tables', 'pvm-host-switch', 'shared-page-table'] as const;
type Mode = (typeof MODES)[number];
/** the rows of the table: bench_trap's batch sizes (0 = the null crossing), then the fault */
const ROWS = ['null crossing', 'call, batch 1', 'call, batch 8', 'call, batch 64', 'user fault, delivered + reported'] as const;

export interface BoundaryCell {
  /** µs per crossing (null crossing), per call (batches) or per fault */
  samples: number[];
  median: number;
  min: number;
  max: number;
}

export interface BoundaryBenchResult {
  platform: string;
  rounds: number;
  /** mode -> row -> cell, for the modes the platform offers */
  modes: Partial<Record<Mode, Partial<Record<(typeof ROWS)[number], BoundaryCell>>>>;
  refused: Partial<Record<Mode, string>>;
}

function cell(samples: number[]): BoundaryCell {
  return { samples, median: median(samples), min: Math.min(...samples), max: Math.max(...samples) };
}

export async function runBoundaryBench(opts: { rounds?: number } = {}): Promise<BoundaryBenchResult> {
  const rounds = opts.rounds ?? 5;
  const dir = mkdtempSync(join(tmpdir(), 'ix-bench-boundary-'));
  const res: BoundaryBenchResult = { platform: 'unknown', rounds, modes: {}, refused: {} };
  const samples = new Map<string, number[]>();
  const add = (mode: Mode, row: string, v: number) => samples.set(`${mode}|${row}`, [...(samples.get(`${mode}|${row}`) ?? []), v]);
  try {
    const offered: Mode[] = [];
    for (const mode of MODES) {
      const cfg = join(dir, `${mode}.toml`);
      writeFileSync(cfg, `name = "bench-b-${mode}"\ncores = 1\nprotection = "${mode}"\n[app]\npath = "${appElf('bench_trap')}"\n`);
      const first = await runIx(['run', '--json', cfg]);
      const summary = JSON.parse(first.stdout.trim().split('\n').pop() ?? '{}') as { platform?: string; reason?: string; protection?: string };
      if (first.status !== 0) {
        if (summary.protection === 'unknown' && summary.reason) res.refused[mode] = summary.reason;
        else throw new Error(`bench_trap under protection "${mode}" failed (status ${first.status}):\n${first.stderr}`);
        continue;
      }
      res.platform = summary.platform ?? res.platform;
      offered.push(mode);
    }
    for (let r = 0; r < rounds; r++) {
      for (const mode of offered) {
        const run = await runIx(['run', '--json', join(dir, `${mode}.toml`)]);
        if (run.status !== 0) throw new Error(`bench_trap under protection "${mode}" failed (status ${run.status}):\n${run.stderr}`);
        for (const m of run.stdout.matchAll(/bench_trap core=\d+ batch=(\d+) traps=(\d+) cycles=(\d+) tsc_khz=(\d+)/g)) {
          const [batch, traps, cycles, khz] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
          const row = batch === 0 ? ROWS[0] : `call, batch ${batch}`;
          add(mode, row, ((cycles / khz) * 1000) / (traps * Math.max(batch, 1)));
        }
        if (mode === 'none') continue; // an app fault without a boundary is a dataplane panic
        const fcfg = join(dir, `${mode}-fault.toml`);
        writeFileSync(fcfg, `name = "bench-f-${mode}"\ncores = 1\nprotection = "${mode}"\n[app]\npath = "${appElf('fault')}"\nargs = ["timed-fault"]\n`);
        const f = await runIx(['run', '--json', fcfg]);
        const rec = f.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).find((x) => x.kind !== undefined && x.tsc !== undefined);
        const khz = Number(/tscKhz":(\d+)/.exec(f.stderr)?.[1] ?? 0);
        if (!rec || !khz) throw new Error(`timed-fault under protection "${mode}" was not reported:\n${f.stderr}`);
        const r12 = BigInt((rec.regs as Record<string, string>).r12!);
        add(mode, ROWS[4], (Number(BigInt(rec.tsc as string) - r12) / khz) * 1000);
      }
    }
    for (const mode of offered) {
      const rows: Partial<Record<(typeof ROWS)[number], BoundaryCell>> = {};
      for (const row of ROWS) {
        const s = samples.get(`${mode}|${row}`);
        if (s?.length) rows[row] = cell(s);
      }
      res.modes[mode] = rows;
    }
    return res;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printBoundaryBench(r: BoundaryBenchResult): void {
  const modes = MODES.filter((m) => r.modes[m]);
  const none = r.modes.none;
  console.log(`\nprotection boundaries on platform=${r.platform}: µs, median of ${r.rounds} runs [min-max], (x = ratio to "none")`);
  const w0 = Math.max(...ROWS.map((x) => x.length)) + 2;
  const w = 34;
  console.log('operation'.padEnd(w0) + modes.map((m) => m.padEnd(w)).join(''));
  for (const row of ROWS) {
    let line = row.padEnd(w0);
    for (const m of modes) {
      const c = r.modes[m]?.[row];
      const base = none?.[row];
      const ratio = c && base && m !== 'none' ? ` x${(c.median / base.median).toFixed(0)}` : '';
      line += (c ? `${c.median.toFixed(3)} [${c.min.toFixed(3)}-${c.max.toFixed(3)}]${ratio}` : m === 'none' && row === ROWS[4] ? 'panic (no boundary)' : '-').padEnd(w);
    }
    console.log(line);
  }
  const pt = r.modes['page-tables']?.[ROWS[0]];
  const hs = r.modes['pvm-host-switch']?.[ROWS[0]];
  if (pt && hs) console.log(`\npvm-host-switch crossing is ${(pt.median / hs.median).toFixed(1)}x cheaper than page-tables`);
  for (const [m, why] of Object.entries(r.refused)) console.log(`not offered here: ${m}: ${why}`);
}
