// How a NIC backend stops its thread (the TAP/XDP worker, vhost's wake thread): raise the stop
// flag, wake the thread out of poll(2) through its stop eventfd, and wait for it to exit,
// terminating it if it has not within the grace period.
import type { Worker } from 'node:worker_threads';
import * as libc from '../sys/libc.js';
import { CTL_STOP } from '../abi/nic-ctl.js';

/** how long a backend thread gets to leave its loop before it is terminated */
export const STOP_GRACE_MS = 2000;

/**
 * `ctl`: the control cells the thread watches; `stopFd`: the eventfd in its poll set;
 * `exited`: resolves on its 'exit' event. Without a thread only the flag is raised.
 */
export async function stopWorker(ctl: Int32Array, stopFd: number, worker: Worker | undefined, exited: Promise<void>): Promise<void> {
  Atomics.store(ctl, CTL_STOP, 1);
  if (!worker) return;
  libc.signalEventfd(stopFd); // fails only if the thread is gone; the stop flag is enough then
  const t = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
  await exited;
  clearTimeout(t);
}
