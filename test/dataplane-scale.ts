// Elastic cores from a test (docs/scale.md): `ix scale` on a dataplane started with
// startDataplane, waiting for the policy to reach a core count, `ix stats`, and a bounded stop.
// Every failure says what ix answered, what the cores were doing and what `ix run` warned about.
import { expect } from 'vitest';
import { ix } from './ix-cli.js';
import type { RunningDataplane } from './dataplane-proc.js';
import type { StatsReport } from '../src/control/stats.js';
import type { ElasticReport } from '../src/control/scale.js';

/** `ix scale` waits up to 120 s for its answer (src/cli/scale.ts); ours is above it, so that a
 * slow change fails with ix's message of what it waited for. */
export const SCALE_MS = 150_000;

/** `ix stats --json` of a running dataplane; it must answer. */
export function stats(name: string): StatsReport {
  const r = ix(['stats', name, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as StatsReport;
}

/** the last warnings (and worse) `ix run` logged */
export const warnings = (dp: RunningDataplane): string => JSON.stringify(dp.records.filter((x) => Number(x.level) >= 40).slice(-10));

/** What a failed change leaves to look at: the cores' [loops, halts, TCP connections] a
 * second apart (a core whose loops stand still did not run) and what `ix run` warned about. */
export async function diagnose(name: string, dp: RunningDataplane): Promise<string> {
  const loops = () => {
    const r = ix(['stats', name, '--json']);
    if (r.status !== 0) return `ix stats failed: ${r.stderr.trim()}`;
    return JSON.stringify((JSON.parse(r.stdout) as StatsReport).counters.map((c) => [c.loops, c.halts, c.tcpConns]));
  };
  const l0 = loops();
  await new Promise((res) => setTimeout(res, 1000));
  return `cores' [loops, halts, conns] ${l0}, a second later ${loops()}; warnings: ${warnings(dp)}`;
}

/** `ix scale name n` (it returns once the change is in effect): its stdout. */
export async function scale(dp: RunningDataplane, name: string, n: number, json = false): Promise<string> {
  const r = ix(['scale', name, String(n), ...(json ? ['--json'] : [])], SCALE_MS);
  if (r.status === 0) return r.stdout;
  const why = r.signal ? `killed by ${r.signal} after ${SCALE_MS} ms` : `exit ${r.status}: ${r.stderr.trim()}`;
  throw new Error(`ix scale ${name} ${n} failed, ${why}; ${await diagnose(name, dp)}`);
}

/** `ix scale name n --json`: the change it made (from, to, groupsMoved, connsMoved, ms, ...). */
export async function scaleJson(dp: RunningDataplane, name: string, n: number): Promise<Record<string, number>> {
  return JSON.parse(await scale(dp, name, n, true)) as Record<string, number>;
}

/** Wait (bounded) until the core policy has taken the dataplane to `n` cores; `what` says when, for the error. */
export async function untilPolicyCores(dp: RunningDataplane, name: string, n: number, what: string, ms = 60_000): Promise<ElasticReport> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const e = stats(name).elastic!;
    if (e.activeCores === n && e.events.some((x) => x.by === 'policy' && x.to === n)) return e;
    await new Promise((r) => setTimeout(r, 100));
  }
  const said = dp.records.filter((r) => r.level === 'warn' || r.level === 40 || /refused|failed|moved \d+ of/.test(String(r.msg))).map((r) => String(r.msg)).slice(-8);
  throw new Error(
    `the policy did not go to ${n} core(s) within ${ms / 1000} s ${what}; elastic report: ${JSON.stringify(stats(name).elastic)}; ` +
      `ix run said: ${JSON.stringify(said)}; ${await diagnose(name, dp)}`,
  );
}

/** Stop the dataplane, bounded: a stop that hangs fails the test saying so (ix run is killed). */
export async function stopBounded(dp: RunningDataplane, ms = 60_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const end = await Promise.race([dp.stop(), timeout]);
  clearTimeout(timer);
  if (end === 'timeout') {
    dp.proc.kill('SIGKILL');
    throw new Error(`ix run did not end within ${ms / 1000} s of SIGTERM (killed); warnings: ${warnings(dp)}`);
  }
  return end.code;
}
