// The NIC backend API the VMM calls: start a worker thread that serves the guest's virtio-net
// queue pairs from a TAP device. See docs/nic.md.
//
//   const nic = await startNicBackend({ memory: { base, size }, queues: { rx, tx }, tapName, netns, onWake });
//   nic.kickFd   // eventfd: write 8 bytes (or register as KVM ioeventfd) when the guest kicks
//   nic.stats()  // per-queue counters, read from shared memory (no messages)
//   await nic.stop()
import { writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import * as libc from '../sys/libc.js';
import { GuestMemory, type GuestMemorySpec } from './guest-memory.js';
import type { NicVqAddrs } from '../abi/nic.js';
import { NCOUNTERS, readStats, type QueueStats } from './stats.js';
import { loadNicio } from './nicio.js';
import { openTap, type Tap } from './tap.js';
import { MS_RSS_KEY, RssSteering, defaultReta } from './toeplitz.js';
import { DeviceQueue, ForbiddenRanges } from './virtqueue.js';
import { workerScriptUrl } from './worker-url.js';
import { CTL_STATE, CTL_STOP, CTL_WAKE, CTL_WAKE_ANY, type WorkerInit } from '../abi/nic-ctl.js';

export interface NicBackendOptions {
  memory: GuestMemorySpec;
  /** ring addresses (as written into struct ix_nic_info), one RX/TX pair per queue */
  queues: { rx: NicVqAddrs[]; tx: NicVqAddrs[] };
  /** either open fds (one per queue; the backend does not close them) ... */
  tapFds?: number[];
  /** ... or a TAP name to create (and close on stop), optionally inside a namespace */
  tapName?: string;
  netns?: string;
  rss?: { key?: Uint8Array; reta?: number[] };
  mtu?: number;
  /** per-queue eventfds the backend writes when the guest asked for an interrupt (KVM irqfd) */
  wakeFds?: number[];
  /** called on the main thread when the guest asked for an interrupt (slower than wakeFds) */
  onWake?: (queue: number) => void;
  /** an eventfd the guest kicks arrive on; created if absent */
  kickFd?: number;
  /** keep polling this long after the last frame before sleeping (default 20 us: on 2 cores longer spins starve the guest core) */
  spinUs?: number;
  batch?: number;
  /** pin the backend thread to this host CPU (the VMM's core allocation decides) */
  cpu?: number;
  /** frame I/O: 'koffi' (default, one call per frame) or 'burst' (C helper, see nicio.ts) */
  io?: 'koffi' | 'burst';
  idleTimeoutMs?: number;
  log?: (msg: string) => void;
  /** run another worker script than the production one (benchmarks compose the engine with a
   * fake guest in src/testing/); `extra` is handed to it in workerData.extra */
  worker?: { url: URL; extra?: unknown };
}

export interface NicHandle {
  readonly nqueues: number;
  readonly tapName: string | undefined;
  /** eventfd: the VMM writes a u64 here when the guest kicks (`out` to notify_port) */
  readonly kickFd: number;
  /** Int32Array over shared memory: wake counter of queue q at [NIC_WAKE_OFFSET + q] (Atomics.wait-able) */
  readonly wakeCounters: Int32Array;
  /** how long the backend polls after its last frame before sleeping (as the worker reported) */
  readonly spinUs: number;
  stats(): QueueStats[];
  /** why the worker died, if it did (it also logged it); undefined while healthy */
  failure(): Error | undefined;
  stop(): Promise<void>;
}
export const NIC_WAKE_OFFSET = CTL_WAKE;
/** index in wakeCounters bumped on a wake of any queue */
export const NIC_WAKE_ANY = CTL_WAKE_ANY;

export class NicBackendError extends Error {
  override name = 'NicBackendError';
}

export async function startNicBackend(o: NicBackendOptions): Promise<NicHandle> {
  const nq = o.queues.rx.length;
  if (nq < 1 || nq > 16 || o.queues.tx.length !== nq)
    throw new NicBackendError(`need 1..16 RX queues and as many TX queues, got ${nq} RX and ${o.queues.tx.length} TX`);
  const mtu = o.mtu ?? 1500;
  const key = o.rss?.key ?? MS_RSS_KEY;
  const reta = o.rss?.reta ?? defaultReta(nq);
  // Validate everything here so configuration errors surface on the caller's stack.
  const mem = new GuestMemory(o.memory);
  new RssSteering({ key, reta }, nq);
  if (o.io === 'burst') loadNicio(); // build/load errors surface here, not in the worker
  const batch = o.batch ?? 64;
  if (!Number.isInteger(batch) || batch < 1 || batch > 64) throw new NicBackendError(`batch ${batch} outside 1..64`);
  const forbidden = new ForbiddenRanges();
  for (const q of o.queues.rx) new DeviceQueue(mem, q, 'rx', forbidden);
  for (const q of o.queues.tx) new DeviceQueue(mem, q, 'tx', forbidden);

  let tap: Tap | undefined;
  let fds: number[];
  if (o.tapFds) {
    if (o.tapFds.length !== nq) throw new NicBackendError(`${o.tapFds.length} TAP fds for ${nq} queues`);
    fds = o.tapFds;
  } else if (o.tapName) {
    tap = openTap({ name: o.tapName, queues: nq, netns: o.netns });
    fds = tap.fds;
  } else throw new NicBackendError('give either tapFds or tapName');

  const ownKick = o.kickFd === undefined;
  const kickFd = o.kickFd ?? libc.makeEventfd();
  const stopFd = libc.makeEventfd();
  const statsSab = new SharedArrayBuffer(8 * NCOUNTERS * nq);
  const ctlSab = new SharedArrayBuffer(4 * (CTL_WAKE + 16));
  const ctl = new Int32Array(ctlSab);
  const init: WorkerInit = {
    base: mem.base,
    size: mem.size,
    rx: o.queues.rx,
    tx: o.queues.tx,
    fds,
    rssKey: key,
    reta: Array.from(reta),
    mtu,
    stats: statsSab,
    ctl: ctlSab,
    kickFd,
    stopFd,
    wakeFds: o.wakeFds ?? [],
    postWakes: o.onWake !== undefined,
    spinUs: o.spinUs ?? 20,
    batch,
    io: o.io ?? 'koffi',
    cpu: o.cpu,
    idleTimeoutMs: o.idleTimeoutMs ?? 100,
  };
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const worker = o.worker
    ? new Worker(o.worker.url, { workerData: { ...init, extra: o.worker.extra } })
    : new Worker(workerScriptUrl(import.meta.url, 'worker.js', 'nic-worker.cjs'), { workerData: init });
  let failure: Error | undefined;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  let spinUs = init.spinUs;
  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { type: string; msg?: string; q?: number; spinUs?: number }) => {
      if (m.type === 'ready') {
        spinUs = m.spinUs ?? spinUs;
        resolve();
      }
      else if (m.type === 'log') log(m.msg ?? '');
      else if (m.type === 'wake') o.onWake?.(m.q ?? 0);
      else if (m.type === 'error') {
        failure = new NicBackendError(`NIC worker failed: ${m.msg}`);
        log(failure.message);
        reject(failure);
      }
    });
    worker.once('error', (e: Error) => {
      failure ??= new NicBackendError(`NIC worker crashed: ${e.message}`);
      log(failure.message);
      reject(failure);
    });
    worker.once('exit', (code) => {
      if (Atomics.load(ctl, CTL_STOP) === 0) failure ??= new NicBackendError(`NIC worker exited unexpectedly (code ${code})`);
      reject(failure ?? new NicBackendError(`NIC worker exited early (code ${code})`));
    });
  });
  const cleanup = (): void => {
    libc.close(stopFd);
    if (ownKick) libc.close(kickFd);
    tap?.close();
  };
  try {
    await ready;
  } catch (e) {
    await worker.terminate();
    cleanup();
    throw e;
  }
  let stopped = false;
  const statsArr = new Float64Array(statsSab);
  return {
    nqueues: nq,
    tapName: tap?.name,
    kickFd,
    wakeCounters: ctl,
    spinUs,
    stats: () => readStats(statsArr, nq),
    failure: () => failure,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      Atomics.store(ctl, CTL_STOP, 1);
      const buf = Buffer.alloc(8);
      buf.writeBigUInt64LE(1n);
      // wake the worker out of poll(2)
      try {
        writeSync(stopFd, buf);
      } catch {
        /* the worker is spinning or gone; the stop flag is enough */
      }
      const t = setTimeout(() => void worker.terminate(), 2000);
      await exited;
      clearTimeout(t);
      if (Atomics.load(ctl, CTL_STATE) !== 2 && failure === undefined) log('nic: worker did not stop cleanly; terminated');
      cleanup();
    },
  };
}
