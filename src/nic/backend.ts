// The NIC backend API the VMM calls: start a worker thread that serves the guest's virtio-net
// queue pairs from a TAP device. See docs/nic.md.
//
//   const nic = await startNicBackend(plan, { memory: { base, size }, rings: { rx, tx }, onWake });
//   nic.kickFd   // eventfd: write 8 bytes (or register as KVM ioeventfd) when the guest kicks
//   nic.stats()  // per-queue counters, read from shared memory (no messages)
//   await nic.stop()
import { Worker } from 'node:worker_threads';
import * as libc from '../sys/libc.js';
import { GuestMemory, type GuestMemorySpec } from './guest-memory.js';
import type { NicVqAddrs } from '../abi/nic.js';
import { NCOUNTERS, readStats, type NicCounterSource, type QueueStats } from './stats.js';
import { loadNicio } from './nicio.js';
import { openTap, type Tap } from './tap.js';
import { RssSteering } from './toeplitz.js';
import { SharedReta } from './reta.js';
import { DeviceQueue, ForbiddenRanges } from './virtqueue.js';
import { workerScriptUrl } from '../sys/worker-url.js';
import type { XdpBounce } from './xdp/engine.js';
import { openXdpPort, xdpModeFromEnv, type XdpMode, type XdpPort } from './xdp/port.js';
import { layoutGuestRings, writeXskInfo, type XskMemslot } from './xdp/guest-rings.js';
import { CTL_CELLS, CTL_STATE, CTL_STOP, CTL_WAKE, CTL_WAKE_ANY } from '../abi/nic-ctl.js';
import type { NicPlan } from './plan.js';
import type { WorkerData } from './worker-data.js';
import { startVhostBackend, type VhostWakePath } from './vhost/backend.js';
import { stopWorker } from './stop-worker.js';

/** What exists only at run time, beside the plan. */
export interface NicRuntime {
  memory: GuestMemorySpec;
  /** ring addresses (as written into struct ix_nic_info), one RX/TX pair per queue */
  rings: { rx: NicVqAddrs[]; tx: NicVqAddrs[] };
  /** open fds, one per queue (the backend does not close them), instead of the plan's TAP */
  tapFds?: number[];
  /** the namespace attach created for a plan whose TAP wants a fresh one */
  netns?: string;
  /** per-queue eventfds the backend writes when the guest asked for an interrupt (KVM irqfd) */
  wakeFds?: number[];
  /** called on the main thread when the guest asked for an interrupt (slower than wakeFds) */
  onWake?: (queue: number) => void;
  /** the XDP backend's TX bounce slots in guest memory (attach reserves them; xdp_rings "host") */
  xdpBounce?: XdpBounce;
  /** xdp_rings "guest": the page for struct ix_xsk_info (attach reserves it), the window above
   * RAM the ring slots go to (the VMM maps it in the guest), the doorbell's port */
  xskGuest?: { infoGpa: number; window: { start: number; size: number }; doorbellPort: number };
  /** an eventfd the guest kicks arrive on; created if absent */
  kickFd?: number;
  log?: (msg: string) => void;
  /** run another worker script than the production one (benchmarks compose the engine with a
   * fake guest in src/testing/); `extra` is handed to it in workerData.extra */
  worker?: { url: URL; extra?: unknown };
}

export interface NicHandle {
  readonly nqueues: number;
  readonly tapName: string | undefined;
  /** the XDP backend's interface and modes (undefined for TAP) */
  readonly xdp: { ifname: string; sockets: number; copyMode: 'copy' | 'zero-copy'; xdpMode: XdpMode; rings: 'guest' | 'host' } | undefined;
  /** xdp_rings "guest": the KVM memory slots the VMM must add (ring mmaps) and the ix_xsk_info page */
  readonly xsk?: { slots: XskMemslot[]; infoGpa: number; rx: { producer: number; consumer: number }[] };
  /** the vhost-net backend: its devices (one per queue pair) and how a halted core is woken (absent otherwise) */
  readonly vhost?: { devices: number; wakePath: VhostWakePath };
  /** who counts the frames of stats(): absent or 'backend' for TAP and XDP; 'guest' for vhost
   * (its stats() are 0 and `ix stats` takes the frames from the guest's counters) */
  readonly counterSource?: NicCounterSource;
  /** eventfd: the VMM writes a u64 here when the guest kicks (`out` to notify_port) */
  readonly kickFd: number;
  /** Int32Array over shared memory: wake counter of queue q at [NIC_WAKE_OFFSET + q] (Atomics.wait-able) */
  readonly wakeCounters: Int32Array;
  /** how long the backend polls after its last frame before sleeping (as the worker reported) */
  readonly spinUs: number;
  /** the redirection table the worker steers by; rewriting it moves flow groups (reta.ts) */
  readonly reta: SharedReta;
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

/** The TAP's namespace: the one attach created, or an existing one the plan names. */
function tapNetns(plan: NicPlan, run: NicRuntime): string | undefined {
  const ns = plan.tap?.netns ?? null;
  if (run.netns !== undefined) return run.netns;
  if (ns === null) return undefined;
  if (ns.kind === 'existing') return ns.name;
  throw new NicBackendError(`the plan's TAP ${plan.tap!.name} wants a fresh namespace: create it first (attachNic does) and pass its name as netns`);
}

export async function startNicBackend(plan: NicPlan, run: NicRuntime): Promise<NicHandle> {
  const nq = plan.nqueues;
  if (!Number.isInteger(nq) || nq < 1 || nq > 16 || run.rings.rx.length !== nq || run.rings.tx.length !== nq)
    throw new NicBackendError(`need 1..16 queue pairs and one RX and one TX ring each: the plan has ${nq}, the rings ${run.rings.rx.length} RX and ${run.rings.tx.length} TX`);
  // Validate everything here so configuration errors surface on the caller's stack.
  const mem = new GuestMemory(run.memory);
  new RssSteering(plan.rss, nq);
  if (plan.backend.io === 'burst') loadNicio(); // a missing helper is reported here, not in the worker
  const batch = plan.backend.batch;
  if (!Number.isInteger(batch) || batch < 1 || batch > 64) throw new NicBackendError(`batch ${batch} outside 1..64`);
  const forbidden = new ForbiddenRanges();
  for (const q of run.rings.rx) new DeviceQueue(mem, q, 'rx', forbidden);
  for (const q of run.rings.tx) new DeviceQueue(mem, q, 'tx', forbidden);

  let tap: Tap | undefined;
  let xdp: XdpPort | undefined;
  let fds: number[];
  let xsk: { slots: XskMemslot[]; infoGpa: number; rx: { producer: number; consumer: number }[] } | undefined;
  if (plan.xdp) {
    const guestRings = plan.xdp.rings === 'guest';
    if (guestRings && !run.xskGuest) throw new NicBackendError('xdp_rings "guest" needs the ring description page and window (xskGuest; attachNic and the VMM give them)');
    if (!guestRings && !run.xdpBounce) throw new NicBackendError('the XDP backend needs its TX bounce slots (xdpBounce; attachNic reserves them)');
    xdp = openXdpPort({ ifname: plan.xdp.ifname, nqueues: nq, addr: plan.addr, mem: { base: mem.base, size: mem.size }, mode: xdpModeFromEnv() });
    fds = xdp.sockets.map((s) => s.fd);
    if (guestRings && run.xskGuest) {
      try {
        const layout = layoutGuestRings(xdp.sockets, nq, run.xskGuest.window, run.xskGuest.doorbellPort);
        writeXskInfo(mem.dv, run.xskGuest.infoGpa, layout.info);
        xsk = { slots: layout.slots, infoGpa: run.xskGuest.infoGpa, rx: xdp.sockets.slice(0, nq).map((s) => ({ producer: s.rx.producer, consumer: s.rx.consumer })) };
      } catch (e) {
        xdp.close();
        throw e;
      }
    }
  } else if (run.tapFds) {
    if (run.tapFds.length !== nq) throw new NicBackendError(`${run.tapFds.length} TAP fds for ${nq} queues`);
    fds = run.tapFds;
  } else if (plan.tap) {
    tap = openTap({ name: plan.tap.name, queues: nq, netns: tapNetns(plan, run) });
    fds = tap.fds;
  } else throw new NicBackendError('the plan has no TAP (plan.tap is null): give either tapFds or tapName');
  if (plan.vhost) return startVhostBackend(plan, run, { mem, tapFds: fds, tapName: tap?.name, closeTap: () => tap?.close() });

  const ownKick = run.kickFd === undefined;
  const kickFd = run.kickFd ?? libc.makeEventfd();
  const stopFd = libc.makeEventfd();
  const statsSab = new SharedArrayBuffer(8 * NCOUNTERS * nq);
  const ctlSab = new SharedArrayBuffer(4 * CTL_CELLS);
  const ctl = new Int32Array(ctlSab);
  const reta = SharedReta.create(plan.rss.reta, nq);
  const data: WorkerData = {
    plan,
    base: mem.base,
    size: mem.size,
    rings: { rx: run.rings.rx, tx: run.rings.tx },
    fds,
    stats: statsSab,
    reta: reta.buffer,
    ctl: ctlSab,
    kickFd,
    stopFd,
    wakeFds: run.wakeFds ?? [],
    postWakes: run.onWake !== undefined,
    xdp: xdp && !xsk && run.xdpBounce ? { sockets: xdp.sockets, bounce: run.xdpBounce } : undefined,
    xsk: xdp && xsk ? { sockets: xdp.sockets, infoGpa: xsk.infoGpa } : undefined,
  };
  const log = run.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const worker = run.worker
    ? new Worker(run.worker.url, { workerData: { ...data, extra: run.worker.extra } })
    : xsk
      ? new Worker(workerScriptUrl(import.meta.url, 'xdp/kick-worker.js', 'nic-xsk-worker.cjs'), { workerData: data })
      : xdp
      ? new Worker(workerScriptUrl(import.meta.url, 'xdp/worker.js', 'nic-xdp-worker.cjs'), { workerData: data })
      : new Worker(workerScriptUrl(import.meta.url, 'worker.js', 'nic-worker.cjs'), { workerData: data });
  let failure: Error | undefined;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  let spinUs = plan.backend.spinUs;
  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { type: string; msg?: string; q?: number; spinUs?: number }) => {
      if (m.type === 'ready') {
        spinUs = m.spinUs ?? spinUs;
        resolve();
      }
      else if (m.type === 'log') log(m.msg ?? '');
      else if (m.type === 'wake') run.onWake?.(m.q ?? 0);
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
    xdp?.close(); // the link first: the program leaves the interface, then the sockets
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
    xdp: xdp ? { ifname: xdp.ifname, sockets: xdp.sockets.length, copyMode: xdp.copyMode, xdpMode: xdp.xdpMode, rings: xsk ? 'guest' : 'host' } : undefined,
    ...(xsk ? { xsk, counterSource: 'guest' as const } : {}),
    kickFd,
    wakeCounters: ctl,
    spinUs,
    reta,
    stats: () => readStats(statsArr, nq),
    failure: () => failure,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await stopWorker(ctl, stopFd, worker, exited);
      if (Atomics.load(ctl, CTL_STATE) !== 2 && failure === undefined) log('nic: worker did not stop cleanly; terminated');
      cleanup();
    },
  };
}
