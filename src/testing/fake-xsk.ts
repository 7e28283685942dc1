// A fake kernel side of AF_XDP sockets for tests and the xdp fuzz target: the four rings in
// anonymous native memory laid out as the kernel's (producer, consumer and flags words first,
// entries at 256), and a well-behaved kernel in copy mode that takes FILL addresses for the
// frames it receives, sends what the host posts on TX and completes it. The raw accessors let
// a hostile kernel (src/testing/xdp-fuzz.ts) write whatever it likes.
import type { GuestMemory } from '../nic/guest-memory.js';
import { XDP_PACKET_HEADROOM, XSK_CHUNK, type XskRing, type XskSocket } from '../nic/xdp/xsk.js';
import * as libc from '../sys/libc.js';

export type XskRingName = 'rx' | 'tx' | 'fill' | 'comp';
const ENTRIES = 256;

export class FakeXskError extends Error {
  override name = 'FakeXskError';
}

/** One ring of `size` entries of `descBytes` bytes: words at 0/64/128, entries at 256. */
export function fakeXskRing(size: number, descBytes: number): XskRing {
  const mapLen = ENTRIES + size * descBytes;
  const map = libc.mapAnon(mapLen);
  return { map, mapLen, producer: map, consumer: map + 64, flags: map + 128, desc: map + ENTRIES, size };
}

export class FakeXskSocket {
  readonly s: XskSocket;
  readonly dv: Record<XskRingName, DataView>;
  constructor(queue: number, private readonly mem: GuestMemory, readonly size = 64, fd = -1) {
    this.s = { fd, ifindex: 1, queue, rx: fakeXskRing(size, 16), tx: fakeXskRing(size, 16), fill: fakeXskRing(size, 8), comp: fakeXskRing(size, 8), zeroCopy: false };
    const v = (r: XskRing) => new DataView(libc.view(r.map, r.mapLen));
    this.dv = { rx: v(this.s.rx), tx: v(this.s.tx), fill: v(this.s.fill), comp: v(this.s.comp) };
  }

  prod(r: XskRingName): number {
    return this.dv[r].getUint32(0, true);
  }
  cons(r: XskRingName): number {
    return this.dv[r].getUint32(64, true);
  }
  setProd(r: XskRingName, v: number): void {
    this.dv[r].setUint32(0, v >>> 0, true);
  }
  setCons(r: XskRingName, v: number): void {
    this.dv[r].setUint32(64, v >>> 0, true);
  }
  /** byte offset of entry i (free-running index) of ring r */
  at(r: XskRingName, i: number): number {
    return ENTRIES + (r === 'fill' || r === 'comp' ? 8 : 16) * (i & (this.size - 1));
  }
  /** the u64 address of entry i as a number (exact below 2^53) */
  addr(r: XskRingName, i: number): number {
    const o = this.at(r, i);
    return this.dv[r].getUint32(o, true) + this.dv[r].getUint32(o + 4, true) * 2 ** 32;
  }
  /** write entry i's address as two 32-bit halves (hi may carry an offset in its top 16 bits) */
  setAddr(r: XskRingName, i: number, lo: number, hi: number): void {
    const o = this.at(r, i);
    this.dv[r].setUint32(o, lo >>> 0, true);
    this.dv[r].setUint32(o + 4, hi >>> 0, true);
  }
  /** len of RX/TX descriptor i */
  len(r: 'rx' | 'tx', i: number): number {
    return this.dv[r].getUint32(this.at(r, i) + 8, true);
  }
  /** Produce RX descriptor {addr (low 48 bits) | off << 48, len}. */
  putRx(addr: number, off: number, len: number): void {
    const p = this.prod('rx');
    this.setAddr('rx', p, addr % 2 ** 32, (Math.floor(addr / 2 ** 32) & 0xffff) | (off << 16));
    this.dv.rx.setUint32(this.at('rx', p) + 8, len >>> 0, true);
    this.setProd('rx', p + 1);
  }
  /** Produce one COMPLETION entry. */
  putComp(addr: number): void {
    const p = this.prod('comp');
    this.setAddr('comp', p, addr % 2 ** 32, Math.floor(addr / 2 ** 32));
    this.setProd('comp', p + 1);
  }

  /** FILL addresses the host has posted and the kernel has not taken */
  pendingFill(): number[] {
    const out: number[] = [];
    for (let i = this.cons('fill'); i !== this.prod('fill'); i = (i + 1) >>> 0) out.push(this.addr('fill', i));
    return out;
  }

  /** Receive one frame as the kernel does in copy mode; false if FILL is empty. Throws on a
   * FILL address outside the UMEM (the kernel's own check). */
  receive(f: Uint8Array): boolean {
    const c = this.cons('fill');
    if (c === this.prod('fill')) return false;
    const addr = this.addr('fill', c);
    this.setCons('fill', c + 1);
    if (!(addr + XSK_CHUNK <= this.mem.size)) throw new FakeXskError(`FILL address 0x${addr.toString(16)} is outside the UMEM`);
    this.mem.u8.set(f, addr + XDP_PACKET_HEADROOM);
    this.putRx(addr, XDP_PACKET_HEADROOM, f.length);
    return true;
  }

  /** Send what the host posted on TX and complete it; returns the frames. Throws on a TX
   * descriptor outside the UMEM. */
  transmit(): { addr: number; bytes: Uint8Array }[] {
    const out: { addr: number; bytes: Uint8Array }[] = [];
    let c = this.cons('tx');
    for (const p = this.prod('tx'); c !== p; c = (c + 1) >>> 0) {
      const addr = this.addr('tx', c);
      const len = this.len('tx', c);
      if (!(addr + len <= this.mem.size)) throw new FakeXskError(`TX descriptor 0x${addr.toString(16)}+${len} is outside the UMEM`);
      out.push({ addr, bytes: this.mem.u8.slice(addr, addr + len) });
      this.putComp(addr);
    }
    this.setCons('tx', c);
    return out;
  }

  free(): void {
    for (const r of [this.s.rx, this.s.tx, this.s.fill, this.s.comp]) libc.unmap(r.map, r.mapLen);
  }
}
