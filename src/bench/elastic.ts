/**
 * `npm run bench -- elastic`: elastic cores against a fixed core count (docs/scale.md). The
 * echo dataplane runs twice, once with `[cores] min = 1, max = 2, policy = "auto"` and once
 * with `cores = 2`, under the same load that steps up and down: per step, bench/e2e/connload
 * keeps `in flight` messages going over 64 connections for `--seconds` (0 in flight: no
 * client, the dataplane idles). Per step it prints the cores in use at the end of the step,
 * round trips/s, p99, and the host CPU time the whole `ix run` process consumed (its vCPU
 * threads, the NIC worker, the control plane: utime + stime from /proc).
 *   options: --steps=0,256,0,256,0 (messages in flight per step) --seconds=N (per step, 6)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../control/paths.js';
import { buildE2eTools, E2eBenchError, runClient } from './e2e-proc.js';
import { startIx, IX_ADDRESS } from './e2e-ix.js';
import type { ConnloadResult } from './conns.js';
import { ELASTIC_HEAD, elasticCells, elasticCpuLine, textTable } from './report-tables.js';

export class ElasticBenchError extends Error {
  override name = 'ElasticBenchError';
}

export interface ElasticStep {
  dataplane: 'elastic' | 'fixed';
  step: number;
  inFlight: number;
  /** cores receiving flow groups at the end of the step */
  cores: number;
  /** null for an idle step, or when the client failed (then `error`) */
  result: ConnloadResult | null;
  error?: string;
  /** host CPU seconds the ix run process consumed during the step */
  cpuS: number;
  wallS: number;
}

export interface ElasticBenchResult {
  steps: number[];
  seconds: number;
  conns: number;
  knobs: string;
  rows: ElasticStep[];
  /** the elastic dataplane per step, for the report's plots (report-plots.ts) */
  timeline: { t_s: number; cores: number; rps: number; p99_us: number }[];
}

const PORT = 7;
const CONNS = 64;
const NAME = 'bench-elastic';
/** the policy's thresholds: the load a client on this 2-CPU machine puts on a core is a few
 * percent of its cycles (the same as test/e2e-elastic.test.ts) */
const KNOBS = 'policy = "auto"\ngrow_load = 0.02\nshrink_load = 0.005\nsample_ms = 200\ngrow_after = 2\nshrink_after = 5\n';

export function elasticOptionsFromArgs(args: string[]): { steps: number[]; seconds: number } {
  const val = (n: string) => args.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3);
  const steps = (val('steps') ?? '0,256,0,256,0').split(',').map(Number);
  const seconds = Number(val('seconds') ?? 6);
  if (!steps.length || steps.some((s) => !Number.isInteger(s) || s < 0 || s > CONNS * 64) || !(seconds >= 1 && seconds <= 600))
    throw new ElasticBenchError(`bench elastic: --steps must be integers from 0 to ${CONNS * 64} (messages in flight), --seconds from 1 to 600`);
  return { steps, seconds };
}

const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of a process, seconds (all its threads) */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

function activeCores(): number {
  const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'ix.js'), 'stats', NAME, '--json'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new ElasticBenchError(`ix stats ${NAME} failed: ${r.stderr.trim()}`);
  const s = JSON.parse(r.stdout) as { elastic: { activeCores: number } | null; counters: unknown[] };
  return s.elastic?.activeCores ?? s.counters.length;
}

async function runSide(dataplane: 'elastic' | 'fixed', connload: string, steps: number[], seconds: number, dir: string, rows: ElasticStep[]): Promise<void> {
  const cores = dataplane === 'elastic' ? `[cores]\nmin = 1\nmax = 2\n${KNOBS}` : 'cores = 2\n';
  const top = dataplane === 'elastic' ? '' : cores;
  const table = dataplane === 'elastic' ? cores : '';
  const cfg = join(dir, `${dataplane}.toml`);
  writeFileSync(
    cfg,
    `name = "${NAME}"\nmemory = "256M"\n${top}${table}[app]\npath = ${JSON.stringify(join(PACKAGE_ROOT, 'guest', 'build', 'apps', 'echo.elf'))}\nargs = ["${PORT}"]\nheap = "32M"\n` +
      `[nic]\nnamespace = true\naddress = "${IX_ADDRESS}/24"\ngateway = "10.10.0.1"\n`,
  );
  const ix = await startIx(cfg, PORT, 60_000);
  try {
    const pid = ix.proc.pid;
    if (pid === undefined) throw new ElasticBenchError('ix run has no pid');
    await new Promise((r) => setTimeout(r, 2000)); // start-up settles (and the policy's first samples)
    for (const [i, inFlight] of steps.entries()) {
      const c0 = cpuSeconds(pid);
      const t0 = performance.now();
      let result: ConnloadResult | null = null;
      let error: string | undefined;
      if (inFlight === 0) await new Promise((r) => setTimeout(r, seconds * 1000));
      else {
        const args = ['-a', ix.address, '-p', String(PORT), '-c', String(CONNS), '-A', '10.10.0.1', '-k', '1', '-d', String(seconds), '-r', String(inFlight), '-t', '120'];
        const r = await runClient(ix.netns, [], connload, args, 300_000);
        try {
          result = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ConnloadResult;
          if (r.status !== 0) error = `connload exit ${r.status}: ${r.stderr.split('\n').slice(0, 2).join('; ')}`;
        } catch {
          error = `connload printed no result (exit ${r.status}): ${r.stderr.slice(-300)}`;
        }
      }
      const row: ElasticStep = { dataplane, step: i, inFlight, cores: activeCores(), result, cpuS: cpuSeconds(pid) - c0, wallS: (performance.now() - t0) / 1000, ...(error ? { error } : {}) };
      rows.push(row);
      console.error(`bench elastic: ${dataplane} step ${i} (${inFlight} in flight): ${row.cores} core(s), ${row.cpuS.toFixed(2)} CPU s${result ? `, ${result.rtt_per_s.toFixed(0)} round trips/s, p99 ${result.p99_us} µs` : ''}${error ? ` (${error})` : ''}`);
    }
  } finally {
    await ix.stop();
  }
}

export async function runElasticBench(o: { steps: number[]; seconds: number }): Promise<ElasticBenchResult> {
  const tools = buildE2eTools();
  const dir = mkdtempSync(join(tmpdir(), 'ix-bench-elastic-'));
  const rows: ElasticStep[] = [];
  try {
    await runSide('elastic', tools.connload, o.steps, o.seconds, dir, rows);
    await runSide('fixed', tools.connload, o.steps, o.seconds, dir, rows);
    let t = 0;
    const timeline = rows
      .filter((x) => x.dataplane === 'elastic')
      .map((x) => ({ t_s: (t += x.wallS), cores: x.cores, rps: x.result?.rtt_per_s ?? 0, p99_us: x.result?.p99_us ?? 0 }));
    return { steps: o.steps, seconds: o.seconds, conns: CONNS, knobs: KNOBS.trim().split('\n').join(', '), rows, timeline };
  } catch (e) {
    if (e instanceof E2eBenchError || e instanceof ElasticBenchError) throw e;
    throw new ElasticBenchError(`bench elastic failed: ${(e as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printElasticBench(r: ElasticBenchResult): void {
  console.log(`\nElastic cores: the echo dataplane, [cores] min 1 max 2 (${r.knobs}) against cores = 2`);
  console.log(`${r.conns} connections, ${r.seconds} s per step; in flight 0 = no client\n`);
  for (const line of textTable(ELASTIC_HEAD, elasticCells(r), r.rows.map((x) => x.error))) console.log(line);
  console.log(`\n${elasticCpuLine(r)}`);
}
