// Per-queue NIC counters, kept in a SharedArrayBuffer the backend worker writes and the
// main thread reads without messages (Float64: exact up to 2^53).
import { BAD_KINDS } from './virtqueue.js';

export const COUNTERS = [
  'rx_frames', // frames delivered into this queue's RX ring
  'rx_bytes', // frame bytes (without the 12-byte virtio-net header)
  'rx_steered_copies', // frames read through another queue's fd and copied here (RSS != TAP choice)
  'tx_frames', // frames taken from this queue's TX ring and written to the TAP
  'tx_bytes',
  'rx_drop_no_buffer', // RSS picked this queue but its RX ring was empty
  'rx_drop_buffer_small', // RX chain smaller than header + max frame
  'rx_drop_oversize', // a frame from the TAP longer than MTU + Ethernet/VLAN header (host side MTU raised?)
  'tx_drop_bad_hdr', // virtio_net_hdr asks for offloads that were not negotiated
  'tx_drop_runt', // shorter than an Ethernet header
  'tx_drop_oversize', // longer than header + MTU + Ethernet/VLAN header
  'tx_drop_write_error', // the TAP refused the frame
  'wakeups', // times the guest was woken (RX used_event crossed)
  ...BAD_KINDS.map((k) => `rx_bad_${k}` as const),
  ...BAD_KINDS.map((k) => `tx_bad_${k}` as const),
  'rx_queue_broken', // avail.idx moved by more than the ring size (1 when it happened)
  'tx_queue_broken',
  // the XDP backend (src/nic/xdp/); zero with the TAP backend
  'rx_bad_in_flight', // the guest posted a buffer the device still holds (refused, returned empty)
  'tx_kicks', // sendto() calls that made the kernel transmit the TX ring
  'xdp_rx_dropped', // the kernel's counters of this queue's AF_XDP socket(s) (XDP_STATISTICS): frames dropped
  'xdp_rx_fill_empty', // frames that found no buffer in the FILL ring
  'xdp_rx_ring_full', // frames dropped because the RX ring was full
  'xdp_invalid_descs', // RX + TX descriptors the kernel refused
] as const;
export type CounterName = (typeof COUNTERS)[number];
export const NCOUNTERS = COUNTERS.length;
export const COUNTER_INDEX: Record<CounterName, number> = Object.fromEntries(COUNTERS.map((c, i) => [c, i])) as Record<
  CounterName,
  number
>;

export type QueueStats = Record<CounterName, number>;

export function readStats(arr: Float64Array, nqueues: number): QueueStats[] {
  const out: QueueStats[] = [];
  for (let q = 0; q < nqueues; q++) {
    const s = {} as QueueStats;
    COUNTERS.forEach((c, i) => (s[c] = arr[q * NCOUNTERS + i]!));
    out.push(s);
  }
  return out;
}

/**
 * Who counts a backend's per-queue frames: the backend itself (TAP, XDP with host rings: the
 * host moves every frame), or the guest (XDP with `xdp_rings = "guest"`: the guest polls the
 * AF_XDP rings and the host sees no frame; vhost-net: the kernel moves the frames and counts them for nobody we
 * can read per queue, so the frame and byte counters are the guest's own per-core counts of
 * frames its stack took from and handed to its queue, core q owning queue q; drops, refusals
 * and wake-ups stay 0).
 */
export type NicCounterSource = 'backend' | 'guest';

/** The guest's per-core frame counters (struct ix_core_stats) as the host read them. */
export interface GuestQueueCounters {
  cpu: number;
  rxFrames: number;
  txFrames: number;
  rxBytes: number;
  txBytes: number;
}

/**
 * The vhost backend's per-queue counters: the backend's own (all 0) with the frame and byte
 * counters taken from the guest core that owns each queue. A core the guest reports outside
 * 0..nqueues-1 is ignored; a queue no core reports stays 0. Guest values are untrusted: a
 * negative or non-finite count reads as 0.
 */
export function queueStatsFromGuest(own: QueueStats[], cores: GuestQueueCounters[]): QueueStats[] {
  const out = own.map((q) => ({ ...q }));
  const ok = (v: number): number => (Number.isFinite(v) && v > 0 ? v : 0);
  for (const c of cores) {
    const q = Number.isInteger(c.cpu) && c.cpu >= 0 ? out[c.cpu] : undefined;
    if (!q) continue;
    q.rx_frames = ok(c.rxFrames);
    q.rx_bytes = ok(c.rxBytes);
    q.tx_frames = ok(c.txFrames);
    q.tx_bytes = ok(c.txBytes);
  }
  return out;
}
