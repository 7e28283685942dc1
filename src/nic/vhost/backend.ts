/**
 * The vhost-net backend (docs/nic.md, "The vhost-net backend"): the guest's virtio queue
 * pairs, placed and described exactly as for the TAP backend, are handed to the kernel's
 * vhost worker, one /dev/vhost-net device per queue pair over one TAP queue each. No
 * TypeScript runs per frame. What stays in the control plane:
 *
 * - the kick eventfd: created here (or the caller's) and given to every vring; the VMM
 *   registers it as the notify port's KVM ioeventfd, so a guest kick reaches vhost in the
 *   kernel;
 * - the RX call eventfds: where the VMM offers one irqfd per RX queue (`wakeFds`, the
 *   in-kernel wake path) they ARE the call fds and vhost's signal injects the interrupt with
 *   no user-space thread; otherwise one eventfd per queue and a small thread (waiter.ts) that
 *   turns each signal into the TAP backend's wake (the counters nicIdleWait sleeps on).
 */
import { SharedReta } from '../reta.js';
import { Worker } from 'node:worker_threads';
import * as libc from '../../sys/libc.js';
import { CTL_CELLS, CTL_STATE, CTL_STOP } from '../../abi/nic-ctl.js';
import { workerScriptUrl } from '../../sys/worker-url.js';
import type { NicHandle, NicRuntime } from '../backend.js';
import { VNET_HDR_LEN } from '../frame.js';
import type { GuestMemory } from '../guest-memory.js';
import type { NicPlan } from '../plan.js';
import { NCOUNTERS, readStats } from '../stats.js';
import { stopWorker } from '../stop-worker.js';
import { openVhostNet, VhostError, type VhostNet } from './device.js';
import type { VhostWaiterData } from './waiter.js';

/** How a halted core learns that vhost filled its RX ring. */
export type VhostWakePath = 'irqfd' | 'thread';

/** What the common part of startNicBackend already opened and checked. */
export interface VhostStart {
  mem: GuestMemory;
  /** one TAP queue fd per queue pair (IFF_VNET_HDR, header size VNET_HDR_LEN) */
  tapFds: number[];
  tapName: string | undefined;
  /** closes the TAP (after the vhost devices let go of it) */
  closeTap: () => void;
}

const WAITER_POLL_MS = 1000;

export async function startVhostBackend(plan: NicPlan, run: NicRuntime, s: VhostStart): Promise<NicHandle> {
  const nq = plan.nqueues;
  const log = run.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const irqfds = run.wakeFds !== undefined && run.wakeFds.length === nq && run.wakeFds.every((fd) => Number.isInteger(fd) && fd >= 0) ? run.wakeFds : null;
  const wakePath: VhostWakePath = irqfds ? 'irqfd' : 'thread';
  const ownKick = run.kickFd === undefined;
  const kickFd = run.kickFd ?? libc.makeEventfd();
  const ownCalls = irqfds ? [] : Array.from({ length: nq }, () => libc.makeEventfd());
  const callFds = irqfds ?? ownCalls;
  const stopFd = libc.makeEventfd();
  const ctlSab = new SharedArrayBuffer(4 * CTL_CELLS);
  const ctl = new Int32Array(ctlSab);
  const devices: VhostNet[] = [];
  let worker: Worker | undefined;
  let failure: Error | undefined;
  const cleanup = (): void => {
    for (const d of devices) d.close(); // vhost stops and drops its TAP reference first
    s.closeTap();
    for (const fd of ownCalls) libc.close(fd);
    libc.close(stopFd);
    if (ownKick) libc.close(kickFd);
  };
  try {
    for (let q = 0; q < nq; q++)
      devices.push(
        openVhostNet({
          ram: { base: s.mem.base, size: s.mem.size },
          rx: run.rings.rx[q]!,
          tx: run.rings.tx[q]!,
          tapFd: s.tapFds[q]!,
          kickFd,
          rxCallFd: callFds[q]!,
          guestHdrLen: VNET_HDR_LEN,
        }),
      );
    if (wakePath === 'thread') worker = await startWaiter({ ctl: ctlSab, callFds, stopFd, postWakes: run.onWake !== undefined, timeoutMs: WAITER_POLL_MS }, run, log, (e) => (failure ??= e));
    else Atomics.store(ctl, CTL_STATE, 1);
  } catch (e) {
    await worker?.terminate();
    cleanup();
    throw e;
  }
  const exited = worker ? new Promise<void>((resolve) => worker.once('exit', () => resolve())) : Promise.resolve();
  const statsArr = new Float64Array(new SharedArrayBuffer(8 * NCOUNTERS * nq));
  let stopped = false;
  return {
    nqueues: nq,
    tapName: s.tapName,
    xdp: undefined,
    vhost: { devices: devices.length, wakePath },
    // one core (vhost is refused with [cores] min < max): the table is the plan's and never
    // changes; the scaler reads it like any backend's, and the TAP itself steers the frames
    reta: SharedReta.create(plan.rss.reta, nq),
    kickFd,
    wakeCounters: ctl,
    spinUs: 0,
    // vhost moves frames in the kernel and counts nothing here: the per-queue counters stay 0,
    // and `ix stats` fills the frame and byte counters from the guest's (src/control/stats.ts)
    stats: () => readStats(statsArr, nq),
    counterSource: 'guest',
    failure: () => failure,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await stopWorker(ctl, stopFd, worker, exited);
      Atomics.store(ctl, CTL_STATE, 2);
      cleanup();
    },
  };
}

function startWaiter(data: VhostWaiterData, run: NicRuntime, log: (m: string) => void, failed: (e: Error) => void): Promise<Worker> {
  const w = new Worker(workerScriptUrl(import.meta.url, 'waiter.js', 'nic-vhost-waiter.cjs'), { workerData: data });
  const ctl = new Int32Array(data.ctl);
  return new Promise<Worker>((resolve, reject) => {
    w.on('message', (m: { type: string; msg?: string; q?: number }) => {
      if (m.type === 'ready') resolve(w);
      else if (m.type === 'wake') run.onWake?.(m.q ?? 0);
      else if (m.type === 'error') {
        const e = new VhostError(`vhost wake thread failed: ${m.msg}; halted cores are no longer woken by received frames`);
        failed(e);
        log(e.message);
        reject(e);
      }
    });
    w.once('error', (e: Error) => {
      const err = new VhostError(`vhost wake thread crashed: ${e.message}`);
      failed(err);
      log(err.message);
      reject(err);
    });
    w.once('exit', (code) => {
      if (Atomics.load(ctl, CTL_STOP) === 0) {
        const e = new VhostError(`vhost wake thread exited unexpectedly (code ${code})`);
        failed(e);
        reject(e);
      }
    });
  });
}
