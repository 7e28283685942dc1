// The packet mover: one pass over every queue pair moves frames TAP fd -> guest RX ring
// (rx.ts) and guest TX ring -> TAP fd (tx.ts), directly between the fd and guest memory
// (read/readv/write/writev with guest buffer addresses; no intermediate JS buffer), with RSS
// queue choice in steering.ts. Synchronous and single-threaded: the worker loop (serve.ts)
// calls pollOnce(); tests may call it directly. Frame format: frame.ts.
import type { NicVqAddrs } from '../abi/nic.js';
import type { GuestMemory } from './guest-memory.js';
import { EngineError, EngineEvents } from './events.js';
import { maxFrameWithHeader } from './frame.js';
import { loadNicio } from './nicio.js';
import { RxPath } from './rx.js';
import { BURST, IoScratch } from './scratch.js';
import type { NicPlan } from './plan.js';
import { NCOUNTERS } from './stats.js';
import { FrameSteering } from './steering.js';
import { TxPath } from './tx.js';
import { DeviceQueue, ForbiddenRanges, availRingBytes, descTableBytes, usedRingBytes } from './virtqueue.js';

export { VNET_HDR_LEN } from './frame.js';
export { EngineError } from './events.js';

/** What the engine serves beside the plan (its rss, mtu, backend.batch and backend.io). */
export interface EngineRuntime {
  mem: GuestMemory;
  rings: { rx: NicVqAddrs[]; tx: NicVqAddrs[] };
  /** one fd per queue pair: a TAP queue fd (or, in unit tests, any datagram fd) */
  fds: number[];
  /** NCOUNTERS * nqueues counters (stats.ts) */
  stats: Float64Array;
  /** the guest asked to be told about new used entries on queue pair q */
  wake: (q: number) => void;
  /** called once per (queue, direction, kind) of problem */
  log: (msg: string) => void;
  /** the redirection table's entries as the control plane rewrites them (reta.ts); absent: plan.rss.reta, fixed */
  reta?: Int32Array;
}

export class NicEngine {
  readonly nq: number;
  private readonly rxq: DeviceQueue[] = [];
  private readonly txq: DeviceQueue[] = [];
  private readonly fds: number[];
  private readonly scratch: IoScratch;
  private readonly rx: RxPath;
  private readonly tx: TxPath;
  private readonly events: EngineEvents;

  private readonly wake: (q: number) => void;

  /** plan: rss, mtu (frames up to mtu + 18 bytes are accepted), backend.batch (frames per
   * direction per queue per pass, 1..64) and backend.io ('koffi': one read/writev per frame;
   * 'burst': up to `batch` frames per FFI call through the C helper, nicio.ts). */
  constructor(plan: NicPlan, o: EngineRuntime) {
    const nq = o.fds.length;
    const { rx: rxRings, tx: txRings } = o.rings;
    if (nq < 1 || nq !== plan.nqueues || rxRings.length !== nq || txRings.length !== nq)
      throw new EngineError(`need one fd, one RX and one TX queue per pair for ${plan.nqueues} pairs: got ${nq} fds, ${rxRings.length} RX, ${txRings.length} TX`);
    if (o.stats.length < nq * NCOUNTERS) throw new EngineError(`stats array too small for ${nq} queues`);
    this.nq = nq;
    this.fds = o.fds;
    this.wake = o.wake;
    const batch = plan.backend.batch;
    const maxFrame = maxFrameWithHeader(plan.mtu);
    const steering = new FrameSteering(o.mem, plan.rss, nq, o.reta);
    const forbidden = new ForbiddenRanges();
    for (const q of [...rxRings, ...txRings]) {
      forbidden.add(Number(q.desc), descTableBytes(q.size));
      forbidden.add(Number(q.avail), availRingBytes(q.size));
      forbidden.add(Number(q.used), usedRingBytes(q.size));
    }
    for (let q = 0; q < nq; q++) {
      this.rxq.push(new DeviceQueue(o.mem, rxRings[q]!, 'rx', forbidden));
      this.txq.push(new DeviceQueue(o.mem, txRings[q]!, 'tx', forbidden));
    }
    if (batch < 1 || batch > BURST.max) throw new EngineError(`batch ${batch} outside 1..${BURST.max}`);
    const nicio = plan.backend.io === 'burst' ? loadNicio() : undefined;
    this.scratch = new IoScratch(o.mem, nicio !== undefined);
    this.events = new EngineEvents(o.stats, o.log);
    const common = { mem: o.mem, fds: o.fds, events: this.events, scratch: this.scratch, batch, maxFrame, nicio };
    this.rx = new RxPath({ ...common, queues: this.rxq, steering, minBuffer: maxFrame });
    this.tx = new TxPath({ ...common, queues: this.txq, wake: o.wake });
  }

  /** Start serving: take the guest's current ring indices as the starting point. */
  attach(): void {
    for (let q = 0; q < this.nq; q++) {
      this.rxq[q]!.attach();
      this.txq[q]!.attach();
      this.rx.reset(q);
    }
  }

  close(): void {
    this.scratch.close();
  }

  /** One pass over all queue pairs. Returns the number of frames handled. */
  pollOnce(): number {
    let work = this.rx.releaseHeld();
    for (let q = 0; q < this.nq; q++) {
      work += this.tx.pass(q);
      work += this.rx.pass(q);
    }
    for (let q = 0; q < this.nq; q++) {
      if (this.rx.publish(q)) {
        this.events.count(q, 'wakeups');
        this.wake(q);
      }
    }
    return work;
  }

  /**
   * Before sleeping: ask the guest to kick on new TX buffers and on RX refills, then report
   * which TAP fds are worth waiting on (those whose queue can take a frame; a queue without
   * RX buffers leaves frames queued in the kernel, i.e. back-pressure instead of drops).
   * Returns null if work arrived meanwhile (do not sleep).
   */
  sleepFds(): number[] | null {
    const fds: number[] = [];
    for (let q = 0; q < this.nq; q++) {
      if (this.txq[q]!.enableKick()) return null;
      if (this.rx.hasBuffer(q)) fds.push(this.fds[q]!);
      else if (this.rxq[q]!.enableKick()) return null;
    }
    return fds;
  }
}
