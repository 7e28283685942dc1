// TX path of the engine: guest TX ring -> TAP fd. Every chain is validated by the device
// queue, then checked here (runt, oversize, no offload flags in the guest's header) and sent
// with the host's own zero header in front of the guest's frame bytes (scratch.ts).
import type { GuestMemory } from './guest-memory.js';
import * as libc from '../sys/libc.js';
import { errnoText } from './errno.js';
import type { EngineEvents } from './events.js';
import { ETH_HLEN, VNET_HDR_LEN } from './frame.js';
import type { Nicio } from './nicio.js';
import { BURST, type IoScratch } from './scratch.js';
import { Chain, type DeviceQueue } from './virtqueue.js';

/** Byte i of chain c (validated chain, i < c.total). */
function chainByte(mem: GuestMemory, c: Chain, i: number): number {
  for (let s = 0; s < c.count; s++) {
    const len = c.len[s]!;
    if (i < len) return mem.u8[c.addr[s]! + i]!;
    i -= len;
  }
  return 0;
}

/** Counts and returns false if the validated TX chain c of queue q must not be sent (runt, oversize, offload flags). */
export function checkTxChain(mem: GuestMemory, ev: EngineEvents, q: number, c: Chain, maxFrame: number): boolean {
  const frame = c.total - VNET_HDR_LEN;
  if (frame < ETH_HLEN) ev.count(q, 'tx_drop_runt');
  else if (c.total > maxFrame) ev.count(q, 'tx_drop_oversize');
  else if (chainByte(mem, c, 0) !== 0 || chainByte(mem, c, 1) !== 0) {
    // flags / gso_type: no offloads were negotiated
    ev.count(q, 'tx_drop_bad_hdr');
    ev.once(`${q}.tx.hdr`, `nic: queue ${q} tx: virtio_net_hdr with flags/gso set (no offloads negotiated); dropping`);
  } else return true;
  return false;
}

export interface TxPathParts {
  mem: GuestMemory;
  queues: DeviceQueue[];
  /** one fd per queue */
  fds: number[];
  events: EngineEvents;
  scratch: IoScratch;
  /** frames per queue per pass */
  batch: number;
  /** largest frame (with header) the guest's MTU allows */
  maxFrame: number;
  /** burst I/O helper, or undefined for one koffi call per frame */
  nicio: Nicio | undefined;
  /** the guest asked to be told about new used entries on queue q */
  wake: (q: number) => void;
}

export class TxPath {
  private readonly one = new Chain();
  private readonly burst: Chain[] = [];

  constructor(private readonly p: TxPathParts) {
    if (p.nicio) for (let i = 0; i < BURST.max; i++) this.burst.push(new Chain());
  }

  /** Counts and returns false if the validated TX chain c must not be sent. */
  private check(q: number, c: Chain): boolean {
    return checkTxChain(this.p.mem, this.p.events, q, c, this.p.maxFrame);
  }

  private result(q: number, c: Chain, w: number, err: number): void {
    const ev = this.p.events;
    if (w < 0) {
      ev.count(q, 'tx_drop_write_error');
      ev.once(`${q}.tx.write`, `nic: queue ${q}: write to TAP failed: ${errnoText(err)}`);
    } else {
      ev.count(q, 'tx_frames');
      ev.count(q, 'tx_bytes', c.total - VNET_HDR_LEN);
    }
  }

  /** Send up to `batch` frames of queue q, return their buffers, wake the guest if it asked. */
  pass(q: number): number {
    const { queues, fds, events, scratch, nicio } = this.p;
    const tq = queues[q]!;
    const fd = fds[q]!;
    const dv = scratch.bDv;
    let work = 0;
    let touched = false;
    let nb = 0; // frames collected for a burst
    let iovAt = 0;
    while (work < this.p.batch) {
      const c = nicio ? this.burst[nb]! : this.one;
      const r = tq.pop(c);
      if (r === 'empty') break;
      if (r === 'broken') {
        events.brokenQueue('tx', q);
        break;
      }
      work++;
      if (r !== 'ok') {
        events.bad('tx', q, r, c.head);
        if (r !== 'bad_head') {
          tq.pushUsed(c.head, 0);
          touched = true;
        }
        continue;
      }
      touched = true;
      if (!this.check(q, c)) {
        tq.pushUsed(c.head, 0);
        continue;
      }
      if (!nicio) {
        const w = libc.writev(fd, scratch.iov, scratch.fillTxIov(c));
        this.result(q, c, w, w < 0 ? libc.errno() : 0);
        tq.pushUsed(c.head, 0);
        continue;
      }
      // collect: copy this frame's iovecs into the burst area
      const cnt = scratch.fillTxIov(c);
      new Uint8Array(dv!.buffer, dv!.byteOffset + BURST.iov + 16 * iovAt, 16 * cnt).set(
        new Uint8Array(scratch.iovDv.buffer, scratch.iovDv.byteOffset, 16 * cnt),
      );
      dv!.setInt32(BURST.cnt + 4 * nb, cnt, true);
      iovAt += cnt;
      nb++;
    }
    if (nb > 0) {
      const a = scratch.bArea;
      nicio!.writeBurst(fd, a + BURST.iov, a + BURST.cnt, a + BURST.res, nb);
      for (let i = 0; i < nb; i++) {
        const res = dv!.getInt32(BURST.res + 4 * i, true);
        const c = this.burst[i]!;
        this.result(q, c, res, -res);
        tq.pushUsed(c.head, 0);
      }
    }
    if (touched && tq.publish()) {
      events.count(q, 'wakeups');
      this.p.wake(q);
    }
    return work;
  }
}
