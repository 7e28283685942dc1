// The packet mover: one pass over every queue pair moves frames TAP fd -> guest RX ring
// (rx.ts) and guest TX ring -> TAP fd (tx.ts), directly between the fd and guest memory
// (read/readv/write/writev with guest buffer addresses; no intermediate JS buffer), with RSS
// queue choice in steering.ts. Synchronous and single-threaded: the worker loop (serve.ts)
// calls pollOnce(); tests may call it directly. Frame format: frame.ts.
import type { NicVqAddrs } from '../abi/nic.js';
import type { GuestMemory } from './guest-memory.js';
import { EngineEvents } from './events.js';
import { maxFrameWithHeader } from './frame.js';
import { loadNicio } from './nicio.js';
import { RxPath } from './rx.js';
import { BURST_MAX, IoScratch } from './scratch.js';
import { NCOUNTERS } from './stats.js';
import { FrameSteering } from './steering.js';
import type { RssConfig } from './toeplitz.js';
import { TxPath } from './tx.js';
import { DeviceQueue, ForbiddenRanges, availRingBytes, descTableBytes, usedRingBytes } from './virtqueue.js';

export { VNET_HDR_LEN } from './frame.js';

export interface EngineOptions {
  mem: GuestMemory;
  rx: NicVqAddrs[];
  tx: NicVqAddrs[];
  /** one fd per queue pair: a TAP queue fd (or, in unit tests, any datagram fd) */
  fds: number[];
  rss: RssConfig;
  /** IP MTU; frames up to mtu + 18 bytes are accepted */
  mtu: number;
  /** NCOUNTERS * nqueues counters (stats.ts) */
  stats: Float64Array;
  /** the guest asked to be told about new used entries on queue pair q */
  wake: (q: number) => void;
  /** called once per (queue, direction, kind) of problem */
  log: (msg: string) => void;
  /** frames per direction per queue per pass (default 64, at most 64) */
  batch?: number;
  /** 'koffi' (default): one read/writev per frame through koffi; 'burst': up to `batch`
   * frames per FFI call through the small C helper (nicio.ts) */
  io?: 'koffi' | 'burst';
}

export class EngineError extends Error {
  override name = 'EngineError';
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

  constructor(private readonly o: EngineOptions) {
    const nq = o.fds.length;
    if (nq < 1 || o.rx.length !== nq || o.tx.length !== nq)
      throw new EngineError(`need one fd, one RX and one TX queue per pair: got ${nq} fds, ${o.rx.length} RX, ${o.tx.length} TX`);
    if (o.stats.length < nq * NCOUNTERS) throw new EngineError(`stats array too small for ${nq} queues`);
    this.nq = nq;
    this.fds = o.fds;
    const batch = o.batch ?? 64;
    const maxFrame = maxFrameWithHeader(o.mtu);
    const steering = new FrameSteering(o.mem, o.rss, nq);
    const forbidden = new ForbiddenRanges();
    for (const q of [...o.rx, ...o.tx]) {
      forbidden.add(Number(q.desc), descTableBytes(q.size));
      forbidden.add(Number(q.avail), availRingBytes(q.size));
      forbidden.add(Number(q.used), usedRingBytes(q.size));
    }
    for (let q = 0; q < nq; q++) {
      this.rxq.push(new DeviceQueue(o.mem, o.rx[q]!, 'rx', forbidden));
      this.txq.push(new DeviceQueue(o.mem, o.tx[q]!, 'tx', forbidden));
    }
    if (batch < 1 || batch > BURST_MAX) throw new EngineError(`batch ${batch} outside 1..${BURST_MAX}`);
    const nicio = o.io === 'burst' ? loadNicio() : undefined;
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
    let work = 0;
    for (let q = 0; q < this.nq; q++) {
      work += this.tx.pass(q);
      work += this.rx.pass(q);
    }
    for (let q = 0; q < this.nq; q++) {
      if (this.rx.publish(q)) {
        this.events.count(q, 'wakeups');
        this.o.wake(q);
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
