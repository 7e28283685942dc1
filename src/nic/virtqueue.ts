// Device side of a virtio 1.x split virtqueue over guest memory (virtio 1.2 §2.7), with
// VIRTIO_RING_F_EVENT_IDX. The ring *addresses* come from the host (it allocated them); the
// ring *contents* are written by the guest and are untrusted: every index, descriptor
// address, length, flag and chain link is checked here before the backend touches memory.
import type { GuestMemory } from './guest-memory.js';
import type { NicVqAddrs } from '../abi/nic.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VQ_RING, VqAvailHdr, VqDesc, VqUsedElem, VqUsedHdr } from '../abi/virtio.js';

export { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../abi/virtio.js';
export const VRING_DESC_SIZE = VqDesc.size;
// the per-frame loop reads the rings at these offsets (declared once, in src/abi/virtio.ts)
const IDX = VqUsedHdr.at.idx;
const AVAIL_IDX = VqAvailHdr.at.idx;
const D_ADDR = VqDesc.at.addr;
const D_LEN = VqDesc.at.len;
const D_FLAGS = VqDesc.at.flags;
const D_NEXT = VqDesc.at.next;
const U_SIZE = VqUsedElem.size;
const U_ID = VqUsedElem.at.id;
const U_LEN = VqUsedElem.at.len;
/** Most segments one chain may have (virtio-net TX: header mbuf + NET_IOV_MAX slices + slack). */
export const MAX_CHAIN_SEGS = 64;

export const descTableBytes = (size: number): number => VRING_DESC_SIZE * size;
export const availRingBytes = (size: number): number => VQ_RING + 2 * size + 2;
export const usedRingBytes = (size: number): number => VQ_RING + U_SIZE * size + 2;

/** Why a chain was refused. Each is a per-queue counter (`drop_<kind>`). */
export const BAD_KINDS = [
  'bad_head',          // avail ring names a descriptor index >= size
  'desc_out_of_range', // addr/len outside guest memory (or above 2^53)
  'desc_overlaps_ring',// a buffer covers a descriptor table or ring
  'chain_loop',        // the next links revisit a descriptor
  'chain_too_long',    // more than MAX_CHAIN_SEGS segments
  'bad_flags',         // INDIRECT (not negotiated) or wrong direction (RX must be writable, TX read-only)
  'bad_next',          // next >= size
  'zero_len',          // a segment of length 0
] as const;
export type BadKind = (typeof BAD_KINDS)[number];

export class VirtqueueLayoutError extends Error {
  override name = 'VirtqueueLayoutError';
}

/** Full memory fence: a sequentially consistent atomic op is a locked instruction on x86. */
const fenceCell = new Int32Array(new SharedArrayBuffer(4));
export function fence(): void {
  Atomics.add(fenceCell, 0, 0);
}

/** One descriptor chain, validated. Reused between pops (no allocation per packet). */
export class Chain {
  head = 0;
  count = 0;
  total = 0;
  readonly addr = new Float64Array(MAX_CHAIN_SEGS); // guest-physical
  readonly len = new Uint32Array(MAX_CHAIN_SEGS);
}

export type PopResult = 'ok' | 'empty' | 'broken' | BadKind;

/** Half-open guest-physical ranges that no buffer may overlap (the rings themselves). */
export class ForbiddenRanges {
  private starts: number[] = [];
  private ends: number[] = [];
  add(start: number, len: number): void {
    this.starts.push(start);
    this.ends.push(start + len);
    // keep merged and sorted: a handful of entries, built once
    const idx = this.starts.map((_, i) => i).sort((a, b) => this.starts[a]! - this.starts[b]!);
    const s: number[] = [];
    const e: number[] = [];
    for (const i of idx) {
      const st = this.starts[i]!;
      const en = this.ends[i]!;
      if (s.length > 0 && st <= e[e.length - 1]!) e[e.length - 1] = Math.max(e[e.length - 1]!, en);
      else {
        s.push(st);
        e.push(en);
      }
    }
    this.starts = s;
    this.ends = e;
  }
  overlaps(start: number, len: number): boolean {
    const end = start + len;
    for (let i = 0; i < this.starts.length; i++) if (start < this.ends[i]! && this.starts[i]! < end) return true;
    return false;
  }
}

export class DeviceQueue {
  readonly size: number;
  private readonly desc: number;
  private readonly avail: number;
  private readonly used: number;
  private readonly dv: DataView;
  /** next avail ring slot to consume (free-running u16) */
  lastAvail = 0;
  /** used.idx as we will publish it (free-running u16) */
  private usedIdx = 0;
  /** used.idx last published (for the EVENT_IDX notification check) */
  private publishedUsed = 0;
  broken = false;
  private readonly visited: Uint32Array;
  private gen = 0;

  constructor(
    private readonly mem: GuestMemory,
    addrs: NicVqAddrs,
    /** 'rx': buffers the device writes; 'tx': buffers the device reads */
    readonly dir: 'rx' | 'tx',
    private readonly forbidden: ForbiddenRanges,
  ) {
    const size = addrs.size;
    if (size < 1 || size > 32768 || (size & (size - 1)) !== 0)
      throw new VirtqueueLayoutError(`queue size ${size} is not a power of two in 1..32768`);
    const desc = Number(addrs.desc);
    const avail = Number(addrs.avail);
    const used = Number(addrs.used);
    const parts: [string, number, number, number][] = [
      ['descriptor table', desc, descTableBytes(size), 16],
      ['available ring', avail, availRingBytes(size), 2],
      ['used ring', used, usedRingBytes(size), 4],
    ];
    for (const [what, at, len, align] of parts) {
      if (!mem.check(at, len))
        throw new VirtqueueLayoutError(`${dir} ${what} at 0x${at.toString(16)} (+${len}) is outside guest memory of ${mem.size} bytes`);
      if (at % align !== 0) throw new VirtqueueLayoutError(`${dir} ${what} at 0x${at.toString(16)} is not ${align}-byte aligned`);
    }
    this.size = size;
    this.desc = desc;
    this.avail = avail;
    this.used = used;
    this.dv = mem.dv;
    this.visited = new Uint32Array(size);
  }

  /**
   * Start (or restart) serving the ring. used.idx is the one index only the device writes,
   * so it says how far the device got: for a fresh ring (host-zeroed) everything is 0 and
   * every buffer the guest posted since is pending. Chains in flight at a restart are lost.
   */
  attach(): void {
    this.lastAvail = this.usedIdx = this.publishedUsed = this.dv.getUint16(this.used + IDX, true);
    this.broken = false;
  }

  /** Buffers the guest posted that we have not consumed; -1 if avail.idx is impossible. */
  pending(): number {
    const n = (this.dv.getUint16(this.avail + AVAIL_IDX, true) - this.lastAvail) & 0xffff;
    return n > this.size ? -1 : n;
  }

  /**
   * Take the next chain off the available ring into `c`. A refused chain (any BadKind other
   * than bad_head) is consumed and must be returned with `pushUsed(c.head, 0)` by the caller;
   * bad_head is consumed and cannot be returned. 'broken' means avail.idx moved by more than
   * the ring size: the queue stops until the guest resets it.
   */
  pop(c: Chain): PopResult {
    if (this.broken) return 'broken';
    const n = this.pending();
    if (n === 0) return 'empty';
    if (n < 0) {
      this.broken = true;
      return 'broken';
    }
    const dv = this.dv;
    const mask = this.size - 1;
    const head = dv.getUint16(this.avail + VQ_RING + 2 * (this.lastAvail & mask), true);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    c.head = head;
    c.count = 0;
    c.total = 0;
    if (head >= this.size) return 'bad_head';
    if (++this.gen === 0xffffffff) {
      this.visited.fill(0);
      this.gen = 1;
    }
    const wantWrite = this.dir === 'rx' ? VIRTQ_DESC_F_WRITE : 0;
    let i = head;
    for (;;) {
      if (this.visited[i] === this.gen) return 'chain_loop';
      this.visited[i] = this.gen;
      if (c.count === MAX_CHAIN_SEGS) return 'chain_too_long';
      const d = this.desc + VRING_DESC_SIZE * i;
      const lo = dv.getUint32(d + D_ADDR, true);
      const hi = dv.getUint32(d + D_ADDR + 4, true);
      const len = dv.getUint32(d + D_LEN, true);
      const flags = dv.getUint16(d + D_FLAGS, true);
      if (hi >= 0x200000) return 'desc_out_of_range'; // >= 2^53: not a safe JS number, and never RAM
      const addr = hi * 0x100000000 + lo;
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0 || (flags & VIRTQ_DESC_F_WRITE) !== wantWrite) return 'bad_flags';
      if (len === 0) return 'zero_len';
      if (!this.mem.check(addr, len)) return 'desc_out_of_range';
      if (this.forbidden.overlaps(addr, len)) return 'desc_overlaps_ring';
      c.addr[c.count] = addr;
      c.len[c.count] = len;
      c.count++;
      c.total += len;
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) return 'ok';
      i = dv.getUint16(d + D_NEXT, true);
      if (i >= this.size) return 'bad_next';
    }
  }

  /** Give back one chain (not visible to the guest until publish()). */
  pushUsed(head: number, len: number): void {
    const e = this.used + VQ_RING + U_SIZE * (this.usedIdx & (this.size - 1));
    this.dv.setUint32(e + U_ID, head, true);
    this.dv.setUint32(e + U_LEN, len, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
  }

  /**
   * Publish used entries pushed since the last call (one store of used.idx per batch).
   * Returns true if the guest asked to be notified (EVENT_IDX: used_event was crossed).
   */
  publish(): boolean {
    if (this.usedIdx === this.publishedUsed) return false;
    const old = this.publishedUsed;
    const now = this.usedIdx;
    // x86 keeps stores in order, so the entries are visible before the index.
    this.dv.setUint16(this.used + IDX, now, true);
    this.publishedUsed = now;
    fence(); // the index store must be visible before we read used_event
    const usedEvent = this.dv.getUint16(this.avail + VQ_RING + 2 * this.size, true);
    return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
  }

  /**
   * Ask the guest to kick when it posts the next buffer (EVENT_IDX: avail_event = what we
   * have consumed). Returns true if buffers are already pending (do not sleep then).
   */
  enableKick(): boolean {
    this.dv.setUint16(this.used + VQ_RING + U_SIZE * this.size, this.lastAvail, true);
    fence();
    const n = this.pending();
    if (n < 0) this.broken = true;
    return n > 0;
  }
}
