// A fake guest for tests and benchmarks: the *driver* side of one virtio-net queue pair,
// written in TypeScript over the same guest memory the backend serves, plus a reflector that
// turns every received frame around (swapping Ethernet/IP addresses and ports, which keeps
// all checksums valid) and sends it back through TX with no copy: a buffer moves from the RX
// ring to the TX ring and back.
//
// Buffer b (0..size-1) lives at bufBase + b * bufSize; RX descriptor b and TX descriptor b
// both always point at buffer b, and a buffer is in at most one ring at a time.
import { VQ_RING, VqAvailHdr, VqDesc, VqUsedElem, VqUsedHdr } from '../abi/virtio.js';
import { readStruct, writeStruct } from '../abi/struct.js';
import { Worker } from 'node:worker_threads';
import type { GuestMemory } from '../nic/guest-memory.js';
import { workerScriptUrl } from '../sys/worker-url.js';
import type { NicVqAddrs } from '../abi/nic.js';
import { VIRTQ_DESC_F_WRITE, fence } from '../nic/virtqueue.js';

export const FAKE_BUF_SIZE = 2048;

export class FakeGuestError extends Error {
  override name = 'FakeGuestError';
}

export class DriverRing {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  readonly size: number;
  availIdx = 0; // shadow of avail.idx
  publishedAvail = 0;
  lastUsed = 0;

  constructor(private readonly dv: DataView, a: NicVqAddrs) {
    this.desc = Number(a.desc);
    this.avail = Number(a.avail);
    this.used = Number(a.used);
    this.size = a.size;
  }

  reset(mem: GuestMemory): void {
    mem.u8.fill(0, this.desc, this.desc + 16 * this.size);
    mem.u8.fill(0, this.avail, this.avail + 6 + 2 * this.size);
    mem.u8.fill(0, this.used, this.used + 6 + 8 * this.size);
    this.availIdx = this.publishedAvail = this.lastUsed = 0;
  }

  setDesc(i: number, addr: number, len: number, flags: number, next = 0): void {
    writeStruct(VqDesc, this.dv, this.desc + VqDesc.size * i, { addr, len, flags, next });
  }

  post(head: number): void {
    this.dv.setUint16(this.avail + VQ_RING + 2 * (this.availIdx & (this.size - 1)), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
  }

  /** Publish posted heads; returns true if the device asked for a kick (EVENT_IDX). */
  flush(): boolean {
    if (this.availIdx === this.publishedAvail) return false;
    const old = this.publishedAvail;
    this.dv.setUint16(this.avail + VqAvailHdr.at.idx, this.availIdx, true);
    this.publishedAvail = this.availIdx;
    fence();
    const ev = this.dv.getUint16(this.used + VQ_RING + VqUsedElem.size * this.size, true);
    return ((this.availIdx - ev - 1) & 0xffff) < ((this.availIdx - old) & 0xffff);
  }

  /** Continue from the ring's current state (rings initialised by another thread). */
  adopt(): void {
    this.availIdx = this.publishedAvail = this.dv.getUint16(this.avail + VqAvailHdr.at.idx, true);
    this.lastUsed = this.dv.getUint16(this.used + VqUsedHdr.at.idx, true);
  }

  /** Used entries waiting. */
  usedPending(): number {
    return (this.dv.getUint16(this.used + VqUsedHdr.at.idx, true) - this.lastUsed) & 0xffff;
  }

  /** Overwrite avail.idx directly (hostile tests). */
  rawAvailIdx(v: number): void {
    this.dv.setUint16(this.avail + VqAvailHdr.at.idx, v & 0xffff, true);
  }

  /** Ask for a notification when the device uses the next entry. Returns true if entries
   * are already waiting (do not sleep then). */
  armUsedEvent(): boolean {
    this.dv.setUint16(this.avail + VQ_RING + 2 * this.size, this.lastUsed, true);
    fence();
    return this.usedPending() !== 0;
  }

  /** Next used entry, or null. */
  takeUsed(): { id: number; len: number } | null {
    const idx = this.dv.getUint16(this.used + VqUsedHdr.at.idx, true);
    if (idx === this.lastUsed) return null;
    const e = this.used + VQ_RING + VqUsedElem.size * (this.lastUsed & (this.size - 1));
    this.lastUsed = (this.lastUsed + 1) & 0xffff;
    return readStruct(VqUsedElem, this.dv, e);
  }
}

export class FakeGuestQueue {
  readonly rx: DriverRing;
  readonly tx: DriverRing;
  kicks = 0;

  constructor(
    readonly mem: GuestMemory,
    rx: NicVqAddrs,
    tx: NicVqAddrs,
    /** guest-physical start of rx.size buffers of FAKE_BUF_SIZE bytes */
    readonly bufBase: number,
    private readonly kick: () => void = () => {},
  ) {
    this.rx = new DriverRing(mem.dv, rx);
    this.tx = new DriverRing(mem.dv, tx);
    if (rx.size !== tx.size) throw new FakeGuestError(`the fake guest needs equal RX and TX ring sizes (got ${rx.size} and ${tx.size})`);
  }

  buf(b: number): number {
    return this.bufBase + b * FAKE_BUF_SIZE;
  }

  /** Zero both rings and post every buffer to RX (call before the backend attaches). */
  init(postRx = true): void {
    this.rx.reset(this.mem);
    this.tx.reset(this.mem);
    for (let b = 0; b < this.rx.size; b++) {
      this.rx.setDesc(b, this.buf(b), FAKE_BUF_SIZE, VIRTQ_DESC_F_WRITE);
      this.tx.setDesc(b, this.buf(b), 0, 0);
      if (postRx) this.rx.post(b);
    }
    this.flushRx();
  }

  flushRx(): void {
    if (this.rx.flush()) this.doKick();
  }
  flushTx(): void {
    if (this.tx.flush()) this.doKick();
  }
  private doKick(): void {
    this.kicks++;
    this.kick();
  }

  /** Queue buffer b (holding a 12-byte header + frame of `len` bytes in total) for TX. */
  sendBuf(b: number, len: number): void {
    this.tx.setDesc(b, this.buf(b), len, 0);
    this.tx.post(b);
  }

  /** Frame bytes of a received buffer (without the virtio-net header). */
  frame(b: number, len: number): Uint8Array {
    return this.mem.u8.subarray(this.buf(b) + 12, this.buf(b) + len);
  }

  /** One reflector pass: RX -> swap -> TX, TX done -> RX. Returns frames reflected. */
  reflectOnce(budget = 64, onRx?: (b: number, len: number) => void): number {
    let n = 0;
    for (let e = this.tx.takeUsed(); e !== null; e = this.tx.takeUsed()) this.rx.post(e.id);
    this.flushRx();
    for (; n < budget; n++) {
      const e = this.rx.takeUsed();
      if (e === null) break;
      onRx?.(e.id, e.len);
      swapFrame(this.mem.u8, this.buf(e.id) + 12, e.len - 12);
      this.mem.u8.fill(0, this.buf(e.id), this.buf(e.id) + 12); // plain header, no offloads
      this.sendBuf(e.id, e.len);
    }
    this.flushTx();
    return n;
  }
}

function swap(u8: Uint8Array, a: number, b: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const t = u8[a + i]!;
    u8[a + i] = u8[b + i]!;
    u8[b + i] = t;
  }
}

/** Swap source/destination MAC, IPv4 address and TCP/UDP port in place. */
export function swapFrame(u8: Uint8Array, off: number, len: number): void {
  if (len < 14) return;
  swap(u8, off, off + 6, 6);
  if (len < 34 || u8[off + 12] !== 0x08 || u8[off + 13] !== 0x00) return;
  const ip = off + 14;
  swap(u8, ip + 12, ip + 16, 4);
  const ihl = (u8[ip]! & 15) * 4;
  const proto = u8[ip + 9];
  if ((proto === 6 || proto === 17) && 14 + ihl + 4 <= len) swap(u8, ip + ihl, ip + ihl + 2, 2);
}

/** A running fake guest core (fake-guest-worker.ts). */
export interface FakeGuestHandle {
  /** frames seen on queue q from source port p */
  framesFrom(q: number, port: number): number;
  stop(): Promise<void>;
}

export async function startFakeGuest(o: {
  memory: { base: bigint | number; size: number };
  rx: NicVqAddrs[];
  tx: NicVqAddrs[];
  bufBase: number[];
  kickFd: number;
  /** rings were already initialised (FakeGuestQueue.init) by the caller */
  initialised?: boolean;
  /** halt like a real guest core: after spinUs without work, arm used_event and wait on this
   * wake counter array (NicHandle.wakeCounters, index wakeIndex) instead of spinning */
  wake?: { counters: Int32Array; index: number; spinUs: number };
}): Promise<FakeGuestHandle> {
  const ctl = new SharedArrayBuffer(8);
  const ports = new SharedArrayBuffer(4 * 65536 * o.rx.length);
  const w = new Worker(workerScriptUrl(import.meta.url, 'fake-guest-worker.js'), {
    workerData: {
      base: Number(o.memory.base),
      size: o.memory.size,
      rx: o.rx,
      tx: o.tx,
      bufBase: o.bufBase,
      kickFd: o.kickFd,
      ctl,
      ports,
      initialised: o.initialised ?? false,
      wake: o.wake ? { sab: o.wake.counters.buffer, index: o.wake.index, spinUs: o.wake.spinUs } : undefined,
    },
  });
  const exited = new Promise<void>((r) => w.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
    w.once('exit', (c) => reject(new FakeGuestError(`fake guest worker exited early (code ${c})`)));
  });
  const c = new Int32Array(ctl);
  const p = new Uint32Array(ports);
  return {
    framesFrom: (q, port) => p[q * 65536 + port]!,
    async stop() {
      Atomics.store(c, 0, 1);
      await exited;
    },
  };
}

/** The backend's `worker` option for a fake guest reflector inside the backend thread
 * (reflector-worker.ts), on buffers at these guest-physical addresses (one area per queue). */
export function inlineReflectorWorker(bufBase: number[]): { url: URL; extra: { bufBase: number[] } } {
  return { url: workerScriptUrl(import.meta.url, 'reflector-worker.js'), extra: { bufBase } };
}
