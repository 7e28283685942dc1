// Host view of one mapped AF_XDP ring (producer/consumer words, descriptors). The producer and
// consumer are free-running u32 indices; x86 keeps stores in order, so descriptors written
// before the producer store are visible to the kernel with it.
import * as libc from '../../sys/libc.js';
import type { XskRing } from './xsk.js';

export class RingView {
  readonly dv: DataView;
  readonly mask: number;
  readonly size: number;
  private readonly prod: number;
  private readonly cons: number;
  private readonly desc: number;
  private readonly stride: number;

  constructor(r: XskRing, descBytes: 8 | 16) {
    this.dv = new DataView(libc.view(r.map, r.mapLen));
    this.size = r.size;
    this.mask = r.size - 1;
    this.prod = r.producer - r.map;
    this.cons = r.consumer - r.map;
    this.desc = r.desc - r.map;
    this.stride = descBytes;
  }

  producer(): number {
    return this.dv.getUint32(this.prod, true);
  }
  consumer(): number {
    return this.dv.getUint32(this.cons, true);
  }
  setProducer(v: number): void {
    this.dv.setUint32(this.prod, v >>> 0, true);
  }
  setConsumer(v: number): void {
    this.dv.setUint32(this.cons, v >>> 0, true);
  }
  /** byte offset in dv of entry i (free-running index) */
  at(i: number): number {
    return this.desc + this.stride * (i & this.mask);
  }
  /** a u64 address entry (FILL/COMPLETION, or the addr of an RX/TX descriptor) as a number; hi >= 2^21 reads as NaN */
  addr(i: number): { lo: number; hi: number } {
    const o = this.at(i);
    return { lo: this.dv.getUint32(o, true), hi: this.dv.getUint32(o + 4, true) };
  }
  setAddr(i: number, a: number): void {
    const o = this.at(i);
    this.dv.setUint32(o, a % 0x100000000, true);
    this.dv.setUint32(o + 4, Math.floor(a / 0x100000000), true);
  }
}
