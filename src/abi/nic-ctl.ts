// Shared between the NIC backend (main thread) and its worker: the worker's start data and
// the layout of the control words in shared memory.
import type { NicVqAddrs } from './nic.js';

export interface WorkerInit {
  base: number;
  size: number;
  rx: NicVqAddrs[];
  tx: NicVqAddrs[];
  fds: number[];
  rssKey: Uint8Array;
  reta: number[];
  mtu: number;
  stats: SharedArrayBuffer;
  /** Int32Array: [0] stop request, [1] state (1 running, 2 stopped), [CTL_WAKE + q] wake counters */
  ctl: SharedArrayBuffer;
  kickFd: number;
  stopFd: number;
  wakeFds: number[];
  postWakes: boolean;
  spinUs: number;
  batch: number;
  io: 'koffi' | 'burst';
  /** pin the worker thread to this CPU */
  cpu?: number;
  /** poll(2) timeout while idle: a lost kick costs at most this much latency */
  idleTimeoutMs: number;
}
export const CTL_STOP = 0;
export const CTL_STATE = 1;
/** bumped (and Atomics.notify'd) on every wake of any queue: one place for a single waiter */
export const CTL_WAKE_ANY = 3;
export const CTL_WAKE = 4;

