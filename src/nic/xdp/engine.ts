// The XDP packet mover: the guest's virtio queue pairs (validated by the shared DeviceQueue)
// served from AF_XDP sockets whose UMEM is guest RAM. No frame byte passes through the host
// on receive: the host posts the guest's own RX buffers in the FILL ring (each buffer's
// address minus the kernel's 256-byte headroom, so the frame lands right after the 12-byte
// virtio-net header) and the kernel copies each received frame into one. On transmit the host
// copies a frame (header + app slices) into a bounce slot of guest memory reserved by attach,
// posts it in the TX ring and kicks the kernel with one sendto() per batch.
//
// Sockets: one per interface queue. Socket s takes buffers from virtio queue s % nqueues;
// a frame whose Toeplitz queue differs is copied once into that queue (as the TAP engine does),
// ARP goes to every queue. TX of queue q leaves through socket q.
import * as libc from '../../sys/libc.js';
import type { NicVqAddrs } from '../../abi/nic.js';
import type { GuestMemory } from '../guest-memory.js';
import { errnoText } from '../errno.js';
import { EngineError, EngineEvents } from '../events.js';
import { ETH_HLEN, VNET_HDR_LEN, maxFrameWithHeader } from '../frame.js';
import type { NicPlan } from '../plan.js';
import { copyChain } from '../rx.js';
import { COUNTER_INDEX, NCOUNTERS } from '../stats.js';
import { FrameSteering } from '../steering.js';
import { checkTxChain } from '../tx.js';
import { Chain, DeviceQueue, ForbiddenRanges, availRingBytes, descTableBytes, usedRingBytes } from '../virtqueue.js';
import { RingView } from './ring.js';
import { NativePage } from './scratch.js';
import { XDP_PACKET_HEADROOM, XSK_CHUNK, xskKernelStats, type XskSocket } from './xsk.js';

/** Where the TX bounce slots of each queue are (guest-physical), XSK_CHUNK bytes each. */
export interface XdpBounce {
  start: number;
  slotsPerQueue: number;
}

export interface XdpEngineRuntime {
  mem: GuestMemory;
  /** the live redirection table's entries (reta.ts); absent: plan.rss.reta, fixed */
  reta?: Int32Array;
  rings: { rx: NicVqAddrs[]; tx: NicVqAddrs[] };
  sockets: XskSocket[];
  bounce: XdpBounce;
  stats: Float64Array;
  wake: (q: number) => void;
  log: (msg: string) => void;
}

/** Smallest guest RX buffer the kernel may fill: header + the largest frame a chunk holds. */
export const XDP_RX_MIN_BUFFER = VNET_HDR_LEN + XSK_CHUNK - XDP_PACKET_HEADROOM;
const FILL_OFFSET = XDP_PACKET_HEADROOM - VNET_HDR_LEN;
const STATS_MS = 100;

/** A guest RX buffer the device holds: its chain head, gpa and length; `sock`: the socket
 * whose FILL ring it was last posted to. */
interface Held {
  head: number;
  addr: number;
  len: number;
  sock: number;
}

interface Sock {
  s: XskSocket;
  /** index in socks */
  i: number;
  q: number;
  rx: RingView;
  tx: RingView;
  fill: RingView;
  comp: RingView;
  /** FILL entries posted and not yet received */
  outstanding: number;
  fillTarget: number;
  /** buffers to post again before taking new ones (a steered frame's own buffer) */
  recycle: Held[];
}

export class XdpEngine {
  readonly nq: number;
  private readonly rxq: DeviceQueue[] = [];
  private readonly txq: DeviceQueue[] = [];
  private readonly socks: Sock[] = [];
  /** per virtio RX queue: buffer gpa -> chain, for buffers the kernel holds */
  private readonly held: Map<number, Held>[] = [];
  /** per queue: free TX bounce slots (gpa) */
  private readonly freeSlots: number[][] = [];
  /** per queue, per bounce slot: 1 while it is posted on TX and not completed (only those may
   * come back: a completion for any other slot would put a slot in freeSlots twice) */
  private readonly inFlight: Uint8Array[] = [];
  private readonly touched: boolean[];
  private readonly ev: EngineEvents;
  private readonly steering: FrameSteering;
  private readonly maxFrame: number;
  private readonly batch: number;
  private readonly c = new Chain();
  private readonly tmp = new Chain();
  private passes = 0;
  /** kernel counters are read at most every STATS_MS (two getsockopt per socket) */
  private statsAt = 0;
  private readonly statsPage = new NativePage();

  constructor(plan: NicPlan, private readonly o: XdpEngineRuntime) {
    const nq = plan.nqueues;
    const { rx: rxRings, tx: txRings } = o.rings;
    if (nq < 1 || rxRings.length !== nq || txRings.length !== nq || o.sockets.length < nq)
      throw new EngineError(`need one RX and one TX ring per queue pair and at least one socket per pair for ${nq} pairs: got ${rxRings.length} RX, ${txRings.length} TX, ${o.sockets.length} sockets`);
    if (o.stats.length < nq * NCOUNTERS) throw new EngineError(`stats array too small for ${nq} queues`);
    this.nq = nq;
    this.batch = plan.backend.batch;
    this.maxFrame = maxFrameWithHeader(plan.mtu);
    if (this.maxFrame > XDP_RX_MIN_BUFFER) throw new EngineError(`MTU ${plan.mtu} does not fit a ${XSK_CHUNK}-byte AF_XDP chunk`);
    this.ev = new EngineEvents(o.stats, o.log);
    this.steering = new FrameSteering(o.mem, plan.rss, nq, o.reta);
    const forbidden = new ForbiddenRanges();
    for (const r of [...rxRings, ...txRings]) {
      forbidden.add(Number(r.desc), descTableBytes(r.size));
      forbidden.add(Number(r.avail), availRingBytes(r.size));
      forbidden.add(Number(r.used), usedRingBytes(r.size));
    }
    const { start, slotsPerQueue } = o.bounce;
    if (slotsPerQueue < 1 || !o.mem.check(start, nq * slotsPerQueue * XSK_CHUNK))
      throw new EngineError(`TX bounce area of ${nq} x ${slotsPerQueue} slots at 0x${start.toString(16)} is outside guest memory`);
    forbidden.add(start, nq * slotsPerQueue * XSK_CHUNK);
    for (let q = 0; q < nq; q++) {
      this.rxq.push(new DeviceQueue(o.mem, rxRings[q]!, 'rx', forbidden));
      this.txq.push(new DeviceQueue(o.mem, txRings[q]!, 'tx', forbidden));
      this.held.push(new Map());
      this.freeSlots.push([]);
      this.inFlight.push(new Uint8Array(slotsPerQueue));
    }
    this.touched = new Array<boolean>(nq).fill(false);
    const perQueue = Math.ceil(o.sockets.length / nq);
    o.sockets.forEach((s, i) => {
      const q = i % nq;
      const fillTarget = Math.max(1, Math.min(s.fill.size, Math.floor((rxRings[q]!.size * 3) / 4 / perQueue)));
      if (s.tx.size < slotsPerQueue || s.comp.size < slotsPerQueue) throw new EngineError(`socket ${i}: TX/COMPLETION rings smaller than the ${slotsPerQueue} bounce slots`);
      this.socks.push({
        s, i, q, fillTarget, outstanding: 0, recycle: [],
        rx: new RingView(s.rx, 16), tx: new RingView(s.tx, 16), fill: new RingView(s.fill, 8), comp: new RingView(s.comp, 8),
      });
    });
  }

  attach(): void {
    for (let q = 0; q < this.nq; q++) {
      this.rxq[q]!.attach();
      this.txq[q]!.attach();
      this.held[q]!.clear();
      const slots = this.freeSlots[q]!;
      slots.length = 0;
      this.inFlight[q]!.fill(0);
      for (let i = this.o.bounce.slotsPerQueue - 1; i >= 0; i--) slots.push(this.o.bounce.start + (q * this.o.bounce.slotsPerQueue + i) * XSK_CHUNK);
    }
  }

  close(): void {
    this.statsPage.free(); // the sockets belong to the backend (main thread)
  }

  /** Pop the next RX chain of queue q the kernel may fill (one segment, large enough, not held). */
  private popRx(q: number, c: Chain, forFill: boolean): boolean {
    const rq = this.rxq[q]!;
    for (let refused = 0; refused <= rq.size; refused++) {
      const r = rq.pop(c);
      if (r === 'empty') return false;
      if (r === 'broken') {
        this.ev.brokenQueue('rx', q);
        return false;
      }
      if (r !== 'ok') {
        this.ev.bad('rx', q, r, c.head);
        if (r !== 'bad_head') this.giveBack(q, c.head);
        continue;
      }
      if (forFill && (c.count !== 1 || c.len[0]! < XDP_RX_MIN_BUFFER || c.addr[0]! < FILL_OFFSET || !this.o.mem.check(c.addr[0]! - FILL_OFFSET, XSK_CHUNK))) {
        this.ev.count(q, 'rx_drop_buffer_small');
        this.ev.once(`${q}.rx.small`, `nic: queue ${q} rx: buffer of ${c.total} bytes in ${c.count} segment(s) cannot take an AF_XDP frame (one segment of at least ${XDP_RX_MIN_BUFFER} bytes); returning it unused`);
        this.giveBack(q, c.head);
        continue;
      }
      if (!forFill && c.total < this.maxFrame) {
        this.ev.count(q, 'rx_drop_buffer_small');
        this.giveBack(q, c.head);
        continue;
      }
      if (this.held[q]!.has(c.addr[0]!)) {
        this.ev.count(q, 'rx_bad_in_flight');
        this.ev.once(`${q}.rx.inflight`, `nic: queue ${q} rx: guest posted buffer 0x${c.addr[0]!.toString(16)} again while the device holds it; returning it unused`);
        this.giveBack(q, c.head);
        continue;
      }
      return true;
    }
    return false;
  }

  private giveBack(q: number, head: number, len = 0): void {
    this.rxq[q]!.pushUsed(head, len);
    this.touched[q] = true;
  }

  /** Post guest RX buffers of the socket's queue into its FILL ring, up to its target. */
  private refill(k: Sock): number {
    const q = k.q;
    const fill = k.fill;
    let prod = fill.producer();
    const room = fill.size - ((prod - fill.consumer()) >>> 0);
    let posted = 0;
    const held = this.held[q]!;
    while (posted < room && k.outstanding < k.fillTarget) {
      let h = k.recycle.pop();
      if (h && held.has(h.addr)) {
        // the guest posted the same address again while this buffer waited here: both are its
        // buffers; give this one back empty rather than hand the kernel one address twice
        this.ev.count(q, 'rx_bad_in_flight');
        this.giveBack(q, h.head);
        continue;
      }
      if (!h) {
        if (!this.popRx(q, this.c, true)) break;
        h = { head: this.c.head, addr: this.c.addr[0]!, len: this.c.len[0]!, sock: k.i };
      }
      h.sock = k.i;
      held.set(h.addr, h);
      fill.setAddr(prod, h.addr - FILL_OFFSET);
      prod = (prod + 1) >>> 0;
      k.outstanding++;
      posted++;
    }
    if (posted > 0) fill.setProducer(prod);
    return posted;
  }

  /** Frames the kernel put in socket k's RX ring, handed to the guest. */
  private rxPass(k: Sock): number {
    const rx = k.rx;
    const prod = rx.producer();
    let cons = rx.consumer();
    const avail = (prod - cons) >>> 0;
    if (avail === 0) return 0;
    const n = Math.min(avail, this.batch);
    const q = k.q;
    const held = this.held[q]!;
    const mem = this.o.mem;
    for (let i = 0; i < n; i++) {
      const { lo, hi } = rx.addr(cons);
      const len = rx.dv.getUint32(rx.at(cons) + 8, true);
      cons = (cons + 1) >>> 0;
      const base = (hi & 0xffff) * 0x100000000 + lo;
      const off = hi >>> 16;
      const buf = base + FILL_OFFSET;
      const h = held.get(buf);
      if (!h) {
        // not one of ours (a kernel bug): it consumed no FILL entry of ours either, so it does
        // not count against the fill target (counting it would let FILL grow past the target)
        this.ev.once(`${q}.rx.unknown`, `nic: queue ${q} rx: the kernel returned address 0x${base.toString(16)} that the host does not hold; ignoring it`);
        continue;
      }
      held.delete(buf);
      this.socks[h.sock]!.outstanding--; // the FILL entry it was posted with
      const n12 = len + VNET_HDR_LEN;
      if (base + off !== buf + VNET_HDR_LEN || n12 > h.len) {
        this.ev.once(`${q}.rx.layout`, `nic: queue ${q} rx: frame of ${len} bytes at offset ${off} does not fit buffer 0x${buf.toString(16)}; dropping`);
        this.giveBack(q, h.head);
        continue;
      }
      mem.u8.fill(0, buf, buf + VNET_HDR_LEN);
      this.deliver(k, h, n12);
    }
    rx.setConsumer(cons);
    return n;
  }

  /** A frame of n bytes (with header) is in buffer h of queue k.q. */
  private deliver(k: Sock, h: Held, n: number): void {
    const q = k.q;
    const c = this.c;
    c.head = h.head;
    c.count = 1;
    c.addr[0] = h.addr;
    c.len[0] = h.len;
    c.total = h.len;
    if (n < VNET_HDR_LEN + ETH_HLEN || n > this.maxFrame) {
      this.ev.count(q, 'rx_drop_oversize');
      this.giveBack(q, h.head);
      return;
    }
    if (this.nq > 1 && this.steering.isArp(c)) {
      for (let t = 0; t < this.nq; t++) if (t !== q) this.deliverCopy(c, t, n);
      this.deliverInPlace(q, h.head, n);
      return;
    }
    const t = this.steering.queueOf(c, n);
    if (t === q) {
      this.deliverInPlace(q, h.head, n);
      return;
    }
    this.deliverCopy(c, t, n);
    k.recycle.push(h); // the buffer stays ours: post it to the kernel again
  }

  private deliverInPlace(q: number, head: number, n: number): void {
    this.giveBack(q, head, n);
    this.ev.count(q, 'rx_frames');
    this.ev.count(q, 'rx_bytes', n - VNET_HDR_LEN);
  }

  private deliverCopy(c: Chain, t: number, n: number): void {
    if (!this.popRx(t, this.tmp, false)) {
      this.ev.count(t, 'rx_drop_no_buffer');
      return;
    }
    copyChain(this.o.mem, c, this.tmp, n);
    this.deliverInPlace(t, this.tmp.head, n);
    this.ev.count(t, 'rx_steered_copies');
  }

  /** Guest TX ring of queue q -> bounce slots -> socket q's TX ring, one kick per batch. */
  private txPass(q: number): number {
    const k = this.socks[q]!;
    this.reclaim(k);
    const tq = this.txq[q]!;
    const slots = this.freeSlots[q]!;
    const tx = k.tx;
    let prod = tx.producer();
    const mem = this.o.mem;
    const c = this.c;
    let work = 0;
    let posted = 0;
    let touched = false;
    while (work < this.batch && slots.length > 0) {
      const r = tq.pop(c);
      if (r === 'empty') break;
      if (r === 'broken') {
        this.ev.brokenQueue('tx', q);
        break;
      }
      work++;
      touched = true;
      if (r !== 'ok') {
        this.ev.bad('tx', q, r, c.head);
        if (r !== 'bad_head') tq.pushUsed(c.head, 0);
        continue;
      }
      if (!checkTxChain(mem, this.ev, q, c, this.maxFrame)) {
        tq.pushUsed(c.head, 0);
        continue;
      }
      const slot = slots.pop()!;
      this.inFlight[q]![(slot - this.o.bounce.start) / XSK_CHUNK - q * this.o.bounce.slotsPerQueue] = 1;
      // gather the frame (without the virtio-net header) into the slot
      let at = slot;
      let skip = VNET_HDR_LEN;
      for (let i = 0; i < c.count; i++) {
        const a = c.addr[i]!;
        const l = c.len[i]!;
        if (skip >= l) {
          skip -= l;
          continue;
        }
        mem.u8.copyWithin(at, a + skip, a + l);
        at += l - skip;
        skip = 0;
      }
      const o = tx.at(prod);
      tx.setAddr(prod, slot);
      tx.dv.setUint32(o + 8, at - slot, true);
      tx.dv.setUint32(o + 12, 0, true);
      prod = (prod + 1) >>> 0;
      posted++;
      tq.pushUsed(c.head, 0);
      this.ev.count(q, 'tx_frames');
      this.ev.count(q, 'tx_bytes', at - slot);
    }
    if (posted > 0) {
      tx.setProducer(prod);
      this.kick(k);
    }
    if (touched && tq.publish()) {
      this.ev.count(q, 'wakeups');
      this.o.wake(q);
    }
    return work;
  }

  /** Make the kernel send socket k's TX ring (copy mode sends from sendto, 32 frames per call). */
  private kick(k: Sock): void {
    for (let i = 0; i < 16; i++) {
      if (k.tx.consumer() === k.tx.producer()) return;
      this.ev.count(k.q, 'tx_kicks');
      const r = libc.sendto(k.s.fd, 0, 0, libc.MSG_DONTWAIT, 0, 0);
      if (r < 0) {
        const e = libc.errno();
        if (e === libc.ENOBUFS) this.reclaim(k);
        else if (e !== libc.EAGAIN && e !== libc.EBUSY && e !== libc.EINTR) {
          this.ev.once(`${k.q}.tx.kick`, `nic: queue ${k.q}: AF_XDP transmit failed: ${errnoText(e)} (is the interface up?)`);
          return;
        }
      }
    }
  }

  /** Bounce slots the kernel has sent (COMPLETION ring) become free again. */
  private reclaim(k: Sock): void {
    const comp = k.comp;
    const prod = comp.producer();
    let cons = comp.consumer();
    if (prod === cons) return;
    const { start, slotsPerQueue } = this.o.bounce;
    const lo0 = start + k.q * slotsPerQueue * XSK_CHUNK;
    const slots = this.freeSlots[k.q]!;
    const inFlight = this.inFlight[k.q]!;
    while (cons !== prod) {
      const { lo, hi } = comp.addr(cons);
      cons = (cons + 1) >>> 0;
      const a = (hi & 0xffff) * 0x100000000 + lo;
      const i = (a - lo0) / XSK_CHUNK;
      if (Number.isInteger(i) && i >= 0 && i < slotsPerQueue && inFlight[i] === 1) {
        inFlight[i] = 0;
        slots.push(a);
      } else this.ev.once(`${k.q}.tx.comp`, `nic: queue ${k.q}: completion for 0x${a.toString(16)}, not a bounce slot in flight (outside them, sent never or completed already); ignoring it`);
    }
    comp.setConsumer(cons);
  }

  pollOnce(): number {
    let work = 0;
    for (let q = 0; q < this.nq; q++) work += this.txPass(q);
    for (const k of this.socks) {
      work += this.rxPass(k);
      this.refill(k);
    }
    for (let q = 0; q < this.nq; q++) {
      if (!this.touched[q]) continue;
      this.touched[q] = false;
      if (this.rxq[q]!.publish()) {
        this.ev.count(q, 'wakeups');
        this.o.wake(q);
      }
    }
    if ((++this.passes & 1023) === 0) this.kernelStats();
    return work;
  }

  /** Copy the sockets' kernel counters into the queue statistics (at most every STATS_MS). */
  kernelStats(): void {
    const now = performance.now();
    if (now - this.statsAt < STATS_MS) return;
    this.statsAt = now;
    const sum = new Array<number[]>(this.nq).fill([]).map(() => [0, 0, 0, 0]);
    for (const k of this.socks) {
      let st;
      try {
        st = xskKernelStats(k.s.fd, this.statsPage);
      } catch {
        continue; // not a kernel socket (the unit tests' fake rings)
      }
      const a = sum[k.q]!;
      a[0]! += st.rxDropped;
      a[1]! += st.rxFillRingEmpty;
      a[2]! += st.rxRingFull;
      a[3]! += st.rxInvalidDescs + st.txInvalidDescs;
    }
    const names = ['xdp_rx_dropped', 'xdp_rx_fill_empty', 'xdp_rx_ring_full', 'xdp_invalid_descs'] as const;
    for (let q = 0; q < this.nq; q++) names.forEach((n, i) => (this.o.stats[q * NCOUNTERS + COUNTER_INDEX[n]] = sum[q]![i]!));
  }

  /** Before sleeping: ask for kicks; the socket fds to wait on, or null if work arrived. */
  sleepFds(): number[] | null {
    this.kernelStats();
    for (let q = 0; q < this.nq; q++) if (this.txq[q]!.enableKick()) return null;
    for (const k of this.socks) {
      if (k.outstanding < k.fillTarget && this.rxq[k.q]!.enableKick()) return null;
      if (k.rx.producer() !== k.rx.consumer()) return null;
    }
    return this.socks.map((k) => k.s.fd);
  }
}
