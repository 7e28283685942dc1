/**
 * `npm run bench -- trap`: the cost of one batched call for batch sizes 1, 8 and 64 on the
 * platform this host offers, and the time from starting `ix run` to the app's first
 * instruction. Not a test: it prints a table (and JSON with --json).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PACKAGE_ROOT, appElf } from '../control/paths.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  spawnWallMs: number;
}

export function runIx(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const spawnWallMs = performance.timeOrigin + performance.now();
    const p = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin/ix.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => resolve({ status, stdout, stderr, spawnWallMs }));
  });
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface PerCall {
  batch: number;
  usPerCall: number[];
  medianUs: number;
  minUs: number;
  maxUs: number;
}

export interface TrapBenchResult {
  platform: string;
  perCall: PerCall[];
  /** the same loop with protection = "none" (a function call instead of a trap) */
  perCallNone: PerCall[];
  bootToApp: { samplesMs: number[]; medianMs: number; minMs: number; maxMs: number };
}

/** one line on stderr per `ix run`, so a run that never ends says which it was */
const progress = (what: string): void => {
  process.stderr.write(`bench trap: ${what}\n`);
};

export async function runTrapBench(opts: { rounds?: number; boots?: number } = {}): Promise<TrapBenchResult> {
  const rounds = opts.rounds ?? 5;
  const boots = opts.boots ?? 10;
  const dir = mkdtempSync(join(tmpdir(), 'ix-bench-trap-'));
  try {
    const benchCfg = join(dir, 'bench.toml');
    writeFileSync(benchCfg, `name = "bench-trap"\ncores = 1\n[app]\npath = "${appElf('bench_trap')}"\n`);
    const noneCfg = join(dir, 'none.toml');
    writeFileSync(noneCfg, `name = "bench-trap-none"\ncores = 1\nprotection = "none"\n[app]\npath = "${appElf('bench_trap')}"\n`);
    const helloCfg = join(dir, 'hello.toml');
    writeFileSync(helloCfg, `name = "bench-boot"\ncores = 1\n[app]\npath = "${appElf('hello')}"\n`);

    const per = new Map<number, number[]>();
    const perNone = new Map<number, number[]>();
    let platform = 'unknown';
    for (let r = 0; r < rounds; r++) {
      for (const [cfg, into] of [[benchCfg, per], [noneCfg, perNone]] as const) {
        progress(`round ${r + 1}/${rounds}: ${cfg === benchCfg ? 'page-tables' : 'none'}`);
        const run = await runIx(['run', '--json', cfg]);
        if (run.status !== 0) throw new Error(`bench_trap failed (status ${run.status}):\n${run.stderr}`);
        for (const m of run.stdout.matchAll(/bench_trap core=\d+ batch=(\d+) traps=(\d+) cycles=(\d+) tsc_khz=(\d+)/g)) {
          const [batch, traps, cycles, khz] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
          if (batch === 0) continue; // the null crossing: npm run bench -- boundary
          const us = (cycles / khz) * 1000 / (traps * batch);
          into.set(batch, [...(into.get(batch) ?? []), us]);
        }
        const summary = JSON.parse(run.stdout.trim().split('\n').pop()!) as { platform: string };
        platform = summary.platform;
      }
    }
    const samplesMs: number[] = [];
    for (let b = 0; b < boots; b++) {
      progress(`boot ${b + 1}/${boots}`);
      const run = await runIx(['run', '--json', helloCfg]);
      if (run.status !== 0) throw new Error(`hello failed (status ${run.status}):\n${run.stderr}`);
      const s = JSON.parse(run.stdout.trim().split('\n').pop()!) as { firstAppInstructionWallMs: number | null };
      if (s.firstAppInstructionWallMs !== null) samplesMs.push(s.firstAppInstructionWallMs - run.spawnWallMs);
    }
    const table = (m: Map<number, number[]>): PerCall[] =>
      [...m.entries()].sort((a, b) => a[0] - b[0]).map(([batch, us]) => ({
        batch, usPerCall: us, medianUs: median(us), minUs: Math.min(...us), maxUs: Math.max(...us),
      }));
    return {
      platform,
      perCall: table(per),
      perCallNone: table(perNone),
      bootToApp: { samplesMs, medianMs: median(samplesMs), minMs: Math.min(...samplesMs), maxMs: Math.max(...samplesMs) },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printTrapBench(r: TrapBenchResult): void {
  const f = (n: number, d = 3) => n.toFixed(d);
  console.log(`\nbatched trap cost on platform=${r.platform} (${r.perCall[0]?.usPerCall.length ?? 0} runs of 20000 traps each)`);
  console.log('batch  us/call(median)  min      max      target    | protection=none us/call  boundary cost/trap us');
  for (const p of r.perCall) {
    const n = r.perCallNone.find((x) => x.batch === p.batch);
    const none = n ? f(n.medianUs, 4) : '-';
    const boundary = n ? f((p.medianUs - n.medianUs) * p.batch, 2) : '-';
    console.log(
      `${String(p.batch).padEnd(6)} ${f(p.medianUs).padEnd(16)} ${f(p.minUs).padEnd(8)} ${f(p.maxUs).padEnd(8)} ${(p.batch === 64 ? '<= 0.200' : '').padEnd(9)} | ${none.padEnd(23)} ${boundary}`,
    );
  }
  const b = r.bootToApp;
  console.log(`\n\`ix run\` start -> first app instruction (${b.samplesMs.length} boots): median ${f(b.medianMs, 1)} ms, min ${f(b.minMs, 1)}, max ${f(b.maxMs, 1)} (target <= 100 ms)`);
}
