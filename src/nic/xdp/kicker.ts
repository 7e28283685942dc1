// The host's whole share of the packet path when the guest polls its AF_XDP rings itself
// (xdp_rings = "guest", docs/nic.md): (a) kick transmit — in copy mode the kernel sends a
// socket's TX ring only from sendto(), so after the guest published TX descriptors one
// sendto(fd, NULL, 0, MSG_DONTWAIT) per socket moves them (up to 32 frames a call); (b) wake a
// halted core when frames arrive for it. No frame byte and no descriptor passes through here.
//
// Driven by the NIC worker loop (serve.ts): pollOnce() while there is work and for spinUs
// after it, then sleepFds() and poll(2) on the doorbell eventfd (the guest's `out`, a KVM
// ioeventfd), the stop eventfd and the sockets of the queues whose core is about to halt.
// The guest rings the doorbell only while ctl.kick_wanted is 1, which is set here just before
// sleeping (the EVENT_IDX idea with one flag): a busy kicker is never rung.
import * as libc from '../../sys/libc.js';
import { XskCtl, XskInfo } from '../../abi/xsk.js';
import { errnoText } from '../errno.js';
import { EngineError, EngineEvents } from '../events.js';
import type { GuestMemory } from '../guest-memory.js';
import type { NicPoller } from '../serve.js';
import { COUNTER_INDEX, NCOUNTERS } from '../stats.js';
import { RingView } from './ring.js';
import { NativePage } from './scratch.js';
import { xskKernelStats, type XskSocket } from './xsk.js';

export interface XskKickerRuntime {
  mem: GuestMemory;
  sockets: XskSocket[];
  /** guest-physical address of struct ix_xsk_info (its ctl words are shared with the guest) */
  infoGpa: number;
  stats: Float64Array;
  wake: (q: number) => void;
  log: (msg: string) => void;
}

const STATS_MS = 100;

interface Q {
  fd: number;
  rx: RingView;
  tx: RingView;
  /** Int32Array indices of ctl.kick_wanted and ctl.halt_seq in guest memory */
  kickAt: number;
  haltAt: number;
  /** TX producer at the last kick */
  kicked: number;
  /** the last kick left frames in the TX ring (the device was busy): retried on every pass */
  stuck: boolean;
  /** halt_seq the last wake answered */
  seenHalt: number;
}

export class XskKicker implements NicPoller {
  readonly nq: number;
  private readonly qs: Q[] = [];
  private readonly ctl: Int32Array;
  private readonly ev: EngineEvents;
  private sleeping = false;
  /** after a sleep: kick TX rings that still hold frames even if nothing new was posted */
  private retry = false;
  private statsAt = 0;
  private readonly statsPage = new NativePage();

  constructor(nq: number, private readonly o: XskKickerRuntime) {
    if (nq < 1 || o.sockets.length < nq) throw new EngineError(`the AF_XDP kicker needs one socket per queue: ${nq} queues, ${o.sockets.length} sockets`);
    if (o.stats.length < nq * NCOUNTERS) throw new EngineError(`stats array too small for ${nq} queues`);
    if (o.infoGpa % 4096 !== 0 || !o.mem.check(o.infoGpa, XskInfo.size)) throw new EngineError(`the AF_XDP ring description at 0x${o.infoGpa.toString(16)} is outside guest memory`);
    this.nq = nq;
    this.ev = new EngineEvents(o.stats, o.log);
    this.ctl = new Int32Array(o.mem.u8.buffer, o.mem.u8.byteOffset + o.infoGpa, XskInfo.size / 4);
    for (let q = 0; q < nq; q++) {
      const s = o.sockets[q]!;
      const c = (XskInfo.fields.ctl.at + q * XskCtl.size) / 4;
      this.qs.push({ fd: s.fd, rx: new RingView(s.rx, 16), tx: new RingView(s.tx, 16), kickAt: c + XskCtl.fields.kickWanted.at / 4, haltAt: c + XskCtl.fields.haltSeq.at / 4, kicked: 0, stuck: false, seenHalt: 0 });
    }
  }

  attach(): void {
    for (const k of this.qs) {
      k.kicked = k.tx.producer();
      k.seenHalt = Atomics.load(this.ctl, k.haltAt);
      Atomics.store(this.ctl, k.kickAt, 0);
    }
  }

  close(): void {
    for (const k of this.qs) Atomics.store(this.ctl, k.kickAt, 1); // a guest still running rings the (unwatched) doorbell rather than wait
    this.statsPage.free();
  }

  pollOnce(): number {
    if (this.sleeping) {
      this.sleeping = false;
      for (const k of this.qs) Atomics.store(this.ctl, k.kickAt, 0);
    }
    let work = 0;
    for (let q = 0; q < this.nq; q++) {
      const k = this.qs[q]!;
      const prod = k.tx.producer();
      const cons = k.tx.consumer();
      if (prod !== k.kicked || (cons !== prod && (k.stuck || this.retry))) {
        const fresh = prod !== k.kicked;
        k.kicked = prod;
        this.kick(q, k);
        const left = k.tx.consumer();
        k.stuck = left !== prod;
        // work: new descriptors, or the kernel took some; a device that takes nothing lets the
        // thread sleep (the poll timeout retries)
        if (fresh || left !== cons) work++;
      }
      const h = Atomics.load(this.ctl, k.haltAt);
      if (h !== k.seenHalt && k.rx.producer() !== k.rx.consumer()) {
        k.seenHalt = h;
        this.ev.count(q, 'wakeups');
        this.o.wake(q);
        work++;
      }
    }
    this.retry = false;
    this.kernelStats();
    return work;
  }

  /** sendto until the kernel has taken the TX ring (copy mode: at most 32 frames per call). */
  private kick(q: number, k: Q): void {
    for (let i = 0; i < 16; i++) {
      if (k.tx.consumer() === k.tx.producer()) return;
      this.ev.count(q, 'tx_kicks');
      if (libc.sendto(k.fd, 0, 0, libc.MSG_DONTWAIT, 0, 0) < 0) {
        const e = libc.errno();
        if (e === libc.EAGAIN || e === libc.ENOBUFS || e === libc.EBUSY) return; // completion ring full: the guest reclaims, the next pass retries
        if (e !== libc.EINTR) {
          this.ev.once(`${q}.tx.kick`, `nic: queue ${q}: AF_XDP transmit failed: ${errnoText(e)} (is the interface up?)`);
          return;
        }
      }
    }
  }

  /** Ask for the doorbell, look again, and name the sockets of halting cores to watch. */
  sleepFds(): number[] | null {
    for (const k of this.qs) Atomics.store(this.ctl, k.kickAt, 1); // seq-cst: before the loads below
    this.sleeping = true;
    this.retry = true;
    const fds: number[] = [];
    for (const k of this.qs) {
      if (k.tx.producer() !== k.kicked) return null;
      if (Atomics.load(this.ctl, k.haltAt) !== k.seenHalt) {
        if (k.rx.producer() !== k.rx.consumer()) return null;
        fds.push(k.fd);
      }
    }
    return fds;
  }

  /** The sockets' kernel counters into the queue statistics (at most every STATS_MS). */
  private kernelStats(): void {
    const now = performance.now();
    if (now - this.statsAt < STATS_MS) return;
    this.statsAt = now;
    for (let q = 0; q < this.nq; q++) {
      let st;
      try {
        st = xskKernelStats(this.qs[q]!.fd, this.statsPage);
      } catch {
        continue;
      }
      const base = q * NCOUNTERS;
      this.o.stats[base + COUNTER_INDEX.xdp_rx_dropped] = st.rxDropped;
      this.o.stats[base + COUNTER_INDEX.xdp_rx_fill_empty] = st.rxFillRingEmpty;
      this.o.stats[base + COUNTER_INDEX.xdp_rx_ring_full] = st.rxRingFull;
      this.o.stats[base + COUNTER_INDEX.xdp_invalid_descs] = st.rxInvalidDescs + st.txInvalidDescs;
    }
  }
}
