// For the VMM's vCPU workers: how a halted guest core waits for its NIC queue without
// losing a wake-up, and how a guest kick reaches the backend.
//
// Guest side (virtio_net.h): vnet_prepare_halt() arms used_event = last_used on its RX ring;
// if nothing is pending it makes the idle hypercall. Host side, in the vCPU worker handling
// that exit: nicIdleWait(). The backend publishes used.idx *before* it bumps the wake
// counter, so either the counter moves after we sampled it (Atomics.wait returns at once)
// or used.idx already differs from used_event (a frame is waiting: do not sleep).
import { VQ_RING, VqUsedHdr } from '../abi/virtio.js';
import * as libc from '../sys/libc.js';
import type { NicVqAddrs } from '../abi/nic.js';
import { CTL_WAKE } from '../abi/nic-ctl.js';

export type IdleWaitResult = 'pending' | 'woken' | 'timeout';

/**
 * Block this thread until the backend wakes queue `q` or `timeoutMs` passes.
 * `counters` is NicHandle.wakeCounters (shareable with workers through its .buffer);
 * `mem` is a view of guest memory from guest-physical 0; `rx` is queue q's RX ring.
 */
export function nicIdleWait(counters: Int32Array, mem: DataView, rx: NicVqAddrs, q: number, timeoutMs: number, xskRx?: XskRxWords): IdleWaitResult {
  const seen = Atomics.load(counters, CTL_WAKE + q);
  // xdp_rings "guest": frames the kick thread's wake may already have announced before `seen`
  if (xskRx && xskRx.producer() !== xskRx.consumer()) return 'pending';
  const usedIdx = mem.getUint16(Number(rx.used) + VqUsedHdr.at.idx, true);
  const usedEvent = mem.getUint16(Number(rx.avail) + VQ_RING + 2 * rx.size, true); // used_event
  if (usedIdx !== usedEvent) return 'pending';
  return Atomics.wait(counters, CTL_WAKE + q, seen, timeoutMs) === 'timed-out' ? 'timeout' : 'woken';
}

/** The RX ring words of an AF_XDP socket the guest polls (xdp_rings "guest"), read by the vCPU worker. */
export interface XskRxWords {
  producer(): number;
  consumer(): number;
}

/** Views of the RX producer and consumer words at these host addresses (the socket's ring mmap, same process). */
export function xskRxWords(a: { producer: number; consumer: number }): XskRxWords {
  const p = new Uint32Array(libc.view(a.producer, 4));
  const c = new Uint32Array(libc.view(a.consumer, 4));
  return { producer: () => Atomics.load(p, 0), consumer: () => Atomics.load(c, 0) };
}


/** Tell the backend the guest posted buffers (on an `out` to ix_nic_info.notify_port). */
export function nicKick(kickFd: number): void {
  libc.signalEventfd(kickFd);
}
