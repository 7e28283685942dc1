/**
 * Elastic cores (docs/scale.md): `ix scale <name> <n>` changes how many of a running
 * dataplane's cores receive flows. Every core up to `[cores] max` exists from the start; a
 * core is in use when the NIC's redirection table names its queue. Scaling rewrites the table
 * with as few flow groups moved as possible (src/nic/reta.ts): growing gives the new cores
 * their share of groups, shrinking hands the leaving cores' groups to the others, and a core
 * left without a group halts and waits in the host.
 *
 * With a mover (migrate.ts: the TAP backend) a group's TCP connections move with it (IX's
 * flow-group migration), a few groups at a time. Without one (the XDP backend holds no
 * frames) a group whose core holds connections cannot move: its next segments would reach a
 * core that does not know them, which answers with a reset. Then a change is refused while a
 * core that would lose groups holds TCP connections, and says so.
 */
import { performance } from 'node:perf_hooks';
import { groupsPerQueue, rebalanceReta, type SharedReta } from '../nic/reta.js';
import { MigrateError, type FlowGroupMover } from './migrate.js';
import { label } from './stats.js';

/** flow groups moved per step (their connections go through one record array per core) */
const GROUPS_PER_STEP = 8;

/** One change of the core count, as `ix stats` and the metrics report it. */
export interface ScaleEvent {
  /** wall-clock time of the change (ISO 8601) */
  at: string;
  from: number;
  to: number;
  /** redirection table entries (flow groups) that changed queue */
  groupsMoved: number;
  /** time from the request to the rewritten table, ms */
  ms: number;
  /** TCP connections that moved with their groups */
  connsMoved: number;
  /** of them, those the new core could not adopt (their peers see resets) */
  connsFailed: number;
  /** who asked: the operator (`ix scale`) or the policy ([cores] policy = "auto") */
  by?: 'ix scale' | 'policy';
}

export class ScaleError extends Error {
  override name = 'ScaleError';
}

export interface ElasticReport {
  minCores: number;
  maxCores: number;
  activeCores: number;
  /** flow groups (redirection table entries) per core; 0 = the core is parked */
  groupsPerCore: number[];
  scaleOps: number;
  groupsMoved: number;
  /** total time of the changes, ms */
  scaleMsTotal: number;
  /** requests refused (out of range, or live connections on a core that would lose groups) */
  scaleRefused: number;
  /** TCP connections moved with their flow groups, in all */
  connsMoved: number;
  /** live connections move with their groups (false: a change waits for them to close) */
  migrates: boolean;
  /** the latest changes, oldest first (at most EVENTS_KEPT) */
  events: ScaleEvent[];
}

const EVENTS_KEPT = 32;

export interface ScalerOptions {
  name: string;
  min: number;
  max: number;
  reta: SharedReta;
  /** TCP connections each core holds now (index = core), from the guest's counters */
  conns: () => number[];
  /** moves connections with their groups; absent: refuse while a losing core holds any */
  mover?: FlowGroupMover;
}

export class CoreScaler {
  private active: number;
  private busy = false;
  private ops = 0;
  private moved = 0;
  private msTotal = 0;
  private refused = 0;
  private connsMoved = 0;
  private readonly events: ScaleEvent[] = [];

  constructor(private readonly o: ScalerOptions) {
    if (o.min < 1 || o.min > o.max || o.max > o.reta.nqueues)
      throw new ScaleError(`cores min ${o.min} / max ${o.max} with ${o.reta.nqueues} NIC queues: want 1 <= min <= max <= queues`);
    const per = groupsPerQueue(o.reta.entries, o.reta.nqueues);
    this.active = per.reduce((last, g, q) => (g > 0 ? q + 1 : last), 0);
  }

  get activeCores(): number {
    return this.active;
  }

  report(): ElasticReport {
    return {
      minCores: this.o.min,
      maxCores: this.o.max,
      activeCores: this.active,
      groupsPerCore: groupsPerQueue(this.o.reta.entries, this.o.reta.nqueues),
      scaleOps: this.ops,
      groupsMoved: this.moved,
      scaleMsTotal: this.msTotal,
      scaleRefused: this.refused,
      connsMoved: this.connsMoved,
      migrates: this.o.mover !== undefined,
      events: [...this.events],
    };
  }

  private refuse(msg: string): never {
    this.refused++;
    throw new ScaleError(msg);
  }

  /** Use `n` cores from now on. Resolves with what changed; rejects with ScaleError. */
  async scaleTo(n: unknown, by?: ScaleEvent['by']): Promise<ScaleEvent> {
    const t0 = performance.now();
    const { name, min, max } = this.o;
    if (typeof n !== 'number' || !Number.isInteger(n))
      this.refuse(`the core count must be an integer from ${min} to ${max} (got ${JSON.stringify(n)})`);
    if (min === max) this.refuse(`dataplane '${name}' has a fixed core count (${max}); give it [cores] min and max in its config to scale it`);
    if (n < min || n > max) this.refuse(`${n} cores is outside dataplane '${name}''s [cores] min ${min} .. max ${max}; pick a count in that range`);
    if (this.busy) this.refuse('another scale request is being applied; try again');
    this.busy = true;
    try {
      const from = this.active;
      const cur = this.o.reta.snapshot();
      const next = rebalanceReta(cur, n);
      const losers = new Map<number, number>(); // core -> groups it would give up
      for (let i = 0; i < cur.length; i++) if (cur[i] !== next[i]) losers.set(cur[i]!, (losers.get(cur[i]!) ?? 0) + 1);
      if (this.o.mover) return await this.migrate(from, n, cur, next, t0, by);
      const conns = this.o.conns();
      const busy = [...losers.keys()].filter((c) => (conns[c] ?? 0) > 0).sort((a, b) => a - b);
      if (busy.length)
        this.refuse(
          `${busy.map((c) => `core ${c} holds ${conns[c]} TCP connection${conns[c] === 1 ? '' : 's'}`).join(', ')} in the flow groups that going from ${from} to ${n} cores would move; ` +
            'this NIC backend (XDP) cannot hold a moving group\'s frames, so live connections cannot move with their flow group and their peers would see resets: ' +
            'scale when those connections have closed (`ix stats` shows the TCP connections per core)',
        );
      let groups = 0;
      for (const c of losers.values()) groups += c;
      if (groups > 0) this.o.reta.set(next);
      this.active = n;
      return this.record({ at: new Date().toISOString(), from, to: n, groupsMoved: groups, ms: performance.now() - t0, connsMoved: 0, connsFailed: 0, ...(by ? { by } : {}) });
    } finally {
      this.busy = false;
    }
  }

  private record(ev: ScaleEvent): ScaleEvent {
    this.ops++;
    this.moved += ev.groupsMoved;
    this.connsMoved += ev.connsMoved;
    this.msTotal += ev.ms;
    this.events.push(ev);
    if (this.events.length > EVENTS_KEPT) this.events.shift();
    return ev;
  }

  /** Move the groups that change core, with their connections, GROUPS_PER_STEP at a time. */
  private async migrate(from: number, n: number, cur: number[], next: number[], t0: number, by?: ScaleEvent['by']): Promise<ScaleEvent> {
    const pairs = new Map<string, { src: number; dst: number; entries: number[] }>();
    for (let i = 0; i < cur.length; i++) {
      if (cur[i] === next[i]) continue;
      const k = `${cur[i]}>${next[i]}`;
      let p = pairs.get(k);
      if (!p) pairs.set(k, (p = { src: cur[i]!, dst: next[i]!, entries: [] }));
      p.entries.push(i);
    }
    let groups = 0;
    let conns = 0;
    let failed = 0;
    const total = [...pairs.values()].reduce((s, p) => s + p.entries.length, 0);
    try {
      for (const p of pairs.values()) {
        for (let k = 0; k < p.entries.length; k += GROUPS_PER_STEP) {
          const r = await this.o.mover!.move(p.entries.slice(k, k + GROUPS_PER_STEP), p.src, p.dst);
          groups += r.groups;
          conns += r.conns;
          failed += r.failed;
        }
      }
    } catch (e) {
      if (!(e instanceof MigrateError)) throw e;
      // what moved stays moved: each entry names one core, whichever it is
      const per = groupsPerQueue(this.o.reta.entries, this.o.reta.nqueues);
      this.active = per.reduce((last, g, q) => (g > 0 ? q + 1 : last), 0);
      this.record({ at: new Date().toISOString(), from, to: this.active, groupsMoved: groups, ms: performance.now() - t0, connsMoved: conns, connsFailed: failed, ...(by ? { by } : {}) });
      this.refuse(`moved ${groups} of ${total} flow groups (${conns} connections), then: ${e.message}`);
    }
    this.active = n;
    return this.record({ at: new Date().toISOString(), from, to: n, groupsMoved: groups, ms: performance.now() - t0, connsMoved: conns, connsFailed: failed, ...(by ? { by } : {}) });
  }
}

/** Prometheus text of the elastic-core figures (appended to the per-core metrics). */
export function elasticPrometheus(dataplane: string, r: ElasticReport): string {
  const dp = `dataplane="${label(dataplane)}"`;
  const metric = (name: string, type: 'gauge' | 'counter', help: string, rows: [string, number | string][]) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...rows.map(([labels, v]) => `${name}{${dp}${labels}} ${v}`),
  ];
  const out = [
    ...metric('ix_active_cores', 'gauge', 'Cores that receive flow groups (the others are parked: halted, their vCPU waiting in the host).', [['', r.activeCores]]),
    ...metric('ix_flow_groups', 'gauge', 'Flow groups (RSS redirection table entries) each core receives.', r.groupsPerCore.map((g, c) => [`,core="${c}"`, g])),
    ...metric('ix_scale_operations_total', 'counter', 'Changes of the core count (ix scale).', [['', r.scaleOps]]),
    ...metric('ix_scale_refused_total', 'counter', 'Scale requests refused.', [['', r.scaleRefused]]),
    ...metric('ix_flow_groups_moved_total', 'counter', 'Flow groups moved to another core by scale operations.', [['', r.groupsMoved]]),
    ...metric('ix_scale_connections_moved_total', 'counter', 'TCP connections moved to another core with their flow group.', [['', r.connsMoved]]),
    ...metric('ix_scale_seconds_total', 'counter', 'Time spent applying scale operations.', [['', (r.scaleMsTotal / 1000).toFixed(6)]]),
  ];
  return `${out.join('\n')}\n`;
}
