/**
 * The host half of the runaway-app watchdog ([app] max_run_ms; docs/protection.md, "Runaway
 * apps"). The guest kernel stamps each CPU's status with the TSC at which it last entered
 * the app (0 while the kernel runs); this class samples the stamps on a timer and names the
 * CPUs whose app has been in the same run for at least max_run_ms of host time. The machine
 * then kicks that vCPU, whose worker injects IX_VECTOR_RUNAWAY; the guest checks its own
 * clock before it stops the app. No exits while apps behave: reading a stamp is a load from
 * guest memory.
 */

/** How often the stamps are read: a quarter of the limit (detection within 1.25x of it). */
export function runawaySamplePeriodMs(maxRunMs: number): number {
  return Math.min(Math.max(Math.floor(maxRunMs / 4), 1), 250);
}

/** A run the watchdog found too long. */
export interface RunawayRun {
  cpu: number;
  /** the app_since stamp of that run */
  stamp: bigint;
}

export class RunawayWatchdog {
  /** per CPU: the stamp seen at the last sample and the host time it was first seen */
  private readonly seen: { stamp: bigint; sinceMs: number }[];

  constructor(readonly ncpus: number, readonly maxRunMs: number) {
    if (!Number.isInteger(ncpus) || ncpus < 1) throw new RangeError(`runaway watchdog: ${ncpus} CPUs; need at least 1`);
    if (!Number.isFinite(maxRunMs) || maxRunMs <= 0) throw new RangeError(`runaway watchdog: max_run_ms ${maxRunMs} must be positive`);
    this.seen = Array.from({ length: ncpus }, () => ({ stamp: 0n, sinceMs: 0 }));
  }

  /**
   * One sample: `stamps[cpu]` is that CPU's app_since (0n: the kernel runs, not the app),
   * `nowMs` the host's monotonic clock. Returns the runs that have lasted max_run_ms or more
   * since they were first seen, i.e. the app has not returned for at least that long. A run
   * stays overdue until its stamp changes: the caller may ask again at the next sample.
   */
  sample(stamps: readonly bigint[], nowMs: number): RunawayRun[] {
    const out: RunawayRun[] = [];
    for (let cpu = 0; cpu < this.ncpus; cpu++) {
      const stamp = stamps[cpu] ?? 0n;
      const s = this.seen[cpu]!;
      if (stamp !== s.stamp) {
        s.stamp = stamp;
        s.sinceMs = nowMs;
        continue;
      }
      if (stamp !== 0n && nowMs - s.sinceMs >= this.maxRunMs) out.push({ cpu, stamp });
    }
    return out;
  }
}
