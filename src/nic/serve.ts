// The NIC backend's worker loop: builds the engine over guest memory, then runs pollOnce()
// while there is work (and for `spinUs` after the last frame), then sleeps in poll(2) on the
// TAP fds that can take a frame, the guest-kick eventfd and the stop eventfd.
import { parentPort } from 'node:worker_threads';
import { CTL_STATE, CTL_STOP, CTL_WAKE, CTL_WAKE_ANY } from '../abi/nic-ctl.js';
import type { WorkerData } from './worker-data.js';
import { GuestMemory } from './guest-memory.js';
import * as libc from '../sys/libc.js';
import { NicEngine } from './engine.js';
import { SharedReta } from './reta.js';

/** What the loop drives: the engine itself, or something composed around it. */
export interface NicPoller {
  attach(): void;
  pollOnce(): number;
  sleepFds(): number[] | null;
  close(): void;
}

export type ComposePoller = (engine: NicEngine, mem: GuestMemory) => NicPoller;

/** What every packet mover gets from the loop: guest memory, counters, wake and log. */
export interface PollerEnv {
  mem: GuestMemory;
  stats: Float64Array;
  wake: (q: number) => void;
  log: (msg: string) => void;
  /** the live redirection table's entries (reta.ts), when the backend shares one */
  reta?: Int32Array;
}

/** Builds the packet mover of a backend (the TAP engine, the XDP engine) in the worker. */
export type MakePoller = (init: WorkerData, env: PollerEnv) => NicPoller;

/**
 * The wake of queue q (docs/nic.md, "Notifications"): bump and notify its counter and the
 * any-queue counter (a vCPU worker in nicIdleWait), write its irqfd if there is one, and post
 * a message if the caller asked.
 */
export function queueWaker(ctl: Int32Array, wakeFds: readonly number[], post: ((q: number) => void) | null): (q: number) => void {
  return (q) => {
    Atomics.add(ctl, CTL_WAKE + q, 1);
    Atomics.notify(ctl, CTL_WAKE + q);
    Atomics.add(ctl, CTL_WAKE_ANY, 1);
    Atomics.notify(ctl, CTL_WAKE_ANY);
    const fd = wakeFds[q];
    if (fd !== undefined && fd >= 0) libc.signalEventfd(fd);
    post?.(q);
  };
}

function serve(init: WorkerData, make: MakePoller): void {
  const port = parentPort!;
  const { backend } = init.plan;
  if (backend.cpu !== null) libc.pinThisThread(backend.cpu);
  else if (backend.avoidCpus.length) {
    // off the dataplane cores' CPUs when others are allowed: the vCPU keeps its CPU to itself
    // and the kick's transmit work runs beside it (docs/nic.md, Benchmark)
    const rest = libc.getThreadAffinity().filter((c) => !backend.avoidCpus.includes(c));
    if (rest.length) libc.setThreadAffinity(rest);
  }
  if (backend.sliceUs > 0) {
    // woken by a doorbell, the thread preempts the running vCPU at once instead of waiting
    // out the vCPU's slice (docs/nic.md, Benchmark)
    try {
      libc.setThreadSlice(backend.sliceUs);
    } catch (e) {
      port.postMessage({ type: 'log', msg: `nic: scheduler slice not set: ${(e as Error).message}` });
    }
  }
  const ctl = new Int32Array(init.ctl);
  const one = libc.mapAnon(4096); // scratch: a read buffer at 8, a pollfd array at 64
  const oneDv = new DataView(libc.view(one, 4096));
  const pfdBase = one + 64;
  const mem = new GuestMemory({ base: init.base, size: init.size });
  const reta = init.reta ? new SharedReta(init.reta, init.plan.nqueues) : undefined;
  const poller = make(init, {
    mem,
    ...(reta ? { reta: reta.entries } : {}),
    stats: new Float64Array(init.stats),
    log: (msg) => port.postMessage({ type: 'log', msg }),
    wake: queueWaker(ctl, init.wakeFds, init.postWakes ? (q) => port.postMessage({ type: 'wake', q }) : null),
  });
  poller.attach();
  Atomics.store(ctl, CTL_STATE, 1);
  const spinMs = backend.spinUs / 1000;
  port.postMessage({ type: 'ready', spinUs: backend.spinUs });
  let last = performance.now();
  while (Atomics.load(ctl, CTL_STOP) === 0) {
    reta?.workerPass();
    if (poller.pollOnce() > 0) {
      last = performance.now();
      continue;
    }
    if (performance.now() - last < spinMs) continue;
    const fds = poller.sleepFds();
    if (fds === null) continue;
    const all = [init.kickFd, init.stopFd, ...fds];
    for (let i = 0; i < all.length; i++) {
      oneDv.setInt32(64 + 8 * i, all[i]!, true);
      oneDv.setInt16(64 + 8 * i + 4, libc.POLLIN, true);
      oneDv.setInt16(64 + 8 * i + 6, 0, true);
    }
    reta?.workerSleeping(true);
    libc.poll(pfdBase, all.length, backend.idleTimeoutMs);
    reta?.workerSleeping(false);
    if (oneDv.getInt16(64 + 6, true) !== 0) libc.read(init.kickFd, one + 8, 8); // drain the kick counter
    last = performance.now();
  }
  poller.close();
  Atomics.store(ctl, CTL_STATE, 2);
}

/** Runs the loop over the TAP engine in this worker thread (composed, for benchmarks). */
export function runNicWorker(init: WorkerData, compose: ComposePoller = (engine) => engine): void {
  runNicWorkerWith(init, (i, env) => compose(new NicEngine(i.plan, { ...env, rings: i.rings, fds: i.fds }), env.mem));
}

/** Runs the loop over any packet mover; a failure is reported to the backend as a message. */
export function runNicWorkerWith(init: WorkerData, make: MakePoller): void {
  try {
    serve(init, make);
  } catch (e) {
    parentPort!.postMessage({ type: 'error', msg: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  }
}
