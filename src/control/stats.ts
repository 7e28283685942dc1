/**
 * Live dataplane statistics: raw samples of the per-core counters the guest keeps in shared
 * memory (src/abi/stats.ts, read without exits) and of the NIC backend's per-queue counters,
 * turned into per-core rates from two samples, rendered as a table, as JSON or as Prometheus
 * text exposition. The guest's counters come from one table (CORE_COUNTERS); the host adds
 * its NIC drops and vCPU exits.
 */
import { BATCH_BUCKETS, CORE_COUNTERS, type CoreCounterKey } from '../abi/index.js';
import { COUNTERS, queueStatsFromGuest, type CounterName, type NicCounterSource, type QueueStats } from '../nic/stats.js';
import type { NicHandle } from '../nic/backend.js';
import type { CoreStatsSample } from '../vmm/guest-stats.js';
import type { ElasticReport } from './scale.js';

export { BATCH_BUCKETS } from '../abi/index.js';

/** One core's counters as plain numbers (JSON-safe; exact below 2^53). */
export type CoreCounters = { cpu: number; rxBatches: number[] } & Record<CoreCounterKey, number> & {
  /** NIC backend drops on this core's queue pair (every rx_drop_* and tx_drop_* counter) */
  nicDrops: number;
  /** returns from KVM_RUN on this core's vCPU (each 25-38 us on PVM): all, and by reason */
  exits: number;
  hypercallExits: number;
  kickExits: number;
  haltExits: number;
};

/** the host's additions to the guest's counters */
const HOST_COUNTERS = ['nicDrops', 'exits', 'hypercallExits', 'kickExits', 'haltExits'] as const;

export interface Sample {
  /** host monotonic time of the sample, ms */
  t: number;
  cores: CoreCounters[];
  /** the NIC backend's raw per-queue counters (null without a NIC) */
  nic?: QueueStats[] | null;
}

/** One NIC queue pair's rates (the backend's counters, src/nic/stats.ts) */
export interface NicQueueRates {
  queue: number;
  rxFramesPerS: number;
  txFramesPerS: number;
  rxBytesPerS: number;
  txBytesPerS: number;
  rxSteeredCopiesPerS: number;
  /** every rx_drop_* and tx_drop_* counter */
  dropsPerS: number;
  /** frames that found no room in the guest's queue: its RX ring empty of buffers (TAP),
   * the FILL ring empty or the RX ring full (XDP); also counted in dropsPerS for the TAP */
  ringFullPerS: number;
  /** guest descriptors the host refused (rx_bad_*, tx_bad_*, a broken ring, XDP invalid descriptors) */
  refusedPerS: number;
  wakeupsPerS: number;
}

/** Which NIC backend serves the queues, and how its frames reach guest memory. */
export interface NicDescription {
  backend: 'tap' | 'xdp' | 'vhost';
  /** the TAP or the interface the backend works on */
  device: string | null;
  /** zero-copy: the kernel writes into guest buffers (XDP zero-copy mode); copy otherwise */
  mode: 'copy' | 'zero-copy';
  /** who counted the per-queue frames (src/nic/stats.ts, NicCounterSource) */
  counters: NicCounterSource;
}

/** The description of a running backend for `ix stats`. */
export function describeNic(h: Pick<NicHandle, 'tapName' | 'xdp' | 'vhost' | 'counterSource'>): NicDescription {
  const counters = h.counterSource ?? 'backend';
  if (h.xdp) return { backend: 'xdp', device: h.xdp.ifname, mode: h.xdp.copyMode, counters };
  return { backend: h.vhost ? 'vhost' : 'tap', device: h.tapName ?? null, mode: 'copy', counters };
}

export interface CoreRates {
  cpu: number;
  rxPps: number;
  txPps: number;
  rxBytesPerS: number;
  txBytesPerS: number;
  loopsPerS: number;
  /** loop iterations per second by RX batch size (BATCH_BUCKETS) */
  batchesPerS: number[];
  /** mean frames per non-empty RX batch (null without any) */
  meanBatch: number | null;
  bpollsPerS: number;
  /** calls executed per ix_bpoll trap (null without any trap) */
  callsPerBpoll: number | null;
  eventsPerS: number;
  /** gauge */
  tcpConns: number;
  /** SYN-ACKs sent as SYN cookies per second: non-zero means a listener is past its
   * half-open bound, most likely a SYN flood */
  synCookiesPerS: number;
  /** guest stack drops + NIC backend drops, per second */
  dropsPerS: number;
  /** idle_cycles / (busy_cycles + idle_cycles) over the interval (null if neither moved) */
  idleShare: number | null;
  /** vCPU exits to the host per second: all, NIC kicks, halts */
  exitsPerS: number;
  kickExitsPerS: number;
  haltExitsPerS: number;
}

export interface StatsReport {
  name: string;
  pid: number;
  uptimeS: number;
  /** seconds between the two samples the rates come from */
  intervalS: number;
  cores: CoreRates[];
  total: Omit<CoreRates, 'cpu'>;
  /** the newer sample's raw counters */
  counters: CoreCounters[];
  /** per NIC queue pair (null without a NIC) */
  nicQueues?: NicQueueRates[] | null;
  /** the NIC backend's raw per-queue counters of the newer sample (src/nic/stats.ts; null without a NIC) */
  nicCounters?: QueueStats[] | null;
  /** the backend behind nicQueues (null without a NIC) */
  nic?: NicDescription | null;
  /** elastic cores (scale.ts): cores in use, flow groups per core, the changes so far; null for a fixed core count */
  elastic?: ElasticReport | null;
}

const n = (v: bigint | undefined): number => Number(v ?? 0n);
const isDrop = (k: string): boolean => k.startsWith('rx_drop_') || k.startsWith('tx_drop_');
const RING_FULL: readonly string[] = ['rx_drop_no_buffer', 'xdp_rx_fill_empty', 'xdp_rx_ring_full'] satisfies CounterName[];
const isRingFull = (k: string): boolean => RING_FULL.includes(k);
const isRefusal = (k: string): boolean => k.startsWith('rx_bad_') || k.startsWith('tx_bad_') || k.endsWith('_queue_broken') || k === 'xdp_invalid_descs';

/** Combine the guest's and the NIC's counters into one sample. With a NIC whose frames only
 * the guest counts (vhost, `source` "guest") its per-queue frame and byte counters are the
 * guest cores' own. */
export function takeSample(t: number, guest: CoreStatsSample[], nic: QueueStats[] | null, source: NicCounterSource = 'backend'): Sample {
  const fromGuest = () => guest.map((g) => ({ cpu: g.cpu, rxFrames: n(g.rxFrames), txFrames: n(g.txFrames), rxBytes: n(g.rxBytes), txBytes: n(g.txBytes) }));
  return {
    t,
    nic: nic ? (source === 'guest' ? queueStatsFromGuest(nic, fromGuest()) : nic.map((q) => ({ ...q }))) : null,
    cores: guest.map((g) => {
      const q = nic?.[g.cpu];
      let nicDrops = 0;
      if (q) for (const [k, v] of Object.entries(q)) if (isDrop(k)) nicDrops += v;
      const c = {
        cpu: g.cpu,
        rxBatches: BATCH_BUCKETS.map((_, i) => n(g.rxBatches[i])),
        nicDrops,
        exits: g.exits.total,
        hypercallExits: g.exits.hypercall,
        kickExits: g.exits.kick,
        haltExits: g.exits.halt,
      } as CoreCounters;
      for (const { key } of CORE_COUNTERS) c[key] = n(g[key]);
      return c;
    }),
  };
}

/** a counter's growth; a counter that went backwards (a reset) counts from zero */
const d = (a: number, b: number): number => (b >= a ? b - a : b);

function coreRates(a: CoreCounters, b: CoreCounters, secs: number): CoreRates {
  const per = (x: number) => x / secs;
  const dBatches = b.rxBatches.map((v, i) => d(a.rxBatches[i] ?? 0, v));
  const nonEmpty = dBatches.slice(1).reduce((s, v) => s + v, 0);
  const dRx = d(a.rxFrames, b.rxFrames);
  const dBpolls = d(a.bpolls, b.bpolls);
  const dBusy = d(a.busyCycles, b.busyCycles);
  const dIdle = d(a.idleCycles, b.idleCycles);
  return {
    cpu: b.cpu,
    rxPps: per(dRx),
    txPps: per(d(a.txFrames, b.txFrames)),
    rxBytesPerS: per(d(a.rxBytes, b.rxBytes)),
    txBytesPerS: per(d(a.txBytes, b.txBytes)),
    loopsPerS: per(d(a.loops, b.loops)),
    batchesPerS: dBatches.map(per),
    meanBatch: nonEmpty > 0 ? dRx / nonEmpty : null,
    bpollsPerS: per(dBpolls),
    callsPerBpoll: dBpolls > 0 ? d(a.calls, b.calls) / dBpolls : null,
    eventsPerS: per(d(a.events, b.events)),
    tcpConns: b.tcpConns,
    synCookiesPerS: per(d(a.synCookies, b.synCookies)),
    dropsPerS: per(d(a.drops, b.drops) + d(a.nicDrops, b.nicDrops)),
    idleShare: dBusy + dIdle > 0 ? dIdle / (dBusy + dIdle) : null,
    exitsPerS: per(d(a.exits, b.exits)),
    kickExitsPerS: per(d(a.kickExits, b.kickExits)),
    haltExitsPerS: per(d(a.haltExits, b.haltExits)),
  };
}

export class StatsError extends Error {
  override name = 'StatsError';
}

/** Per-core rates between two samples of the same dataplane (b newer than a). */
function nicQueueRates(a: QueueStats[] | null | undefined, b: QueueStats[] | null | undefined, secs: number): NicQueueRates[] | null {
  if (!a || !b || a.length !== b.length) return null;
  return b.map((q, i) => {
    const p = a[i]!;
    // a counter absent from a sample (a backend of an older version) counts as 0
    const per = (k: keyof QueueStats) => d(p[k] ?? 0, q[k] ?? 0) / secs;
    const sum = (is: (k: string) => boolean) => {
      let v = 0;
      for (const k of Object.keys(q) as (keyof QueueStats)[]) if (is(k)) v += d(p[k] ?? 0, q[k]);
      return v / secs;
    };
    return {
      queue: i,
      rxFramesPerS: per('rx_frames'),
      txFramesPerS: per('tx_frames'),
      rxBytesPerS: per('rx_bytes'),
      txBytesPerS: per('tx_bytes'),
      rxSteeredCopiesPerS: per('rx_steered_copies'),
      dropsPerS: sum(isDrop),
      ringFullPerS: sum(isRingFull),
      refusedPerS: sum(isRefusal),
      wakeupsPerS: per('wakeups'),
    };
  });
}

export function rates(a: Sample, b: Sample): { intervalS: number; cores: CoreRates[]; total: Omit<CoreRates, 'cpu'>; nicQueues: NicQueueRates[] | null } {
  const secs = (b.t - a.t) / 1000;
  if (!(secs > 0)) throw new StatsError(`the two samples are not in time order (${a.t} ms, ${b.t} ms)`);
  if (a.cores.length !== b.cores.length) throw new StatsError(`the samples have ${a.cores.length} and ${b.cores.length} cores`);
  const cores = b.cores.map((c, i) => coreRates(a.cores[i]!, c, secs));
  // the total is the rate of the summed counters (so shares and ratios weigh cores by work)
  const sum = (s: Sample): CoreCounters => {
    const z = { cpu: -1, rxBatches: BATCH_BUCKETS.map(() => 0) } as CoreCounters;
    const keys = [...CORE_COUNTERS.map((m) => m.key), ...HOST_COUNTERS];
    for (const k of keys) z[k] = 0;
    for (const c of s.cores) {
      for (const k of keys) z[k] += c[k];
      z.rxBatches = z.rxBatches.map((v, i) => v + (c.rxBatches[i] ?? 0));
    }
    return z;
  };
  const { cpu: _cpu, ...total } = coreRates(sum(a), sum(b), secs);
  return { intervalS: secs, cores, total, nicQueues: nicQueueRates(a.nic, b.nic, secs) };
}

/**
 * Keeps the last few samples so a stats request gets rates over about one second without
 * waiting: the dataplane samples once a second, and a request compares a fresh sample with
 * the newest stored one that is at least minGapMs old.
 */
export class SampleHistory {
  private samples: Sample[] = [];
  constructor(private readonly keep = 4) {}

  add(s: Sample): void {
    this.samples.push(s);
    if (this.samples.length > this.keep) this.samples.shift();
  }

  /** The newest stored sample at least minGapMs older than t, else the oldest one. */
  base(t: number, minGapMs = 500): Sample | null {
    for (let i = this.samples.length - 1; i >= 0; i--) if (t - this.samples[i]!.t >= minGapMs) return this.samples[i]!;
    const first = this.samples[0];
    return first && first.t < t ? first : null;
  }
}

// ---------------------------------------------------------------------------- rendering

const fmtRate = (v: number): string => {
  if (v >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1);
};
const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);

/** The batch-size distribution as shares of non-empty RX batches, e.g. "1:60% 2-3:40%". */
export function batchDistribution(batchesPerS: number[]): string {
  const nonEmpty = batchesPerS.slice(1).reduce((s, v) => s + v, 0);
  if (nonEmpty <= 0) return '-';
  return BATCH_BUCKETS.map((label, i) => [label, batchesPerS[i] ?? 0] as const)
    .slice(1)
    .filter(([, v]) => v > 0)
    .map(([label, v]) => `${label}:${Math.round((v / nonEmpty) * 100)}%`)
    .join(' ');
}

/** Columns right-aligned to their widest cell; with `textLast` the last one is left as it is. */
function table(rows: string[][], textLast = false): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  return rows.map((x) => x.map((v, i) => (textLast && i === x.length - 1 ? v : v.padStart(widths[i]!))).join('  ').trimEnd());
}

/** What the NIC table's heading says about the backend and its counters. */
function nicHeading(nic: NicDescription | null | undefined): string {
  if (!nic) return 'NIC queues';
  const on = nic.device ? ` on ${nic.device}` : '';
  const counted =
    nic.counters === 'guest'
      ? nic.backend === 'xdp'
        ? 'frames and bytes as the guest counted them (it polls the AF_XDP rings itself; the host counts TX kicks, wake-ups and the kernel\'s socket counters)'
        : 'frames and bytes as the guest counted them (the backend counts nothing per queue: drops, refusals and wake-ups read 0; the TAP\'s own counters: ip -s link)'
      : 'counted by the backend';
  return `NIC queues: backend ${nic.backend}${on}, ${nic.mode} mode; ${counted}`;
}

/** The NIC's per-queue table (empty without a NIC). */
function renderNicQueues(r: StatsReport): string[] {
  if (!r.nicQueues?.length) return [];
  const head = ['queue', 'rx pkt/s', 'tx pkt/s', 'rx B/s', 'tx B/s', 'steered/s', 'drops/s', 'ring full/s', 'refused/s', 'wakeups/s'];
  const rows = r.nicQueues.map((q) => [
    String(q.queue),
    fmtRate(q.rxFramesPerS),
    fmtRate(q.txFramesPerS),
    fmtRate(q.rxBytesPerS ?? 0),
    fmtRate(q.txBytesPerS ?? 0),
    fmtRate(q.rxSteeredCopiesPerS),
    fmtRate(q.dropsPerS),
    fmtRate(q.ringFullPerS ?? 0),
    fmtRate(q.refusedPerS ?? 0),
    fmtRate(q.wakeupsPerS),
  ]);
  return ['', nicHeading(r.nic), ...table([head, ...rows])];
}

/** A table for a terminal: one row per core plus a total, then one row per NIC queue. */
export function renderReport(r: StatsReport): string {
  const head = ['core', 'rx pkt/s', 'tx pkt/s', 'rx B/s', 'tx B/s', 'events/s', 'calls/bpoll', 'tcp conns', 'syn cookies/s', 'drops/s', 'idle', 'exits/s', 'rx batch sizes'];
  const row = (label: string, c: Omit<CoreRates, 'cpu'>) => [
    label,
    fmtRate(c.rxPps),
    fmtRate(c.txPps),
    fmtRate(c.rxBytesPerS),
    fmtRate(c.txBytesPerS),
    fmtRate(c.eventsPerS),
    c.callsPerBpoll === null ? '-' : c.callsPerBpoll.toFixed(1),
    String(c.tcpConns),
    fmtRate(c.synCookiesPerS),
    fmtRate(c.dropsPerS),
    pct(c.idleShare),
    fmtRate(c.exitsPerS),
    batchDistribution(c.batchesPerS),
  ];
  const lines = table([head, ...r.cores.map((c) => row(String(c.cpu), c)), ...(r.cores.length > 1 ? [row('all', r.total)] : [])], true);
  return `${r.name} (pid ${r.pid}, up ${Math.round(r.uptimeS)} s; rates over the last ${r.intervalS.toFixed(1)} s)\n${[...lines, ...renderNicQueues(r)].join('\n')}\n` + (r.elastic ? renderElastic(r.elastic) : '');
}

/** The elastic-core lines under the table: cores in use, groups per core, the last change. */
export function renderElastic(e: ElasticReport): string {
  const last = e.events[e.events.length - 1];
  return (
    `cores in use: ${e.activeCores} of ${e.maxCores} (min ${e.minCores}); flow groups per core: ${e.groupsPerCore.join(' ')}\n` +
    `scale operations: ${e.scaleOps} (${e.groupsMoved} flow groups and ${e.connsMoved} TCP connections moved, ${e.scaleMsTotal.toFixed(3)} ms in all; ${e.scaleRefused} refused)` +
    (last ? `; last: ${last.from} -> ${last.to} cores at ${last.at}, ${last.groupsMoved} groups and ${last.connsMoved} connections in ${last.ms.toFixed(3)} ms` : '') +
    '\n'
  );
}

// ---------------------------------------------------------------------------- Prometheus

const METRICS: { key: CoreCounterKey | 'nicDrops'; metric: string; type: 'counter' | 'gauge'; help: string }[] = [
  ...CORE_COUNTERS,
  { key: 'nicDrops', metric: 'ix_nic_drops_total', type: 'counter', help: 'Frames dropped by the host NIC backend on the core\'s queue pair.' },
];

/** ix_vcpu_exits_total by reason; `other` is what the named reasons do not cover (EINTR, ...) */
const EXIT_REASONS: { reason: string; of: (c: CoreCounters) => number }[] = [
  { reason: 'hypercall', of: (c) => c.hypercallExits },
  { reason: 'kick', of: (c) => c.kickExits },
  { reason: 'halt', of: (c) => c.haltExits },
  { reason: 'other', of: (c) => Math.max(0, c.exits - c.hypercallExits - c.kickExits - c.haltExits) },
];

/** A Prometheus label value, escaped. */
export const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** A per-queue counter of the NIC backend other than the descriptor refusals (rx_bad_*, tx_bad_*). */
type NicNamedCounter = Exclude<CounterName, `rx_bad_${string}` | `tx_bad_${string}`>;

/** ix_nic_queue_<counter>_total: the help text of each named per-queue counter (src/nic/stats.ts). */
const NIC_QUEUE_HELP = {
  rx_frames: 'Frames delivered into the queue\'s receive ring.',
  rx_bytes: 'Bytes of the frames delivered into the queue\'s receive ring.',
  rx_steered_copies: 'Frames the host received on another queue and copied to this one, the queue RSS picks.',
  tx_frames: 'Frames taken from the queue\'s transmit ring and sent.',
  tx_bytes: 'Bytes of the frames taken from the queue\'s transmit ring and sent.',
  rx_drop_no_buffer: 'Frames dropped because the queue\'s receive ring had no free buffer.',
  rx_drop_buffer_small: 'Frames dropped because the guest\'s receive buffer was smaller than a frame.',
  rx_drop_oversize: 'Frames from the host longer than the MTU allows, dropped.',
  tx_drop_bad_hdr: 'Transmitted frames dropped because their virtio-net header asked for offloads not negotiated.',
  tx_drop_runt: 'Transmitted frames dropped because they were shorter than an Ethernet header.',
  tx_drop_oversize: 'Transmitted frames dropped because they were longer than the MTU allows.',
  tx_drop_write_error: 'Transmitted frames the host device refused.',
  wakeups: 'Times the queue\'s halted guest core was woken for received frames.',
  rx_queue_broken: 'The receive ring\'s available index jumped by more than the ring size (1 once it happened).',
  tx_queue_broken: 'The transmit ring\'s available index jumped by more than the ring size (1 once it happened).',
  tx_kicks: 'Calls that made the kernel transmit the queue\'s AF_XDP TX ring.',
  xdp_rx_dropped: 'Frames the kernel dropped on the queue\'s AF_XDP socket.',
  xdp_rx_fill_empty: 'Frames that found no buffer in the queue\'s AF_XDP FILL ring.',
  xdp_rx_ring_full: 'Frames dropped because the queue\'s AF_XDP RX ring was full.',
  xdp_invalid_descs: 'AF_XDP RX and TX descriptors the kernel refused.',
} satisfies Record<NicNamedCounter, string>;

/**
 * Prometheus text of the NIC backend: ix_nic_info (the backend, its device, its mode and who
 * counted the frames) and each per-queue counter (`queue` label; queue q serves core q), the
 * descriptor refusals as ix_nic_queue_bad_descriptors_total by ring and kind. Empty without a NIC.
 */
export function nicPrometheus(name: string, nic: NicDescription | null | undefined, queues: QueueStats[] | null | undefined): string {
  if (!nic && !queues?.length) return '';
  const dp = `dataplane="${label(name)}"`;
  const out: string[] = [];
  if (nic) {
    out.push('# HELP ix_nic_info The NIC backend: backend, device, mode (copy or zero-copy) and who counted the per-queue frames (backend or guest).', '# TYPE ix_nic_info gauge');
    out.push(`ix_nic_info{${dp},backend="${nic.backend}",device="${label(nic.device ?? '')}",mode="${nic.mode}",counters="${nic.counters}"} 1`);
  }
  if (!queues?.length) return `${out.join('\n')}\n`;
  const v = (x: number | undefined): number => (Number.isFinite(x) ? x! : 0);
  for (const [key, help] of Object.entries(NIC_QUEUE_HELP) as [NicNamedCounter, string][]) {
    const metric = `ix_nic_queue_${key}_total`;
    out.push(`# HELP ${metric} ${help}`, `# TYPE ${metric} counter`);
    queues.forEach((q, i) => out.push(`${metric}{${dp},queue="${i}"} ${v(q[key])}`));
  }
  out.push('# HELP ix_nic_queue_bad_descriptors_total Guest descriptors the host refused, by ring and kind.', '# TYPE ix_nic_queue_bad_descriptors_total counter');
  queues.forEach((q, i) => {
    for (const k of COUNTERS) {
      const m = /^(rx|tx)_bad_(.+)$/.exec(k);
      if (m) out.push(`ix_nic_queue_bad_descriptors_total{${dp},queue="${i}",ring="${m[1]}",kind="${m[2]}"} ${v(q[k])}`);
    }
  });
  return `${out.join('\n')}\n`;
}

/** Prometheus text exposition (version 0.0.4) of one dataplane's raw counters. */
export function prometheusText(name: string, cores: CoreCounters[]): string {
  const dp = `dataplane="${label(name)}"`;
  const out: string[] = [];
  for (const m of METRICS) {
    out.push(`# HELP ${m.metric} ${m.help}`, `# TYPE ${m.metric} ${m.type}`);
    for (const c of cores) out.push(`${m.metric}{${dp},core="${c.cpu}"} ${c[m.key]}`);
  }
  out.push('# HELP ix_rx_batches_total Dataplane loop iterations by frames received in the iteration.', '# TYPE ix_rx_batches_total counter');
  for (const c of cores) BATCH_BUCKETS.forEach((b, i) => out.push(`ix_rx_batches_total{${dp},core="${c.cpu}",size="${b}"} ${c.rxBatches[i] ?? 0}`));
  out.push('# HELP ix_vcpu_exits_total Returns from KVM_RUN to the host on the core\'s vCPU, by reason (each costs 25-38 us on PVM).', '# TYPE ix_vcpu_exits_total counter');
  for (const c of cores) for (const e of EXIT_REASONS) out.push(`ix_vcpu_exits_total{${dp},core="${c.cpu}",reason="${e.reason}"} ${e.of(c)}`);
  return `${out.join('\n')}\n`;
}
