// RX path of the engine: TAP fd -> guest RX ring. A frame is read straight into a buffer of
// the fd's own queue; if RSS names another queue it is copied once into a buffer of that
// queue (rx_steered_copies), ARP is copied to every queue. A queue without buffers leaves
// frames in the kernel (back-pressure); a frame for a queue without buffers is dropped.
// While a flow group moves between cores (its redirection table entry has RETA_HOLD), its
// frames are copied into host memory and held, in arrival order; once the entry names a queue
// again they go to that queue first, and later frames of the group queue up behind them.
import type { GuestMemory } from './guest-memory.js';
import * as libc from '../sys/libc.js';
import { errnoText } from './errno.js';
import { EngineError, type EngineEvents } from './events.js';
import { ETH_HLEN, VNET_HDR_LEN } from './frame.js';
import type { Nicio } from './nicio.js';
import { BURST, type IoScratch } from './scratch.js';
import type { FrameSteering } from './steering.js';
import { Chain, type DeviceQueue } from './virtqueue.js';
import { RETA_HOLD, RETA_QUEUE_MASK } from './toeplitz.js';

/** frames held per flow group, and in all, while groups move (beyond: dropped like a full ring) */
export const HOLD_MAX_PER_GROUP = 4096;
export const HOLD_MAX = 32768;

/** Copy n bytes from chain a to chain b (both validated, b.total >= n), inside guest memory. */
export function copyChain(mem: GuestMemory, a: Chain, b: Chain, n: number): void {
  if (n > a.total || n > b.total) throw new EngineError(`internal: copy of ${n} bytes between chains of ${a.total} and ${b.total}`);
  const u8 = mem.u8;
  let ai = 0;
  let ao = 0;
  let bi = 0;
  let bo = 0;
  while (n > 0) {
    const k = Math.min(n, a.len[ai]! - ao, b.len[bi]! - bo);
    const src = a.addr[ai]! + ao;
    u8.copyWithin(b.addr[bi]! + bo, src, src + k);
    n -= k;
    ao += k;
    bo += k;
    if (ao === a.len[ai]) {
      ai++;
      ao = 0;
    }
    if (bo === b.len[bi]) {
      bi++;
      bo = 0;
    }
  }
}

export interface RxPathParts {
  mem: GuestMemory;
  queues: DeviceQueue[];
  /** one fd per queue */
  fds: number[];
  events: EngineEvents;
  scratch: IoScratch;
  steering: FrameSteering;
  /** frames per queue per pass */
  batch: number;
  /** smallest usable RX buffer (header + largest frame) */
  minBuffer: number;
  /** largest frame (with header) the guest's MTU allows */
  maxFrame: number;
  /** burst I/O helper, or undefined for one koffi call per frame */
  nicio: Nicio | undefined;
}

export class RxPath {
  private readonly nq: number;
  private readonly stash: Chain[] = [];
  private readonly stashValid: boolean[] = [];
  private readonly tmp = new Chain();
  private readonly touched: boolean[];
  // burst I/O: popped chains not yet filled, per queue
  private readonly ready: Chain[][] = [];
  private readonly spare: Chain[] = [];
  /** frames held per redirection table entry (a moving flow group), oldest first */
  private readonly held = new Map<number, Uint8Array[]>();
  private heldTotal = 0;

  constructor(private readonly p: RxPathParts) {
    this.nq = p.queues.length;
    for (let q = 0; q < this.nq; q++) {
      this.stash.push(new Chain());
      this.stashValid.push(false);
    }
    this.touched = new Array<boolean>(this.nq).fill(false);
    if (p.nicio) {
      for (let q = 0; q < this.nq; q++) this.ready.push([]);
      for (let i = 0; i < (this.nq + 1) * BURST.max; i++) this.spare.push(new Chain());
    }
  }

  /** Forget buffers popped before (the guest's current indices are the new start). */
  reset(q: number): void {
    this.stashValid[q] = false;
    if (this.ready[q]) this.spare.push(...this.ready[q]!.splice(0));
  }

  /** Does queue q hold a guest buffer ready for the next frame? */
  hasBuffer(q: number): boolean {
    return this.stashValid[q]! || (this.ready[q]?.length ?? 0) > 0;
  }

  /** Publish the used entries of queue q if any were added; true if the guest asked for a wake. */
  publish(q: number): boolean {
    if (!this.touched[q]) return false;
    this.touched[q] = false;
    return this.p.queues[q]!.publish();
  }

  /** Pop the next usable RX chain of queue q into c, refusing bad ones. */
  private pop(q: number, c: Chain): boolean {
    const rq = this.p.queues[q]!;
    const ev = this.p.events;
    // bounded: a guest that keeps posting bad buffers cannot hold the backend here forever
    for (let refused = 0; refused <= rq.size; refused++) {
      const r = rq.pop(c);
      if (r === 'ok') {
        if (c.total >= this.p.minBuffer) return true;
        ev.count(q, 'rx_drop_buffer_small');
        ev.once(`${q}.rx.small`, `nic: queue ${q} rx: buffer of ${c.total} bytes is smaller than ${this.p.minBuffer} (header + max frame); returning it unused`);
        rq.pushUsed(c.head, 0);
        this.touched[q] = true;
        continue;
      }
      if (r === 'empty') return false;
      if (r === 'broken') {
        ev.brokenQueue('rx', q);
        return false;
      }
      ev.bad('rx', q, r, c.head);
      if (r !== 'bad_head') {
        rq.pushUsed(c.head, 0);
        this.touched[q] = true;
      }
    }
    return false;
  }

  /**
   * A frame of n bytes (with header) landed in chain c of queue q: hand it to the queue RSS
   * names. Returns true if c was consumed (given to the guest), false if it can be reused.
   */
  private deliver(q: number, c: Chain, n: number): boolean {
    if (n < VNET_HDR_LEN + ETH_HLEN) return false; // nothing a stack could use
    if (n > this.p.maxFrame) {
      // larger than the guest's MTU allows (the TAP's MTU was raised on the host side): the
      // guest's buffers are sized for its MTU, so such a frame is truncated or unusable
      this.p.events.count(q, 'rx_drop_oversize');
      this.p.events.once(`${q}.rx.oversize`, `nic: queue ${q} rx: ${n - VNET_HDR_LEN}-byte frame exceeds the MTU; dropping (is the TAP's MTU larger than the guest's?)`);
      return false;
    }
    if (this.nq > 1 && this.p.steering.isArp(c)) {
      // Every core keeps its own ARP cache (no shared state on the fast path): an ARP frame
      // goes to every queue, so a reply to any core's request teaches them all.
      for (let t = 0; t < this.nq; t++) if (t !== q) this.deliverCopy(c, t, n);
      this.deliverInPlace(c, q, n);
      return true;
    }
    let t = 0;
    if (this.nq > 1) {
      const e = this.p.steering.entryOf(c, n);
      if (e >= 0) {
        const v = this.p.steering.valueAt(e);
        // a moving group, or one whose held frames have not all gone out yet: keep the order
        if ((v & RETA_HOLD) !== 0 || this.held.has(e)) {
          this.hold(e, c, n, q);
          return false;
        }
        t = v & RETA_QUEUE_MASK;
      }
    }
    if (t === q) {
      this.deliverInPlace(c, q, n);
      return true;
    }
    this.deliverCopy(c, t, n);
    return false;
  }

  /** Copy the frame in chain c (read on queue q) into host memory, behind entry e's others. */
  private hold(e: number, c: Chain, n: number, q: number): void {
    let list = this.held.get(e);
    if (this.heldTotal >= HOLD_MAX || (list?.length ?? 0) >= HOLD_MAX_PER_GROUP) {
      this.p.events.count(q, 'rx_drop_no_buffer');
      this.p.events.once(`${q}.rx.hold`, `nic: queue ${q} rx: more frames of a moving flow group than can be held; dropping`);
      return;
    }
    const f = new Uint8Array(n);
    const u8 = this.p.mem.u8;
    for (let i = 0, o = 0; i < c.count && o < n; i++) {
      const k = Math.min(c.len[i]!, n - o);
      f.set(u8.subarray(c.addr[i]!, c.addr[i]! + k), o);
      o += k;
    }
    if (list === undefined) this.held.set(e, (list = []));
    list.push(f);
    this.heldTotal++;
  }

  /** Frames held for flow groups that have a queue again go to it, oldest first, as far as
   * its ring has buffers (the rest waits for the next pass). Returns the frames delivered. */
  releaseHeld(): number {
    if (this.held.size === 0) return 0;
    let done = 0;
    const u8 = this.p.mem.u8;
    for (const [e, list] of this.held) {
      const v = this.p.steering.valueAt(e);
      if ((v & RETA_HOLD) !== 0) continue;
      const t = v & RETA_QUEUE_MASK;
      let i = 0;
      while (i < list.length && this.pop(t, this.tmp)) {
        const f = list[i++]!;
        if (this.tmp.total < f.length) {
          this.p.events.count(t, 'rx_drop_buffer_small');
          this.p.queues[t]!.pushUsed(this.tmp.head, 0);
          this.touched[t] = true;
          continue;
        }
        for (let s = 0, o = 0; o < f.length; s++) {
          const k = Math.min(this.tmp.len[s]!, f.length - o);
          u8.set(f.subarray(o, o + k), this.tmp.addr[s]!);
          o += k;
        }
        this.deliverInPlace(this.tmp, t, f.length);
        done++;
      }
      list.splice(0, i);
      this.heldTotal -= i;
      if (list.length === 0) this.held.delete(e);
    }
    return done;
  }

  /** Frames held for moving flow groups (all groups). */
  heldFrames(): number {
    return this.heldTotal;
  }

  /** Give chain c (a buffer of queue q) to the guest as it is. */
  private deliverInPlace(c: Chain, q: number, n: number): void {
    this.p.queues[q]!.pushUsed(c.head, n);
    this.touched[q] = true;
    this.p.events.count(q, 'rx_frames');
    this.p.events.count(q, 'rx_bytes', n - VNET_HDR_LEN);
  }

  /** Copy the frame in chain c into a fresh buffer of queue t (or count the drop). */
  private deliverCopy(c: Chain, t: number, n: number): void {
    if (!this.pop(t, this.tmp)) {
      this.p.events.count(t, 'rx_drop_no_buffer');
      return;
    }
    copyChain(this.p.mem, c, this.tmp, n);
    this.deliverInPlace(this.tmp, t, n);
    this.p.events.count(t, 'rx_steered_copies');
  }

  private readFailed(q: number): void {
    const e = libc.errno();
    if (e !== libc.EAGAIN && e !== libc.EINTR) this.p.events.once(`${q}.rx.read`, `nic: queue ${q}: read from TAP failed: ${errnoText(e)}`);
  }

  /** Move up to `batch` frames from queue q's fd into the guest. Returns the frames read. */
  pass(q: number): number {
    if (this.p.nicio) return this.passBurst(q, this.p.nicio);
    const fd = this.p.fds[q]!;
    const c = this.stash[q]!;
    const mem = this.p.mem;
    let work = 0;
    while (work < this.p.batch) {
      if (!this.stashValid[q]) {
        if (!this.pop(q, c)) break;
        this.stashValid[q] = true;
      }
      const n = c.count === 1 ? libc.read(fd, mem.host(c.addr[0]!), c.len[0]!) : libc.readv(fd, this.p.scratch.fillIov(c), c.count);
      if (n < 0) {
        this.readFailed(q);
        break;
      }
      if (n === 0) break;
      work++;
      if (this.deliver(q, c, n)) this.stashValid[q] = false;
    }
    return work;
  }

  /** RX with up to `batch` single-segment buffers filled per FFI call. */
  private passBurst(q: number, nicio: Nicio): number {
    const fd = this.p.fds[q]!;
    const ready = this.ready[q]!;
    const { bArea, bDv } = this.p.scratch;
    const dv = bDv!;
    while (ready.length < this.p.batch) {
      const c = this.spare.pop() ?? new Chain();
      if (!this.pop(q, c)) {
        this.spare.push(c);
        break;
      }
      ready.push(c);
    }
    if (ready.length === 0) return 0;
    // a burst covers the leading single-segment chains; a chained buffer goes alone
    let k = 0;
    while (k < ready.length && ready[k]!.count === 1) {
      dv.setBigUint64(BURST.addr + 8 * k, BigInt(this.p.mem.host(ready[k]!.addr[0]!)), true);
      dv.setUint32(BURST.len + 4 * k, ready[k]!.len[0]!, true);
      k++;
    }
    let got: number;
    if (k === 0) {
      const c = ready[0]!;
      const n = libc.readv(fd, this.p.scratch.fillIov(c), c.count);
      if (n < 0) this.readFailed(q);
      if (n <= 0) return 0;
      dv.setInt32(BURST.out, n, true);
      got = 1;
    } else {
      got = nicio.readBurst(fd, bArea + BURST.addr, bArea + BURST.len, bArea + BURST.out, k);
      if (got < 0) {
        this.p.events.once(`${q}.rx.read`, `nic: queue ${q}: read from TAP failed: ${errnoText(-got)}`);
        return 0;
      }
    }
    let keep = 0;
    for (let i = 0; i < ready.length; i++) {
      const c = ready[i]!;
      if (i < got && this.deliver(q, c, dv.getInt32(BURST.out + 4 * i, true))) this.spare.push(c);
      else ready[keep++] = c;
    }
    ready.length = keep;
    return got;
  }
}
