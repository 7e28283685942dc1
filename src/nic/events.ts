// The engine's counters (nic-stats layout in shared memory) and its once-per-kind log lines
// about guest misbehaviour.
import { COUNTER_INDEX, NCOUNTERS, type CounterName } from './stats.js';
import type { BadKind } from './virtqueue.js';

/** The engine's own failures: bad construction arguments, broken internal invariants. */
export class EngineError extends Error {
  override name = 'EngineError';
}

export class EngineEvents {
  private readonly logged = new Set<string>();

  constructor(
    private readonly stats: Float64Array,
    private readonly log: (msg: string) => void,
  ) {}

  count(q: number, c: CounterName, n = 1): void {
    const i = q * NCOUNTERS + COUNTER_INDEX[c];
    this.stats[i] = this.stats[i]! + n;
  }

  once(key: string, msg: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.log(msg);
  }

  bad(dir: 'rx' | 'tx', q: number, kind: BadKind, head: number): void {
    this.count(q, `${dir}_bad_${kind}`);
    this.once(`${q}.${dir}.${kind}`, `nic: queue ${q} ${dir}: guest descriptor chain at head ${head} refused (${kind}); dropping it (logged once per kind)`);
  }

  brokenQueue(dir: 'rx' | 'tx', q: number): void {
    const key = `${q}.${dir}.broken`;
    if (this.logged.has(key)) return;
    this.count(q, `${dir}_queue_broken`);
    this.once(key, `nic: queue ${q} ${dir}: available index moved by more than the ring size; queue stopped until the guest resets it`);
  }
}
