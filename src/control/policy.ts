/**
 * The elastic-cores policy (docs/scale.md, "The policy"), IXCP-style and in the control plane:
 * every `sample_ms` it reads the cores' counters from shared memory (no exit, no guest
 * involvement) and decides from two signals over the cores in use:
 *
 * - load: the share of the cores' TSC cycles spent working (busy / (busy + idle), idle
 *   includes halted time), averaged over the cores in use;
 * - queueing: the share of non-empty RX batches that were full (the core took `batch`
 *   frames and left more in its ring: frames waited behind others).
 *
 * It grows by one core when load >= grow_load or queueing >= grow_queue for grow_after
 * samples in a row, and shrinks by one when the same load spread over one core fewer would
 * stay <= shrink_load (and nothing queues) for shrink_after samples in a row. The gap between
 * the thresholds and the streaks are the hysteresis; a change resets both streaks and the
 * sample that straddles it is skipped. Changes go through the same CoreScaler as `ix scale`.
 */
import type { ScaleKnobs } from '../config/types.js';

/** The counters of one core the policy reads (cumulative, as the guest publishes them). */
export interface PolicyCounters {
  busyCycles: number;
  idleCycles: number;
  /** loop passes by frames received, power-of-two buckets (src/abi/stats.ts) */
  rxBatches: number[];
}

export interface PolicyReading {
  /** mean busy share of the cores in use, 0..1 */
  load: number;
  /** share of their non-empty RX batches that were full, 0..1 */
  queueing: number;
}

/** The rx_batches bucket a batch of n frames counts in (guest/kernel/dataplane_loop.c). */
export function batchBucket(n: number, buckets: number): number {
  let b = 0;
  while (n > 0 && b < buckets - 1) {
    b++;
    n >>= 1;
  }
  return b;
}

const grow = (a: number, b: number): number => (b >= a ? b - a : b);

/** Load and queueing of cores 0..active-1 between two samples. */
export function reading(prev: PolicyCounters[], cur: PolicyCounters[], active: number, batch: number): PolicyReading {
  let load = 0;
  let full = 0;
  let nonEmpty = 0;
  for (let c = 0; c < active; c++) {
    const a = prev[c];
    const b = cur[c];
    if (!a || !b) continue;
    const busy = grow(a.busyCycles, b.busyCycles);
    const idle = grow(a.idleCycles, b.idleCycles);
    load += busy + idle > 0 ? busy / (busy + idle) : 0;
    const top = batchBucket(batch, b.rxBatches.length);
    for (let i = 1; i < b.rxBatches.length; i++) {
      const n = grow(a.rxBatches[i] ?? 0, b.rxBatches[i]!);
      nonEmpty += n;
      if (i >= top) full += n;
    }
  }
  return { load: active > 0 ? load / active : 0, queueing: nonEmpty > 0 ? full / nonEmpty : 0 };
}

/** The decision part: fed one reading per sample, says when to use one core more or fewer. */
export class PolicyState {
  private growStreak = 0;
  private shrinkStreak = 0;

  constructor(private readonly k: ScaleKnobs, private readonly min: number, private readonly max: number) {}

  /** The core count to change to after this reading, or null to stay. */
  step(r: PolicyReading, active: number): number | null {
    const k = this.k;
    const hot = r.load >= k.growLoad || r.queueing >= k.growQueue;
    this.growStreak = hot && active < this.max ? this.growStreak + 1 : 0;
    const spread = active > 1 ? (r.load * active) / (active - 1) : Infinity;
    const cold = active > this.min && !hot && spread <= k.shrinkLoad;
    this.shrinkStreak = cold ? this.shrinkStreak + 1 : 0;
    if (this.growStreak >= k.growAfter) {
      this.reset();
      return active + 1;
    }
    if (this.shrinkStreak >= k.shrinkAfter) {
      this.reset();
      return active - 1;
    }
    return null;
  }

  reset(): void {
    this.growStreak = this.shrinkStreak = 0;
  }
}

export interface PolicyRunner {
  stop(): void;
  /** the last reading, for `ix stats` */
  last(): PolicyReading | null;
}

/**
 * Sample every k.sampleMs and apply the decisions through `scaleTo` (the CoreScaler). A
 * change that fails (a scale already running, connections that did not become ready) is
 * logged and tried again after the next streak.
 */
export function runPolicy(o: {
  knobs: ScaleKnobs;
  min: number;
  max: number;
  batch: number;
  sample: () => PolicyCounters[];
  active: () => number;
  scaleTo: (n: number) => Promise<unknown>;
  log: (msg: string) => void;
}): PolicyRunner {
  const state = new PolicyState(o.knobs, o.min, o.max);
  let prev: PolicyCounters[] | null = null;
  let last: PolicyReading | null = null;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    const cur = o.sample();
    if (!cur.length) return;
    const active = o.active();
    if (prev) {
      last = reading(prev, cur, active, o.batch);
      const want = state.step(last, active);
      if (want !== null) {
        busy = true;
        const r = last;
        o.scaleTo(want)
          .then(
            () => o.log(`policy: ${active} -> ${want} cores (load ${r.load.toFixed(2)}, full batches ${r.queueing.toFixed(2)})`),
            (e: Error) => o.log(`policy: ${active} -> ${want} cores failed: ${e.message}`),
          )
          .finally(() => {
            busy = false;
            prev = null; // the next sample starts a fresh interval
          });
        return;
      }
    }
    prev = cur;
  }, o.knobs.sampleMs);
  timer.unref();
  return { stop: () => clearInterval(timer), last: () => last };
}
