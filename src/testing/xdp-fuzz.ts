// Target (d) of the fuzzing (docs/fuzzing.md), second half: the XDP backend's descriptor
// handling (src/nic/xdp/engine.ts) between a hostile guest and a fake AF_XDP kernel that
// behaves well and badly. NOT coverage-guided: a seeded, structure-aware random loop.
//
// Each round (one execution): the guest rewrites RX and TX descriptors (good buffers,
// buffers at the UMEM's edges, too small, chained, over the rings or the bounce slots, the
// address of a buffer the device holds, wrong direction, INDIRECT, zero length, loops, links
// past the table, 65-segment chains, TX runts, oversize frames, offload headers), posts heads
// (some past the table, rarely an avail.idx jump that breaks the queue); the fake kernel sends
// and completes TX, receives frames into FILL chunks and, now and then, lies: RX descriptors
// with a wrong offset or a length past the buffer, for addresses it never got or already gave
// back, RX/COMPLETION producer jumps over garbage, completions for slots never sent, twice,
// or outside the bounce area; then XdpEngine.pollOnce runs. Checked after every pass against
// a model written here (its virtqueue walk is virtqueue-fuzz.ts's):
//   - every pop's verdict: each refusal counter moves by exactly the refused chains the model
//     walked, the engine's drop counters by what the model expects of the chains and frames;
//   - every FILL address is inside the UMEM and is the chunk of a one-segment RX buffer the
//     guest posted device-writable on that queue and the device still holds, at most once in
//     the kernel; FILL entries are not rewritten; rings are never overfilled;
//   - TX descriptors name only the queue's bounce slots, never one the kernel holds, and carry
//     exactly the frames the guest's valid chains held (content, order);
//   - the engine writes guest memory only in the used rings, the bounce slots and RX buffers
//     the device holds; used entries name only held chains; a buffer is not returned while
//     the kernel may still write it; every delivered frame is a frame the kernel received,
//     with a zero header, on the queue RSS (or ARP) names, once;
//   - a frame waiting in a chunk for the engine changes only where the guest laid another
//     buffer the device holds over it (and then its delivery is not compared: a guest that
//     posts overlapping buffers corrupts its own frames, which no device can notice; the
//     generator keeps RX buffers equal or disjoint except through chained descriptors);
//   - no exception escapes; at the end of an episode (a good kernel drains everything) no RX
//     chain is left with the device, TX uses exactly its bounce slots, FILL holds exactly its
//     target, the guard pages around guest RAM are intact.
// After each episode, 40 rounds of the guest-polled mode (xdp_rings = "guest", fuzzKicker):
// the host reads nothing there but ring indices and ctl words, which the guest scribbles.
// The engine's private DeviceQueues are read for one thing only: lastAvail (how far the pass
// popped), so that the model knows which avail slots to walk. Lies the engine cannot tell
// from the truth (a kernel naming a chunk it still holds, completing a slot it has not sent)
// are not generated: garbage RX addresses are never 4-aligned (every guest RX buffer is),
// spurious completions name only slots the kernel does not hold.
import { GuestMemory } from '../nic/guest-memory.js';
import { VNET_HDR_LEN, maxFrameWithHeader } from '../nic/frame.js';
import { prepareNicRings } from '../nic/rings.js';
import { COUNTER_INDEX, NCOUNTERS, type CounterName } from '../nic/stats.js';
import { MS_RSS_KEY, RssSteering } from '../nic/toeplitz.js';
import {
  BAD_KINDS, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, availRingBytes, descTableBytes, usedRingBytes, type DeviceQueue, type PopResult,
} from '../nic/virtqueue.js';
import { XDP_RX_MIN_BUFFER, XdpEngine } from '../nic/xdp/engine.js';
import { layoutGuestRings, writeXskInfo } from '../nic/xdp/guest-rings.js';
import { XskKicker } from '../nic/xdp/kicker.js';
import { XDP_PACKET_HEADROOM, XSK_CHUNK } from '../nic/xdp/xsk.js';
import { XskCtl, XskInfo } from '../abi/xsk.js';
import { FakeGuestRam } from './fake-guest-ram.js';
import { FakeXskSocket } from './fake-xsk.js';
import { testNicPlan } from './nic-plan.js';
import { Rng, firstDiff, modelWalk } from './virtqueue-fuzz.js';

// the guest's RX buffers live in one 2 KB region per (queue, head), at a fixed offset in it:
// buffers that overlap without being equal are a guest hurting itself (the kernel's frame in
// one clobbers the other's), which no device can notice, so the generator makes only equal
// or disjoint ones; the last region is the UMEM's end
const REGIONS = 2 * 128;
const MEM = 0x20000 + (REGIONS + 1) * 2048 + 0x800;
const RINGS_AT = 0x1000;
const BOUNCE_AT = 0x10000; // at most 2 queues x 8 slots
const TXB = 0x18000; // the guest's TX frames (16 chunks)
const RXB = 0x20000; // the guest's RX buffers, to the end of RAM
const FILL_OFFSET = XDP_PACKET_HEADROOM - VNET_HDR_LEN;
const ROUNDS = 200;
const MAX_GOOD_RX = XDP_RX_MIN_BUFFER + 399; // longest RX buffer the guest posts

export interface XdpFuzzStats { rounds: number; kickerRounds: number; frames: number; verdicts: Record<string, number> }

class FuzzFailure extends Error {
  override name = 'XdpFuzzFailure';
}

interface Drv { desc: number; avail: number; used: number; size: number; dir: 'rx' | 'tx'; availIdx: number; lastUsed: number; everBroken: boolean }
interface Held { segs: [number, number][]; total: number }
interface QModel {
  rx: Drv;
  tx: Drv;
  /** RX chains the device holds (popped ok, not yet in the used ring), by head */
  owned: Map<number, Held>;
  /** chunk address -> entries on FILL or produced on RX and not yet consumed by the engine */
  inKernel: Map<number, number>;
  /** TX frames the engine popped and must put on the wire, in order */
  wire: Uint8Array[];
  wireAt: number;
  lo0: number;
}
/** an RX descriptor the fake kernel produced: 0 a frame, 1 a legit chunk with a bad layout, 2 garbage */
interface RxLog { kind: 0 | 1 | 2; a: number; fid: number }
interface KSock { k: FakeXskSocket; q: number; fifo: number[]; log: RxLog[]; logAt: number; txHeld: Set<number>; compQ: number[]; target: number }
interface Sent { f: Uint8Array; targets: number; done: number }

const fillable = (h: Held): boolean => h.segs.length === 1 && h.segs[0]![1] >= XDP_RX_MIN_BUFFER && h.segs[0]![0] >= FILL_OFFSET && h.segs[0]![0] - FILL_OFFSET + XSK_CHUNK <= MEM;
const bump = (m: Map<number, number>, k: number, d: number): void => {
  const v = (m.get(k) ?? 0) + d;
  if (v === 0) m.delete(k);
  else m.set(k, v);
};

class Episode {
  readonly nq: number;
  readonly qsize: number;
  readonly xring: number;
  readonly spq: number;
  readonly batch: number;
  readonly maxFrame: number;
  readonly ram: FakeGuestRam;
  readonly mem: GuestMemory;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly before = new Uint8Array(MEM);
  readonly bdv = new DataView(this.before.buffer);
  readonly engine: XdpEngine;
  readonly rxq: DeviceQueue[];
  readonly txq: DeviceQueue[];
  readonly qs: QModel[] = [];
  readonly socks: KSock[] = [];
  readonly stats: Float64Array;
  readonly forbidden: [number, number][] = [];
  readonly rss: RssSteering;
  readonly sent = new Map<number, Sent>();
  /** chunks whose frame, waiting for the engine, was overwritten by a copy into another buffer
   * the guest made overlap it */
  readonly tainted = new Set<number>();
  fid = 0;
  round = 0;

  constructor(private readonly rng: Rng, private readonly seed: number, private readonly st: XdpFuzzStats) {
    this.nq = 1 + rng.below(2);
    this.qsize = [16, 32, 64, 128][rng.below(4)]!;
    this.xring = [8, 16, 32, 64][rng.below(4)]!;
    this.spq = 1 + rng.below(Math.min(8, this.xring));
    this.batch = [4, 16, 64][rng.below(3)]!;
    const nsock = this.nq * (rng.below(4) === 0 ? 2 : 1);
    const p0 = testNicPlan({ nqueues: this.nq, queueSize: this.qsize, rssKey: Buffer.from(MS_RSS_KEY).toString('hex') });
    const plan = { ...p0, backend: { ...p0.backend, batch: this.batch } };
    this.maxFrame = maxFrameWithHeader(plan.mtu);
    this.rss = new RssSteering(plan.rss, this.nq);
    this.ram = new FakeGuestRam(MEM, 4096);
    this.mem = new GuestMemory(this.ram.spec);
    this.u8 = this.mem.u8;
    this.dv = this.mem.dv;
    const rings = prepareNicRings(this.mem, RINGS_AT, BOUNCE_AT, this.nq, this.qsize);
    const drv = (a: (typeof rings.rx)[number], dir: 'rx' | 'tx'): Drv => {
      const d = { desc: Number(a.desc), avail: Number(a.avail), used: Number(a.used), size: a.size, dir, availIdx: 0, lastUsed: 0, everBroken: false };
      this.forbidden.push([d.desc, d.desc + descTableBytes(d.size)], [d.avail, d.avail + availRingBytes(d.size)], [d.used, d.used + usedRingBytes(d.size)]);
      return d;
    };
    for (let q = 0; q < this.nq; q++)
      this.qs.push({ rx: drv(rings.rx[q]!, 'rx'), tx: drv(rings.tx[q]!, 'tx'), owned: new Map(), inKernel: new Map(), wire: [], wireAt: 0, lo0: BOUNCE_AT + q * this.spq * XSK_CHUNK });
    this.forbidden.push([BOUNCE_AT, BOUNCE_AT + this.nq * this.spq * XSK_CHUNK]);
    this.stats = new Float64Array(NCOUNTERS * this.nq);
    const perQueue = nsock / this.nq;
    for (let i = 0; i < nsock; i++) {
      const target = Math.max(1, Math.min(this.xring, Math.floor((this.qsize * 3) / 4 / perQueue)));
      this.socks.push({ k: new FakeXskSocket(i, this.mem, this.xring), q: i % this.nq, fifo: [], log: [], logAt: 0, txHeld: new Set(), compQ: [], target });
    }
    this.engine = new XdpEngine(plan, {
      mem: this.mem, rings, sockets: this.socks.map((s) => s.k.s), bounce: { start: BOUNCE_AT, slotsPerQueue: this.spq },
      stats: this.stats, wake: () => {}, log: () => {},
    });
    const e = this.engine as unknown as { rxq: DeviceQueue[]; txq: DeviceQueue[] };
    this.rxq = e.rxq;
    this.txq = e.txq;
    this.engine.attach();
  }

  free(): void {
    this.engine.close();
    for (const s of this.socks) s.k.free();
    this.ram.free();
  }

  fail(what: string): never {
    throw new FuzzFailure(`xdp fuzz: seed ${this.seed} round ${this.round}: ${what}`);
  }

  verdict(v: string, n = 1): void {
    if (n > 0) this.st.verdicts[v] = (this.st.verdicts[v] ?? 0) + n;
  }

  // ---- the guest ----

  private setDesc(d: Drv, i: number, lo: number, hi: number, len: number, flags: number, next: number): void {
    const o = d.desc + 16 * i;
    this.dv.setUint32(o, lo >>> 0, true);
    this.dv.setUint32(o + 4, hi >>> 0, true);
    this.dv.setUint32(o + 8, len >>> 0, true);
    this.dv.setUint16(o + 12, flags, true);
    this.dv.setUint16(o + 14, next, true);
  }
  private desc(d: Drv, i: number, addr: number, len: number, flags: number, next = 0): void {
    this.setDesc(d, i, addr % 2 ** 32, Math.floor(addr / 2 ** 32), len, flags, next);
  }

  private pending(d: Drv, la: number): number {
    return (d.availIdx - la) & 0xffff;
  }

  /** heads the guest may not post: the device holds them or they wait in the avail ring */
  private busy(d: Drv, la: number, owned: Map<number, Held> | null): Uint8Array {
    const b = new Uint8Array(d.size);
    if (owned) for (const h of owned.keys()) b[h] = 1;
    const n = this.pending(d, la);
    if (n <= d.size) for (let s = 0; s < n; s++) {
      const h = this.dv.getUint16(d.avail + 4 + 2 * ((la + s) & (d.size - 1)), true);
      if (h < d.size) b[h] = 1;
    }
    return b;
  }

  private post(d: Drv, head: number): void {
    this.dv.setUint16(d.avail + 4 + 2 * (d.availIdx & (d.size - 1)), head, true);
    d.availIdx = (d.availIdx + 1) & 0xffff;
  }

  /** A generic refused descriptor (both directions): flags, zero length, beyond 2^53 or RAM, bad links. */
  private badDesc(d: Drv, i: number, ok: number): void {
    const r = this.rng;
    const a = RXB + XSK_CHUNK * r.below(REGIONS);
    switch (r.below(6)) {
      case 0: { // the wrong direction, or INDIRECT, or both (never a usable buffer: a region's
        // start overlaps the region's own buffer, and the generator makes no such pairs)
        const indirect = r.below(2) ? VIRTQ_DESC_F_INDIRECT : 0;
        const dir = indirect === 0 || r.below(2) ? ok ^ VIRTQ_DESC_F_WRITE : ok;
        return this.desc(d, i, a, 1804, dir | indirect | (r.below(2) ? VIRTQ_DESC_F_NEXT : 0));
      }
      case 1: return this.desc(d, i, a, 0, ok);
      case 2: return this.setDesc(d, i, r.next(), 0x200000 + r.below(0x1000), 64, ok, 0);
      case 3: return this.desc(d, i, MEM - r.below(64), 64 + r.below(2000), ok);
      case 4: return this.desc(d, i, a, 600, ok | VIRTQ_DESC_F_NEXT, d.size + r.below(0x10000 - d.size));
      default: return this.desc(d, i, a, 600, ok | VIRTQ_DESC_F_NEXT, i); // a loop
    }
  }

  /** 65 linked 64-byte segments from i (tables of 128 only) */
  private longChain(d: Drv, i: number, area: number, ok: number): void {
    if (d.size < 128) return;
    const start = Math.min(i, d.size - 66);
    for (let j = 0; j < 65; j++) this.desc(d, start + j, area + 64 * j, 64, ok | VIRTQ_DESC_F_NEXT, start + j + 1);
  }

  /** the buffer address of RX head h of queue q (its region, at an offset of 0..240) */
  private rxAddr(q: number, h: number): number {
    return RXB + XSK_CHUNK * ((q * 128 + h) % REGIONS) + 4 * ((h * 37 + q * 11) % 61);
  }

  private rxDesc(q: number, m: QModel, i: number): void {
    const r = this.rng;
    const d = m.rx;
    const W = VIRTQ_DESC_F_WRITE;
    const k = r.below(16);
    const a = this.rxAddr(q, i);
    if (k <= 6) return this.desc(d, i, a, XDP_RX_MIN_BUFFER + r.below(400), W);
    switch (k) {
      case 7: { // the buffer of a chain the device holds
        const held = [...m.owned.values()];
        const h = held[r.below(held.length + 1)];
        if (h) return this.desc(d, i, h.segs[0]![0], h.segs[0]![1], W);
        return this.desc(d, i, a, XDP_RX_MIN_BUFFER, W);
      }
      // the UMEM's edges (the buffers there on queue 0 only: one buffer on two queues is two
      // owners the device cannot tell apart): the last chunk, or 4 bytes past the end
      case 8: return this.desc(d, i, MEM - XDP_RX_MIN_BUFFER + 4 * (q > 0 ? 1 : r.below(2)), XDP_RX_MIN_BUFFER, W);
      case 9: { // FILL address 0; or below it (a chunk before the UMEM), big enough or not
        const k9 = r.below(3);
        if (k9 === 0 && q === 0) return this.desc(d, i, FILL_OFFSET, XDP_RX_MIN_BUFFER, W);
        return this.desc(d, i, 4 * r.below(FILL_OFFSET / 4), k9 === 1 ? XDP_RX_MIN_BUFFER : 1 + r.below(1500), W);
      }
      case 10: return this.desc(d, i, a, 1 + r.below(XDP_RX_MIN_BUFFER - 1), W); // too small for FILL
      case 11: { // two segments (a copy target if long enough), or a broken link
        const n = r.below(d.size);
        const l1 = 1 + r.below(1000);
        this.desc(d, i, a, l1, W | VIRTQ_DESC_F_NEXT, n);
        if (n !== i) this.desc(d, n, a + l1, Math.min(r.below(2) ? 1530 - l1 : 1 + r.below(1000), MEM - a - l1), W);
        return;
      }
      case 12: // over rings, bounce slots, between them (a grid per queue)
        return this.desc(d, i, RINGS_AT + 0x800 * (q + 2 * r.below((TXB - RINGS_AT) / 0x1000 - 1)), XDP_RX_MIN_BUFFER, W);
      case 13: return this.longChain(d, i, RXB, W);
      default: return this.badDesc(d, i, W);
    }
  }

  private txDesc(d: Drv, i: number): void {
    const r = this.rng;
    const k = r.below(14);
    if (k >= 10) {
      if (k === 10) return this.desc(d, i, (RINGS_AT + r.below(TXB - RINGS_AT)) & ~3, 60 + r.below(200), 0); // rings, bounce
      if (k === 11) return this.longChain(d, i, TXB, 0);
      return this.badDesc(d, i, 0);
    }
    // a frame: header (bad 1 in 10), then 0..13 (runt), 14..1518 or 1519.. (oversize) bytes, in 1-3 segments
    const a = TXB + XSK_CHUNK * r.below(16);
    const fl = k === 7 ? r.below(14) : k === 8 ? 1519 + r.below(200) : 14 + r.below(1505);
    const total = VNET_HDR_LEN + fl;
    this.u8.fill(0, a, a + VNET_HDR_LEN);
    if (k === 9) this.u8[a + r.below(2)] = 1 + r.below(255);
    this.u8.fill(++this.fid & 0xff, a + VNET_HDR_LEN, a + total);
    this.dv.setUint32(a + VNET_HDR_LEN, this.fid, true);
    const nseg = 1 + r.below(3);
    let at = 0;
    let di = i;
    for (let s = 0; s < nseg; s++) {
      const last = s === nseg - 1 || total - at < 2;
      const len = last ? total - at : 1 + r.below(total - at - 1);
      const next = last ? 0 : r.below(d.size);
      this.desc(d, di, a + at, len, last ? 0 : VIRTQ_DESC_F_NEXT, next);
      at += len;
      if (last) break;
      di = next;
    }
  }

  guest(): void {
    const r = this.rng;
    for (let q = 0; q < this.nq; q++) {
      const m = this.qs[q]!;
      for (const d of [m.rx, m.tx]) {
        const la = (d.dir === 'rx' ? this.rxq : this.txq)[q]!.lastAvail;
        for (let k = r.below(5); k > 0; k--) {
          if (d.dir === 'rx') this.rxDesc(q, m, r.below(d.size));
          else this.txDesc(d, r.below(d.size));
        }
        const busy = this.busy(d, la, d.dir === 'rx' ? m.owned : null);
        for (let k = r.below(6); k > 0 && this.pending(d, la) < d.size; k--) {
          const h = r.below(d.size);
          if (busy[h]) continue;
          busy[h] = 1;
          this.post(d, h);
        }
        if (r.below(12) === 0 && this.pending(d, la) < d.size) this.post(d, d.size + r.below(0x10000 - d.size));
        if (r.below(3000) === 0) d.availIdx = (la + d.size + 1 + r.below(0x10000 - d.size - 1)) & 0xffff; // breaks the queue
        this.dv.setUint16(d.avail + 2, d.availIdx, true);
        if (r.below(4) === 0) this.dv.setUint16(d.avail + 4 + 2 * d.size, r.below(0x10000), true); // used_event
      }
    }
  }

  // ---- the kernel ----

  /** an RX address no FILL entry can have: the guest's RX buffers are 4-aligned, so is every FILL chunk */
  private garbageRx(): number {
    const r = this.rng;
    switch (r.below(5)) {
      case 0: return 4 * r.below(MEM / 4) + 1 + r.below(3);
      case 1: return MEM - XSK_CHUNK + 2;
      case 2: return MEM + 4 * r.below(1024);
      case 3: return 2 ** 32 + 4 * r.below(1024);
      default: return 2 ** 48 - 4;
    }
  }

  private garbageComp(ks: KSock): number {
    const r = this.rng;
    const m = this.qs[ks.q]!;
    switch (r.below(5)) {
      case 0: { // a slot of this queue the kernel does not hold: never sent, or completed already
        const a = m.lo0 + XSK_CHUNK * r.below(this.spq);
        if (!ks.txHeld.has(a)) {
          this.verdict('kernel_comp_spurious');
          return a;
        }
        return MEM;
      }
      case 1: return m.lo0 + XSK_CHUNK * r.below(this.spq) + 1 + r.below(XSK_CHUNK - 1); // misaligned
      case 2: return this.nq === 2 ? this.qs[1 - ks.q]!.lo0 + XSK_CHUNK * r.below(this.spq) : BOUNCE_AT + XSK_CHUNK * (this.spq + r.below(4)); // another queue's slot
      case 3: return r.below(2) ? BOUNCE_AT - XSK_CHUNK : BOUNCE_AT + this.nq * this.spq * XSK_CHUNK;
      default: return r.below(2) ? 2 ** 48 - 1 : MEM;
    }
  }

  /**
   * The harness's own promise: a frame the kernel writes never lands on another frame still
   * waiting for the engine (that takes RX buffers that overlap without being equal, which the
   * generator does not make; a guest that does corrupts only its own frames). Broken, the
   * delivery check would report the clobbered frame as the engine's fault.
   */
  private noOverlap(a: number, len: number): void {
    const s = a + XDP_PACKET_HEADROOM;
    for (const ks of this.socks)
      for (let j = ks.logAt; j < ks.log.length; j++) {
        const e = ks.log[j]!;
        if (e.kind !== 0 || e.a === a) continue;
        const t = e.a + XDP_PACKET_HEADROOM;
        if (t < s + len && s < t + this.sent.get(e.fid)!.f.length)
          this.fail(`harness bug: the kernel's frame in chunk 0x${a.toString(16)} overlaps frame ${e.fid} waiting in chunk 0x${e.a.toString(16)} (the generator made RX buffers that overlap)`);
      }
  }

  private frame(): Uint8Array {
    const r = this.rng;
    const k = r.below(20);
    const len = k <= 13 ? 60 + r.below(1455) : k <= 15 ? this.maxFrame - VNET_HDR_LEN + 1 + r.below(XSK_CHUNK - XDP_PACKET_HEADROOM - this.maxFrame + VNET_HDR_LEN)
      : k === 16 ? XSK_CHUNK - XDP_PACKET_HEADROOM : k === 17 ? r.below(14) : k === 18 ? 14 : this.maxFrame - VNET_HDR_LEN;
    const f = new Uint8Array(len);
    const id = ++this.fid;
    f.fill(id & 0xff);
    f.set([2, 0, 0, 0, 0, 9, 2, 0, id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff].slice(0, len));
    if (len >= 14) {
      const arp = r.below(5) === 0;
      f[12] = 8;
      f[13] = arp ? 6 : 0;
      if (!arp && len >= 38) {
        f[14] = 0x45;
        f[23] = 17;
        f.set([10, 0, 0, 1, 10, 0, 0, 2, r.below(256), r.below(256), 0, 7], 26);
      }
    }
    let targets = 0;
    if (len + VNET_HDR_LEN >= VNET_HDR_LEN + 14 && len + VNET_HDR_LEN <= this.maxFrame)
      targets = this.nq === 1 ? 1 : f[12] === 8 && f[13] === 6 ? (1 << this.nq) - 1 : 1 << this.rss.steer(f, 0, len);
    this.sent.set(id, { f, targets, done: 0 });
    this.st.frames++;
    return f;
  }

  /** take the next FILL entry; it must be the address the engine posted there */
  private takeFill(ks: KSock): number {
    const k = ks.k;
    const c = k.cons('fill');
    const a = k.addr('fill', c);
    const want = ks.fifo.shift();
    if (a !== want) this.fail(`socket ${ks.k.s.queue}: FILL entry ${c} changed from 0x${want?.toString(16)} to 0x${a.toString(16)} after it was posted`);
    k.setCons('fill', c + 1);
    return a;
  }

  kernel(good: boolean, receiveAll = false): void {
    const r = this.rng;
    const xr = this.xring;
    for (const ks of this.socks) {
      const k = ks.k;
      const m = this.qs[ks.q]!;
      if (k.s.queue < this.nq) { // TX leaves through socket q
        const tc = k.cons('tx');
        const tp = k.prod('tx');
        if (((tp - tc) >>> 0) > xr) this.fail(`socket ${ks.q}: the engine put ${(tp - tc) >>> 0} entries in a TX ring of ${xr}`);
        for (let c = tc; c !== tp; c = (c + 1) >>> 0) {
          const a = k.addr('tx', c);
          const len = k.len('tx', c);
          if (!(a >= m.lo0 && a < m.lo0 + this.spq * XSK_CHUNK && (a - m.lo0) % XSK_CHUNK === 0 && len <= XSK_CHUNK))
            this.fail(`queue ${ks.q}: TX descriptor 0x${a.toString(16)}+${len} is not one of the queue's bounce slots`);
          if (ks.txHeld.has(a)) this.fail(`queue ${ks.q}: TX names bounce slot 0x${a.toString(16)} again before its completion (double-owned)`);
          const want = m.wire[m.wireAt++];
          if (!want) this.fail(`queue ${ks.q}: a TX frame of ${len} bytes no valid guest chain sent`);
          if (len !== want.length || !Buffer.from(this.u8.buffer, this.u8.byteOffset + a, len).equals(want))
            this.fail(`queue ${ks.q}: TX frame ${m.wireAt - 1} differs from what the guest sent (${len} bytes, want ${want.length})`);
          ks.txHeld.add(a);
          ks.compQ.push(a);
        }
        if (m.wireAt === m.wire.length) m.wire.length = m.wireAt = 0;
        k.setCons('tx', tp);
        let room = xr - ((k.prod('comp') - k.cons('comp')) >>> 0);
        let n = r.below(2) || receiveAll ? ks.compQ.length : r.below(ks.compQ.length + 1);
        n = Math.min(n, Math.max(room, 0));
        for (let i = 0; i < n; i++) {
          k.putComp(ks.compQ[i]!);
          ks.txHeld.delete(ks.compQ[i]!);
        }
        ks.compQ.splice(0, n);
        room -= n;
        if (!good) {
          for (let j = r.below(8) === 0 ? 1 + r.below(3) : 0; j > 0 && room > 0; j--, room--) {
            k.putComp(this.garbageComp(ks));
            this.verdict('kernel_comp_bad');
          }
          if (r.below(150) === 0 && room === xr) {
            for (let j = 0; j < xr; j++) {
            const g = this.garbageComp(ks);
            k.setAddr('comp', j, g % 2 ** 32, Math.floor(g / 2 ** 32));
          }
            k.setProd('comp', k.prod('comp') + xr + r.below(3 * xr));
            this.verdict('kernel_comp_jump');
          }
        }
      }
      // RX: frames into FILL chunks; the kernel never produces past the ring's room
      const room = (): number => xr - ((k.prod('rx') - k.cons('rx')) >>> 0);
      for (let n = receiveAll ? xr : r.below(4); n > 0 && room() > 0 && k.cons('fill') !== k.prod('fill'); n--) {
        const a = this.takeFill(ks);
        if (!good && r.below(10) === 0) { // the right chunk, a wrong offset or a length past the buffer
          const bad = r.below(3);
          k.putRx(a, bad === 0 ? [0, 255, 257, 0xffff][r.below(4)]! : XDP_PACKET_HEADROOM,
            bad === 1 ? MAX_GOOD_RX - VNET_HDR_LEN + 1 + r.below(100) : bad === 2 ? 0xffffffff - r.below(3) : 60);
          ks.log.push({ kind: 1, a, fid: 0 });
          continue;
        }
        const f = this.frame();
        this.noOverlap(a, f.length);
        this.u8.set(f, a + XDP_PACKET_HEADROOM);
        k.putRx(a, XDP_PACKET_HEADROOM, f.length);
        ks.log.push({ kind: 0, a, fid: this.fid });
        // the same descriptor twice, both in one engine pass (a later pass might find the chunk posted again)
        if (!good && r.below(10) === 0 && room() > 0 && ((k.prod('rx') - k.cons('rx')) >>> 0) < this.batch) {
          k.putRx(a, XDP_PACKET_HEADROOM, f.length);
          ks.log.push({ kind: 2, a, fid: 0 });
        }
      }
      if (good) continue;
      if (r.below(6) === 0 && room() > 0) {
        k.putRx(this.garbageRx(), r.below(3) ? XDP_PACKET_HEADROOM : r.below(0x10000), r.below(4) ? r.below(1800) : 0xffffffff - r.below(3));
        ks.log.push({ kind: 2, a: -1, fid: 0 });
      }
      if (r.below(200) === 0 && room() === xr) { // a producer jump over garbage
        for (let j = 0; j < xr; j++) {
          const g = this.garbageRx();
          k.setAddr('rx', j, g % 2 ** 32, (Math.floor(g / 2 ** 32) & 0xffff) | (XDP_PACKET_HEADROOM << 16));
        }
        const n = xr + r.below(3 * xr);
        k.setProd('rx', k.prod('rx') + n);
        for (let j = 0; j < n; j++) ks.log.push({ kind: 2, a: -1, fid: 0 });
        this.verdict('kernel_rx_jump');
      }
    }
  }

  // ---- one engine pass and the checks ----

  private usedEntries(d: Drv): { id: number; len: number }[] {
    const out: { id: number; len: number }[] = [];
    const idx = this.dv.getUint16(d.used + 2, true);
    for (; d.lastUsed !== idx; d.lastUsed = (d.lastUsed + 1) & 0xffff) {
      const e = d.used + 4 + 8 * (d.lastUsed & (d.size - 1));
      out.push({ id: this.dv.getUint32(e, true), len: this.dv.getUint32(e + 4, true) });
    }
    return out;
  }

  /** the chains popped from d since la0, walked by the model on the memory before the pass */
  private popped(d: Drv, la0: number, la1: number): { head: number; r: PopResult; h: Held }[] {
    const n = (la1 - la0) & 0xffff;
    if (n > d.size) this.fail(`${d.dir}: the engine popped ${n} entries from a ring of ${d.size}`);
    const out: { head: number; r: PopResult; h: Held }[] = [];
    for (let s = 0; s < n; s++) {
      const head = this.bdv.getUint16(d.avail + 4 + 2 * ((la0 + s) & (d.size - 1)), true);
      const w = modelWalk(this.bdv, d, head, this.forbidden, MEM);
      let total = 0;
      for (const [, l] of w.segs) total += l;
      out.push({ head, r: w.r, h: { segs: w.segs, total } });
      this.verdict(w.r);
    }
    return out;
  }

  private gather(h: Held, from: number, to: number, src: Uint8Array): Uint8Array {
    const out = new Uint8Array(Math.max(to - from, 0));
    let at = 0;
    for (const [a, l] of h.segs) {
      const s = Math.max(from - at, 0);
      const e = Math.min(to - at, l);
      if (e > s) out.set(src.subarray(a + s, a + e), at + s - from);
      at += l;
    }
    return out;
  }

  /** true if the first n bytes of chain c overlap another held buffer (or c's segments overlap
   * each other) */
  private overlapsAnother(c: Held, held: Held[], n: number): boolean {
    if (c.segs.some(([a, l], i) => c.segs.some(([b, k], j) => j > i && b < a + l && a < b + k))) return true;
    for (const o of held) {
      if (o === c) continue; // an equal buffer counts: two copy targets at one address are not refused
      let at = 0;
      for (const [a, l] of c.segs) {
        const e = a + Math.min(l, n - at);
        if (o.segs.some(([b, k]) => b < e && a < b + k)) return true;
        at += l;
        if (at >= n) break;
      }
    }
    return false;
  }

  pass(): void {
    const nq = this.nq;
    this.before.set(this.u8);
    const la0rx = this.rxq.map((x) => x.lastAvail);
    const la0tx = this.txq.map((x) => x.lastAvail);
    for (let q = 0; q < nq; q++) {
      const m = this.qs[q]!;
      if (this.pending(m.rx, la0rx[q]!) > m.rx.size) m.rx.everBroken = true;
      if (this.pending(m.tx, la0tx[q]!) > m.tx.size) m.tx.everBroken = true;
    }
    const stats0 = this.stats.slice();
    const fill0 = this.socks.map((s) => s.k.prod('fill'));
    const rxc0 = this.socks.map((s) => s.k.cons('rx'));
    try {
      this.engine.pollOnce();
      if (this.rng.below(8) === 0) this.engine.sleepFds();
    } catch (e) {
      this.fail(`the engine threw: ${(e as Error).stack ?? String(e)}`);
    }
    const d = (q: number, c: CounterName): number => this.stats[q * NCOUNTERS + COUNTER_INDEX[c]]! - stats0[q * NCOUNTERS + COUNTER_INDEX[c]]!;

    // what the pass popped, as the model walks it
    const allowed: [number, number][] = [[BOUNCE_AT, BOUNCE_AT + nq * this.spq * XSK_CHUNK]];
    const rxPop: { head: number; r: PopResult; h: Held }[][] = [];
    const dupAddr: boolean[] = [];
    for (let q = 0; q < nq; q++) {
      const m = this.qs[q]!;
      allowed.push([m.rx.used, m.rx.used + usedRingBytes(m.rx.size)], [m.tx.used, m.tx.used + usedRingBytes(m.tx.size)]);
      const p = this.popped(m.rx, la0rx[q]!, this.rxq[q]!.lastAvail);
      if (p.length > 0 && m.rx.everBroken) this.fail(`rx ${q}: popped from a broken queue`);
      rxPop.push(p);
      const seen = new Set<number>();
      let dup = false;
      for (const h of m.owned.values()) {
        if (seen.has(h.segs[0]![0])) dup = true;
        seen.add(h.segs[0]![0]);
      }
      for (const x of p) {
        if (x.r !== 'ok') continue;
        if (m.owned.has(x.head)) this.fail(`rx ${q}: head ${x.head} popped while the device holds it`);
        m.owned.set(x.head, x.h);
        if (seen.has(x.h.segs[0]![0])) dup = true;
        seen.add(x.h.segs[0]![0]);
      }
      dupAddr.push(dup);
      for (const h of m.owned.values()) for (const [a, l] of h.segs) allowed.push([a, a + l]);
    }

    // the engine wrote guest memory only where it may
    allowed.sort((a, b) => a[0] - b[0]);
    let at = 0;
    for (const [s, e] of allowed) {
      if (s > at) {
        const b = firstDiff(this.u8, this.before, at, s);
        if (b >= 0) this.fail(`the engine wrote guest memory at 0x${b.toString(16)}, outside the used rings, bounce slots and held RX buffers`);
      }
      at = Math.max(at, e);
    }
    const b = firstDiff(this.u8, this.before, at, MEM);
    if (b >= 0) this.fail(`the engine wrote guest memory at 0x${b.toString(16)}, outside the used rings, bounce slots and held RX buffers`);

    const heldNow: Held[] = [];
    for (const m of this.qs) {
      for (const h of m.owned.values()) heldNow.push(h);
      for (const a of m.inKernel.keys()) heldNow.push({ segs: [[a + FILL_OFFSET, XSK_CHUNK - FILL_OFFSET]], total: 0 });
    }
    // frames waiting for the engine: changed only through another buffer the guest laid over them
    for (const ks of this.socks) {
      for (let j = ks.logAt; j < ks.log.length; j++) {
        const e = ks.log[j]!;
        if (e.kind !== 0 || this.tainted.has(e.a)) continue;
        const s = e.a + XDP_PACKET_HEADROOM;
        const f = this.sent.get(e.fid)!.f;
        if (firstDiff(this.u8, this.before, s, s + f.length) < 0) continue;
        const own = { segs: [[s, f.length]] as [number, number][], total: f.length };
        if (!heldNow.some((h) => !(h.segs.length === 1 && h.segs[0]![0] === e.a + FILL_OFFSET && h.total >= XDP_RX_MIN_BUFFER) && this.overlapsAnother(own, [h], f.length)))
          this.fail(`the engine wrote into the frame the kernel put in chunk 0x${e.a.toString(16)} before taking it`);
        this.tainted.add(e.a);
      }
    }
    let taintTaken = false;

    // RX descriptors the engine consumed, as the kernel produced them
    const targets = new Array<number>(nq).fill(0);
    const oversize = new Array<number>(nq).fill(0);
    const layout = new Array<number>(nq).fill(0);
    this.socks.forEach((ks, i) => {
      const n = (ks.k.cons('rx') - rxc0[i]!) >>> 0;
      if (n > this.batch || n > ks.log.length - ks.logAt) this.fail(`socket ${i}: the engine consumed ${n} RX descriptors (batch ${this.batch}, ${ks.log.length - ks.logAt} produced)`);
      const m = this.qs[ks.q]!;
      for (let j = 0; j < n; j++) {
        const e = ks.log[ks.logAt++]!;
        if (e.kind === 2) {
          this.verdict('kernel_rx_unknown');
          continue;
        }
        bump(m.inKernel, e.a, -1);
        if (this.tainted.delete(e.a)) taintTaken = true;
        if (e.kind === 1) {
          layout[ks.q]!++;
          this.verdict('kernel_rx_layout');
          continue;
        }
        const t = this.sent.get(e.fid)!.targets;
        if (t === 0) oversize[ks.q]!++;
        for (let q = 0; q < nq; q++) if (t & (1 << q)) targets[q]!++;
      }
      if (ks.logAt === ks.log.length) ks.log.length = ks.logAt = 0;
    });

    for (let q = 0; q < nq; q++) {
      const m = this.qs[q]!;
      // RX: used entries name held chains; delivered frames are the kernel's, where they belong
      let len0 = 0;
      let frames = 0;
      let bytes = 0;
      const refused = new Map<number, number>();
      for (const x of rxPop[q]!) if (x.r !== 'ok' && x.r !== 'bad_head') bump(refused, x.head, 1);
      for (const u of this.usedEntries(m.rx)) {
        const h = m.owned.get(u.id);
        if (!h && refused.has(u.id) && u.len === 0) { // a chain refused in this pass, back empty
          bump(refused, u.id, -1);
          len0++;
          continue;
        }
        if (!h) this.fail(`rx ${q}: used entry for head ${u.id} (length ${u.len}), which the device does not hold`);
        m.owned.delete(u.id);
        const a = h.segs[0]![0];
        if (m.inKernel.has(a - FILL_OFFSET) && ![...m.owned.values()].some((o) => o.segs[0]![0] === a))
          this.fail(`rx ${q}: buffer 0x${a.toString(16)} (head ${u.id}) returned while the kernel may still write it`);
        if (u.len === 0) {
          len0++;
          continue;
        }
        if (u.len > h.total || u.len < VNET_HDR_LEN) this.fail(`rx ${q}: used length ${u.len} for a chain of ${h.total} bytes`);
        const got = this.gather(h, 0, u.len, this.u8);
        const hdrBad = got.subarray(0, VNET_HDR_LEN).some((x) => x !== 0);
        const f = got.subarray(VNET_HDR_LEN);
        const id = f.length >= 12 ? new DataView(f.buffer, f.byteOffset + 8, 4).getUint32(0) : -1;
        const s = this.sent.get(id);
        if ((hdrBad || !s || !Buffer.from(s.f).equals(Buffer.from(f))) && (taintTaken || this.overlapsAnother(h, heldNow, u.len))) {
          // the guest linked this chain over another buffer the device held: what the other
          // one got (a frame, a zero header) may be here; the guest did that to itself
          this.verdict('guest_overlap');
          frames++;
          bytes += u.len - VNET_HDR_LEN;
          continue;
        }
        if (hdrBad) this.fail(`rx ${q}: delivered frame with a non-zero virtio-net header (head ${u.id}, ${u.len} bytes, segments ${JSON.stringify(h.segs)}, header ${[...got.subarray(0, VNET_HDR_LEN)]}, frame ${id} ${s ? 'matches ' + Buffer.from(s.f).equals(Buffer.from(f)) : 'unknown'})`);
        if (!s || !Buffer.from(s.f).equals(Buffer.from(f))) {
          const at = s ? s.f.findIndex((x, j) => x !== f[j]) : -1;
          this.fail(`rx ${q}: delivered ${f.length} bytes (head ${u.id}, segments ${JSON.stringify(h.segs)}) that are not a frame the kernel received` +
            (s ? ` (frame ${id} of ${s.f.length} bytes differs at byte ${at})` : ` (no frame ${id})`));
        }
        if (s.targets & (1 << q) && s.done & (1 << q) && (taintTaken || this.overlapsAnother(h, heldNow, u.len))) {
          // two held chains at one address (the guest posted the buffer twice): both read
          // back whatever the engine wrote last into it, so one frame seems delivered twice
          this.verdict('guest_overlap');
          frames++;
          bytes += u.len - VNET_HDR_LEN;
          continue;
        }
        if (!(s.targets & (1 << q)) || s.done & (1 << q)) this.fail(`rx ${q}: frame ${id} delivered here (targets ${s.targets}, delivered ${s.done})`);
        s.done |= 1 << q;
        if (s.done === s.targets) this.sent.delete(id);
        frames++;
        bytes += u.len - VNET_HDR_LEN;
      }
      // RX counters
      let badNonHead = 0;
      const bad: Record<string, number> = {};
      let smallLo = 0;
      let smallHi = 0;
      for (const x of rxPop[q]!) {
        if (x.r === 'ok') {
          const nf = !fillable(x.h);
          const nc = x.h.total < this.maxFrame;
          if (nf && nc) smallLo++;
          if (nf || nc) smallHi++;
          continue;
        }
        bad[x.r] = (bad[x.r] ?? 0) + 1;
        if (x.r !== 'bad_head') badNonHead++;
      }
      for (const k of BAD_KINDS) {
        if (d(q, `rx_bad_${k}`) !== (bad[k] ?? 0)) this.fail(`rx ${q}: rx_bad_${k} moved by ${d(q, `rx_bad_${k}`)}, the model refused ${bad[k] ?? 0}`);
      }
      const small = d(q, 'rx_drop_buffer_small');
      const inFlight = d(q, 'rx_bad_in_flight');
      if (small < smallLo || small > smallHi) this.fail(`rx ${q}: rx_drop_buffer_small moved by ${small}, the model says ${smallLo}..${smallHi}`);
      if (inFlight > 0 && !dupAddr[q]) this.fail(`rx ${q}: rx_bad_in_flight moved by ${inFlight} with no buffer held twice`);
      if (d(q, 'rx_drop_oversize') !== oversize[q]) this.fail(`rx ${q}: rx_drop_oversize moved by ${d(q, 'rx_drop_oversize')}, ${oversize[q]} frames were runts or oversize`);
      if (len0 !== badNonHead + small + inFlight + oversize[q]! + layout[q]!)
        this.fail(`rx ${q}: ${len0} buffers returned empty; refused ${badNonHead}, small ${small}, in flight ${inFlight}, oversize ${oversize[q]}, bad layout ${layout[q]}`);
      if (d(q, 'rx_frames') !== frames || d(q, 'rx_bytes') !== bytes) this.fail(`rx ${q}: rx_frames/bytes moved by ${d(q, 'rx_frames')}/${d(q, 'rx_bytes')}, delivered ${frames}/${bytes}`);
      if (frames + d(q, 'rx_drop_no_buffer') !== targets[q] && !taintTaken && !heldNow.some((h) => this.overlapsAnother(h, heldNow, h.total))) this.fail(`rx ${q}: ${frames} frames delivered and ${d(q, 'rx_drop_no_buffer')} dropped for want of a buffer, ${targets[q]} were for this queue`);
      if (d(q, 'rx_queue_broken') > 0 && !m.rx.everBroken) this.fail(`rx ${q}: rx_queue_broken without a jump`);
      if (d(q, 'tx_queue_broken') > 0 && !m.tx.everBroken) this.fail(`tx ${q}: tx_queue_broken without a jump`);
      for (const c of ['rx_drop_buffer_small', 'rx_bad_in_flight', 'rx_drop_oversize', 'rx_drop_no_buffer', 'tx_drop_runt', 'tx_drop_oversize', 'tx_drop_bad_hdr'] as const) this.verdict(c, d(q, c));
      this.verdict('queue_broken', d(q, 'rx_queue_broken') + d(q, 'tx_queue_broken'));

      // TX: each popped chain back at once, in order; valid frames to the wire
      const txPop = this.popped(m.tx, la0tx[q]!, this.txq[q]!.lastAvail);
      if (txPop.length > 0 && m.tx.everBroken) this.fail(`tx ${q}: popped from a broken queue`);
      const tbad: Record<string, number> = {};
      const want: number[] = [];
      const drops = { tx_drop_runt: 0, tx_drop_oversize: 0, tx_drop_bad_hdr: 0 };
      let txFrames = 0;
      let txBytes = 0;
      for (const x of txPop) {
        if (x.r !== 'bad_head') want.push(x.head);
        if (x.r !== 'ok') {
          tbad[x.r] = (tbad[x.r] ?? 0) + 1;
          continue;
        }
        const hdr = this.gather(x.h, 0, 2, this.before);
        if (x.h.total - VNET_HDR_LEN < 14) drops.tx_drop_runt++;
        else if (x.h.total > this.maxFrame) drops.tx_drop_oversize++;
        else if (hdr[0] !== 0 || hdr[1] !== 0) drops.tx_drop_bad_hdr++;
        else {
          m.wire.push(this.gather(x.h, VNET_HDR_LEN, x.h.total, this.before));
          txFrames++;
          txBytes += x.h.total - VNET_HDR_LEN;
        }
      }
      for (const k of BAD_KINDS) if (d(q, `tx_bad_${k}`) !== (tbad[k] ?? 0)) this.fail(`tx ${q}: tx_bad_${k} moved by ${d(q, `tx_bad_${k}`)}, the model refused ${tbad[k] ?? 0}`);
      for (const [c, n] of Object.entries(drops)) if (d(q, c as CounterName) !== n) this.fail(`tx ${q}: ${c} moved by ${d(q, c as CounterName)}, the model says ${n}`);
      if (d(q, 'tx_frames') !== txFrames || d(q, 'tx_bytes') !== txBytes) this.fail(`tx ${q}: tx_frames/bytes moved by ${d(q, 'tx_frames')}/${d(q, 'tx_bytes')}, the model says ${txFrames}/${txBytes}`);
      const used = this.usedEntries(m.tx);
      if (used.length !== want.length || used.some((u, i) => u.id !== want[i] || u.len !== 0))
        this.fail(`tx ${q}: used entries ${JSON.stringify(used)}, want heads ${JSON.stringify(want)} with length 0`);
    }

    // FILL: only chunks of buffers the guest offered on the socket's queue and the device holds, once
    this.socks.forEach((ks, i) => {
      const k = ks.k;
      const p1 = k.prod('fill');
      if (((p1 - k.cons('fill')) >>> 0) > this.xring) this.fail(`socket ${i}: the engine overfilled FILL`);
      const m = this.qs[ks.q]!;
      for (let j = fill0[i]!; j !== p1; j = (j + 1) >>> 0) {
        const a = k.addr('fill', j);
        let ok = false;
        for (const h of m.owned.values()) if (h.segs[0]![0] === a + FILL_OFFSET && fillable(h)) ok = true;
        if (!ok || !(a >= 0 && a + XSK_CHUNK <= MEM)) this.fail(`socket ${i}: FILL address 0x${a.toString(16)} is not the chunk of an RX buffer the device holds on queue ${ks.q}`);
        if (m.inKernel.has(a)) this.fail(`socket ${i}: FILL chunk 0x${a.toString(16)} is already with the kernel (double-owned)`);
        bump(m.inKernel, a, 1);
        ks.fifo.push(a);
      }
    });
  }

  /** A good kernel takes and returns everything; then count what the engine holds. */
  finish(): void {
    let quiet = false;
    for (let r = 0; r < 200 && !quiet; r++, this.round++, this.st.rounds++) {
      this.kernel(true, true);
      this.pass();
      quiet = this.qs.every((m, q) => m.owned.size === 0 && (m.tx.everBroken || this.pending(m.tx, this.txq[q]!.lastAvail) === 0)) && this.socks.every((s) => s.compQ.length === 0 && s.log.length === 0 && s.k.prod('fill') === s.k.cons('fill'));
    }
    this.qs.forEach((m, q) => {
      if (!m.rx.everBroken && this.pending(m.rx, this.rxq[q]!.lastAvail) !== 0) this.fail(`rx ${q}: buffers left in the avail ring after the kernel returned everything`);
      if (!m.tx.everBroken && this.pending(m.tx, this.txq[q]!.lastAvail) !== 0) this.fail(`tx ${q}: chains left in the avail ring after the kernel completed everything`);
      if (m.owned.size > 0) this.fail(`rx ${q}: ${m.owned.size} buffer(s) never came back after the kernel returned everything (heads ${[...m.owned.keys()].join(' ')})`);
    });
    // TX: more frames than bounce slots, nothing completes: exactly the slots go out
    for (let q = 0; q < this.nq; q++) {
      const d = this.qs[q]!.tx;
      if (d.everBroken) continue;
      const a = TXB;
      this.u8.fill(0, a, a + 100);
      for (let h = 0; h < this.spq + 2; h++) {
        this.desc(d, h, a, 100, 0);
        this.post(d, h);
      }
      this.dv.setUint16(d.avail + 2, d.availIdx, true);
    }
    for (let q = 0; q < this.nq; q++) {
      const m = this.qs[q]!;
      if (m.rx.everBroken) continue;
      for (let h = 0; h < this.qsize; h++) {
        this.desc(m.rx, h, this.rxAddr(q, h), XDP_RX_MIN_BUFFER, VIRTQ_DESC_F_WRITE);
        this.post(m.rx, h);
      }
      this.dv.setUint16(m.rx.avail + 2, m.rx.availIdx, true);
    }
    for (let r = 0; r < 3 + Math.ceil((this.spq + 2) / this.batch); r++, this.round++, this.st.rounds++) this.pass();
    for (let q = 0; q < this.nq; q++) {
      const m = this.qs[q]!;
      const k = this.socks[q]!.k;
      const inTx = (k.prod('tx') - k.cons('tx')) >>> 0;
      if (!m.tx.everBroken && inTx !== this.spq) this.fail(`tx ${q}: ${inTx} frames in TX with ${this.spq} bounce slots and no completion`);
      if (m.rx.everBroken) continue;
      const socks = this.socks.filter((s) => s.q === q);
      const inFill = socks.reduce((n, s) => n + ((s.k.prod('fill') - s.k.cons('fill')) >>> 0), 0);
      const want = socks.reduce((n, s) => n + s.target, 0);
      if (inFill !== want) this.fail(`rx ${q}: ${inFill} chunks on FILL after everything came back, want the fill target ${want}`);
    }
    if (this.ram.guardDamage() !== 0) this.fail('guard bytes around guest RAM changed');
  }
}

/**
 * xdp_rings = "guest": the guest polls the AF_XDP rings itself and the host's XskKicker only
 * reads words the guest (or the kernel) writes: each queue's TX producer and consumer, RX
 * producer and consumer, ctl.halt_seq; it writes ctl.kick_wanted. A few rounds per episode:
 * the guest writes anything there, the kernel moves its indices; checked: no exception, the
 * kicker writes guest memory only in kick_wanted (0 after a wake-up, 1 before a sleep), wakes
 * a queue exactly when its halt_seq moved and frames wait, and sleepFds() names exactly the
 * sockets of halted queues (or returns null).
 */
function fuzzKicker(ep: Episode, rng: Rng, st: XdpFuzzStats): void {
  const nq = ep.nq;
  const INFO = 0xc000; // free while the engine rests (rings below, bounce slots above)
  const socks = Array.from({ length: nq }, (_, q) => new FakeXskSocket(q, ep.mem, 8, -1));
  const ctl = (q: number) => INFO + XskInfo.fields.ctl.at + q * XskCtl.size;
  try {
    writeXskInfo(ep.dv, INFO, layoutGuestRings(socks.map((k) => k.s), nq, { start: 2 ** 32, size: 2 << 20 }, 0x1e8).info);
    const wakes: number[] = [];
    const stats = new Float64Array(NCOUNTERS * nq);
    const kicker = new XskKicker(nq, { mem: ep.mem, sockets: socks.map((k) => k.s), infoGpa: INFO, stats, wake: (q) => wakes.push(q), log: () => {} });
    kicker.attach();
    const seen = socks.map((_, q) => ep.dv.getUint32(ctl(q) + 4, true));
    let sleeping = false;
    for (let r = 0; r < 40; r++) {
      st.kickerRounds++;
      for (let q = 0; q < nq; q++) {
        const k = socks[q]!;
        if (rng.below(3) === 0) ep.dv.setUint32(ctl(q) + 4, rng.below(4) === 0 ? rng.next() : seen[q]! + 1, true); // halt_seq
        if (rng.below(6) === 0) ep.dv.setUint32(ctl(q), rng.next(), true); // kick_wanted: the guest's garbage
        if (rng.below(2) === 0) k.setProd('tx', rng.below(10) === 0 ? rng.next() : k.prod('tx') + rng.below(4));
        if (rng.below(2) === 0) k.setCons('tx', rng.below(3) === 0 ? k.prod('tx') : k.cons('tx') + rng.below(3));
        if (rng.below(2) === 0) k.setProd('rx', k.prod('rx') + rng.below(3));
        if (rng.below(2) === 0) k.setCons('rx', rng.below(10) === 0 ? rng.next() : k.prod('rx'));
      }
      ep.before.set(ep.u8);
      wakes.length = 0;
      try {
        kicker.pollOnce();
      } catch (e) {
        ep.fail(`the kicker threw: ${(e as Error).stack ?? String(e)}`);
      }
      const want: number[] = [];
      for (let q = 0; q < nq; q++) {
        const h = ep.dv.getUint32(ctl(q) + 4, true);
        if (h !== seen[q] && socks[q]!.prod('rx') !== socks[q]!.cons('rx')) {
          want.push(q);
          seen[q] = h;
        }
      }
      if (wakes.join() !== want.join()) ep.fail(`the kicker woke queues [${wakes}], want [${want}]`);
      const check = (what: string, v: number | null) => {
        let at = 0;
        for (let q = 0; q <= nq; q++) {
          const end = q < nq ? ctl(q) : MEM;
          const b = firstDiff(ep.u8, ep.before, at, end);
          if (b >= 0) ep.fail(`the kicker (${what}) wrote guest memory at 0x${b.toString(16)}, not a kick_wanted word`);
          if (q < nq && v !== null && ep.dv.getUint32(end, true) !== v) ep.fail(`kick_wanted of queue ${q} is ${ep.dv.getUint32(end, true)} after ${what}, want ${v}`);
          at = end + 4;
        }
      };
      check('pollOnce', sleeping ? 0 : null);
      sleeping = false;
      if (rng.below(4) === 0) {
        ep.before.set(ep.u8);
        const fds = kicker.sleepFds();
        sleeping = true;
        check('sleepFds', 1);
        const halted = seen.filter((v, q) => ep.dv.getUint32(ctl(q) + 4, true) !== v).length;
        if (JSON.stringify(fds) !== JSON.stringify(new Array(halted).fill(-1))) ep.fail(`sleepFds said ${JSON.stringify(fds)} with ${halted} halted queue(s) and nothing to kick`);
      }
    }
    kicker.close();
  } finally {
    for (const k of socks) k.free();
  }
}

/**
 * Where to start a run other than at round 0: the generator's state at the start of an
 * episode and the round number there, as a failure prints them (`<state>@<round>`), so that
 * the failing episode replays at once instead of after the run's minutes.
 */
export function parseResume(s: string): { state: string; round: number } {
  const m = /^([0-9a-f]{16})@(\d+)$/i.exec(s);
  if (!m) throw new RangeError(`FUZZ_RESUME must be <16 hex digits>@<round>, as a failure prints it, not ${JSON.stringify(s)}`);
  return { state: m[1]!, round: Number(m[2]) };
}

/** Run rounds until `deadline` (ms since epoch) or `maxRounds`; throws on a violated check. */
export function fuzzXdp(seed: number, deadline: number, maxRounds = Infinity, resume?: string): XdpFuzzStats {
  const from = resume === undefined ? undefined : parseResume(resume);
  const rng = from ? Rng.fromState(from.state) : new Rng(seed);
  const st: XdpFuzzStats = { rounds: from?.round ?? 0, kickerRounds: 0, frames: 0, verdicts: {} };
  const end = st.rounds + maxRounds;
  while (st.rounds < end && Date.now() < deadline) {
    const at = `${rng.state}@${st.rounds}`;
    const ep = new Episode(rng, seed, st);
    try {
      for (let r = 0; r < ROUNDS; r++, st.rounds++) {
        ep.round = st.rounds;
        ep.guest();
        ep.kernel(rng.below(3) !== 0);
        ep.pass();
      }
      ep.finish();
      fuzzKicker(ep, rng, st);
    } catch (e) {
      if (e instanceof FuzzFailure) e.message += ` (replay this episode at once: FUZZ_RESUME=${at})`;
      throw e;
    } finally {
      ep.free();
    }
  }
  return st;
}
