// Entry of the vhost backend's wake thread (bundled as dist/bundle/nic-vhost-waiter.cjs), used
// only where a halted guest core is woken from user space (no irqfd per RX queue): it sleeps
// in poll(2) on the RX call eventfds vhost signals, and on each one does the same wake as the
// TAP backend (serve.ts queueWaker: the counters a vCPU worker waits on in nicIdleWait). It
// runs per wake of a halted core, never per frame; with an irqfd per queue it is not started.
import { parentPort, workerData } from 'node:worker_threads';
import { CTL_STATE, CTL_STOP } from '../../abi/nic-ctl.js';
import * as libc from '../../sys/libc.js';
import { queueWaker } from '../serve.js';

export interface VhostWaiterData {
  /** the backend's control cells (src/abi/nic-ctl.ts) */
  ctl: SharedArrayBuffer;
  /** per queue: the RX call eventfd vhost signals */
  callFds: number[];
  stopFd: number;
  postWakes: boolean;
  /** poll(2) timeout: the stop flag is seen at least this often */
  timeoutMs: number;
}

function run(d: VhostWaiterData): void {
  const port = parentPort!;
  const ctl = new Int32Array(d.ctl);
  const page = libc.mapAnon(4096); // [8] read buffer, [64..] pollfds
  const dv = new DataView(libc.view(page, 4096));
  const wake = queueWaker(ctl, [], d.postWakes ? (q) => port.postMessage({ type: 'wake', q }) : null);
  const fds = [...d.callFds, d.stopFd];
  for (let i = 0; i < fds.length; i++) {
    dv.setInt32(64 + 8 * i, fds[i]!, true);
    dv.setInt16(64 + 8 * i + 4, libc.POLLIN, true);
  }
  Atomics.store(ctl, CTL_STATE, 1);
  port.postMessage({ type: 'ready', spinUs: 0 });
  while (Atomics.load(ctl, CTL_STOP) === 0) {
    for (let i = 0; i < fds.length; i++) dv.setInt16(64 + 8 * i + 6, 0, true);
    if (libc.poll(page + 64, fds.length, d.timeoutMs) <= 0) continue;
    for (let q = 0; q < d.callFds.length; q++) {
      // the eventfd is non-blocking: a read empties its counter (vhost may have signalled several times)
      if ((dv.getInt16(64 + 8 * q + 6, true) & libc.POLLIN) !== 0 && libc.read(d.callFds[q]!, page + 8, 8) === 8) wake(q);
    }
  }
  Atomics.store(ctl, CTL_STATE, 2);
}

try {
  run(workerData as VhostWaiterData);
} catch (e) {
  parentPort!.postMessage({ type: 'error', msg: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
}
