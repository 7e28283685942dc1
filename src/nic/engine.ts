// The packet mover: one pass over every queue pair moves frames TAP fd -> guest RX ring and
// guest TX ring -> TAP fd, directly between the fd and guest memory (read/readv/write/writev
// with guest buffer addresses; no intermediate JS buffer). Synchronous and single-threaded:
// the worker (worker.ts) calls pollOnce() in its loop; tests may call it directly.
//
// Frame format on both sides: a 12-byte struct virtio_net_hdr (v1) followed by the Ethernet
// frame. The TAP is opened with IFF_VNET_HDR and a header size of 12, so the kernel reads and
// writes exactly that layout and a guest buffer goes to/from the fd as is.
//
// RSS: the TAP's own queue choice is not our Toeplitz hash, so a frame is read into a buffer
// of the fd's queue, hashed, and if the redirection table names another queue it is copied
// into a buffer of that queue (counted as rx_steered_copies); with one queue, or when the
// kernel's choice agrees, there is no copy.
import type { GuestMemory } from './guest-memory.js';
import * as libc from './libc-compat.js';
import type { NicVqAddrs } from '../abi/nic.js';
import { loadNicio, type Nicio } from './nicio.js';
import { COUNTER_INDEX, NCOUNTERS, type CounterName } from './stats.js';
import { RssSteering, type RssConfig } from './toeplitz.js';
import {
  Chain,
  DeviceQueue,
  ForbiddenRanges,
  MAX_CHAIN_SEGS,
  availRingBytes,
  descTableBytes,
  usedRingBytes,
  type BadKind,
} from './virtqueue.js';

export const VNET_HDR_LEN = 12;
const ZERO_HDR_OFF = 16 * (MAX_CHAIN_SEGS + 1);
const IOV_AREA = 4096;
// burst area: u64 addr[64] | u32 len[64] | i32 out[64] | i32 cnt[64] | i32 res[64] | iovec[64 * 65]
const BURST_MAX = 64;
const B_ADDR = 0;
const B_LEN = 512;
const B_OUT = 768;
const B_CNT = 1024;
const B_RES = 1280;
const B_IOV = 2048;
const B_AREA = B_IOV + 16 * BURST_MAX * (MAX_CHAIN_SEGS + 1);
const ETH_HLEN = 14;
const VLAN_HLEN = 4;

export interface EngineOptions {
  mem: GuestMemory;
  rx: NicVqAddrs[];
  tx: NicVqAddrs[];
  /** one fd per queue pair: a TAP queue fd (or, in unit tests, any datagram fd) */
  fds: number[];
  rss: RssConfig;
  /** IP MTU; frames up to mtu + 18 bytes are accepted */
  mtu: number;
  /** NCOUNTERS * nqueues counters (nic-stats.ts) */
  stats: Float64Array;
  /** the guest asked to be told about new used entries on queue pair q */
  wake: (q: number) => void;
  /** called once per (queue, direction, kind) of problem */
  log: (msg: string) => void;
  /** frames per direction per queue per pass (default 64, at most 64) */
  batch?: number;
  /** 'koffi' (default): one read/writev per frame through koffi; 'burst': up to `batch`
   * frames per FFI call through the small C helper (nicio.ts) */
  io?: 'koffi' | 'burst';
}

export class EngineError extends Error {
  override name = 'EngineError';
}

export class NicEngine {
  readonly nq: number;
  private readonly mem: GuestMemory;
  private readonly rxq: DeviceQueue[] = [];
  private readonly txq: DeviceQueue[] = [];
  private readonly fds: number[];
  private readonly stash: Chain[] = [];
  private readonly stashValid: boolean[] = [];
  private readonly tmp = new Chain();
  private readonly txc = new Chain();
  private readonly rss: RssSteering;
  private readonly stats: Float64Array;
  private readonly batch: number;
  private readonly minRx: number;
  private readonly maxTx: number;
  private readonly logged = new Set<string>();
  private readonly iov: number; // native struct iovec[MAX_CHAIN_SEGS]
  private readonly iovDv: DataView;
  private readonly zeroHdr: number;
  private readonly hdrScratch = new Uint8Array(ETH_HLEN + 60 + 4);
  private readonly touchedRx: boolean[];
  // burst I/O (io = 'burst'): popped RX chains not yet filled, per queue; native arrays
  private readonly nicio: Nicio | undefined;
  private readonly ready: Chain[][] = [];
  private readonly spare: Chain[] = [];
  private readonly txBurst: Chain[] = [];
  private readonly bArea: number;
  private readonly bDv: DataView | undefined;

  constructor(private readonly o: EngineOptions) {
    const nq = o.fds.length;
    if (nq < 1 || o.rx.length !== nq || o.tx.length !== nq)
      throw new EngineError(`need one fd, one RX and one TX queue per pair: got ${nq} fds, ${o.rx.length} RX, ${o.tx.length} TX`);
    if (o.stats.length < nq * NCOUNTERS) throw new EngineError(`stats array too small for ${nq} queues`);
    this.nq = nq;
    this.mem = o.mem;
    this.fds = o.fds;
    this.stats = o.stats;
    this.batch = o.batch ?? 64;
    this.minRx = VNET_HDR_LEN + ETH_HLEN + VLAN_HLEN + o.mtu;
    this.maxTx = VNET_HDR_LEN + ETH_HLEN + VLAN_HLEN + o.mtu;
    this.rss = new RssSteering(o.rss, nq);
    const forbidden = new ForbiddenRanges();
    for (const q of [...o.rx, ...o.tx]) {
      forbidden.add(Number(q.desc), descTableBytes(q.size));
      forbidden.add(Number(q.avail), availRingBytes(q.size));
      forbidden.add(Number(q.used), usedRingBytes(q.size));
    }
    for (let q = 0; q < nq; q++) {
      this.rxq.push(new DeviceQueue(o.mem, o.rx[q]!, 'rx', forbidden));
      this.txq.push(new DeviceQueue(o.mem, o.tx[q]!, 'tx', forbidden));
      this.stash.push(new Chain());
      this.stashValid.push(false);
    }
    this.touchedRx = new Array<boolean>(nq).fill(false);
    // iovec[MAX_CHAIN_SEGS + 1], then the host's own all-zero virtio-net header for TX
    this.iov = libc.mapAnon(IOV_AREA);
    this.iovDv = new DataView(libc.view(this.iov, IOV_AREA));
    this.zeroHdr = this.iov + ZERO_HDR_OFF;
    if (this.batch < 1 || this.batch > BURST_MAX) throw new EngineError(`batch ${this.batch} outside 1..${BURST_MAX}`);
    if (o.io === 'burst') {
      this.nicio = loadNicio();
      this.bArea = libc.mapAnon(B_AREA);
      this.bDv = new DataView(libc.view(this.bArea, B_AREA));
      for (let q = 0; q < nq; q++) this.ready.push([]);
      for (let i = 0; i < (nq + 1) * BURST_MAX; i++) this.spare.push(new Chain());
      for (let i = 0; i < BURST_MAX; i++) this.txBurst.push(new Chain());
    } else {
      this.bArea = 0;
    }
  }

  /** Start serving: take the guest's current ring indices as the starting point. */
  attach(): void {
    for (let q = 0; q < this.nq; q++) {
      this.rxq[q]!.attach();
      this.txq[q]!.attach();
      this.stashValid[q] = false;
      if (this.ready[q]) this.spare.push(...this.ready[q]!.splice(0));
    }
  }

  close(): void {
    if (this.bArea !== 0) libc.munmap(this.bArea, B_AREA);
    libc.munmap(this.iov, IOV_AREA);
  }

  private count(q: number, c: CounterName, n = 1): void {
    const i = q * NCOUNTERS + COUNTER_INDEX[c];
    this.stats[i] = this.stats[i]! + n;
  }

  private once(key: string, msg: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.o.log(msg);
  }

  private bad(dir: 'rx' | 'tx', q: number, kind: BadKind, head: number): void {
    this.count(q, `${dir}_bad_${kind}`);
    this.once(`${q}.${dir}.${kind}`, `nic: queue ${q} ${dir}: guest descriptor chain at head ${head} refused (${kind}); dropping it (logged once per kind)`);
  }

  private brokenQueue(dir: 'rx' | 'tx', q: number): void {
    const key = `${q}.${dir}.broken`;
    if (this.logged.has(key)) return;
    this.count(q, `${dir}_queue_broken`);
    this.once(key, `nic: queue ${q} ${dir}: available index moved by more than the ring size; queue stopped until the guest resets it`);
  }

  private fillIov(c: Chain): number {
    const dv = this.iovDv;
    for (let i = 0; i < c.count; i++) {
      dv.setBigUint64(16 * i, BigInt(this.mem.host(c.addr[i]!)), true);
      dv.setBigUint64(16 * i + 8, BigInt(c.len[i]!), true);
    }
    return this.iov;
  }

  /**
   * iovec for a TX chain with the guest's 12-byte header replaced by the host's zero header:
   * the kernel never sees a guest-controlled virtio_net_hdr, so a guest flipping header bits
   * after our check (it can write its buffers at any time) cannot request offloads.
   */
  private fillTxIov(c: Chain): number {
    const dv = this.iovDv;
    dv.setBigUint64(0, BigInt(this.zeroHdr), true);
    dv.setBigUint64(8, BigInt(VNET_HDR_LEN), true);
    let n = 1;
    let skip = VNET_HDR_LEN;
    for (let i = 0; i < c.count; i++) {
      let len = c.len[i]!;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      len -= skip;
      dv.setBigUint64(16 * n, BigInt(this.mem.host(c.addr[i]! + skip)), true);
      dv.setBigUint64(16 * n + 8, BigInt(len), true);
      skip = 0;
      n++;
    }
    return n;
  }

  /** Pop the next usable RX chain of queue q into c, refusing bad ones. */
  private popRx(q: number, c: Chain): boolean {
    const rq = this.rxq[q]!;
    // bounded: a guest that keeps posting bad buffers cannot hold the backend here forever
    for (let refused = 0; refused <= rq.size; refused++) {
      const r = rq.pop(c);
      if (r === 'ok') {
        if (c.total >= this.minRx) return true;
        this.count(q, 'rx_drop_buffer_small');
        this.once(`${q}.rx.small`, `nic: queue ${q} rx: buffer of ${c.total} bytes is smaller than ${this.minRx} (header + max frame); returning it unused`);
        rq.pushUsed(c.head, 0);
        this.touchedRx[q] = true;
        continue;
      }
      if (r === 'empty') return false;
      if (r === 'broken') {
        this.brokenQueue('rx', q);
        return false;
      }
      this.bad('rx', q, r, c.head);
      if (r !== 'bad_head') {
        rq.pushUsed(c.head, 0);
        this.touchedRx[q] = true;
      }
    }
    return false;
  }

  /** Copy n bytes from chain a to chain b (both validated, b.total >= n), inside guest memory. */
  private copyChain(a: Chain, b: Chain, n: number): void {
    if (n > a.total || n > b.total) throw new EngineError(`internal: copy of ${n} bytes between chains of ${a.total} and ${b.total}`);
    const u8 = this.mem.u8;
    let ai = 0;
    let ao = 0;
    let bi = 0;
    let bo = 0;
    while (n > 0) {
      const k = Math.min(n, a.len[ai]! - ao, b.len[bi]! - bo);
      const src = a.addr[ai]! + ao;
      u8.copyWithin(b.addr[bi]! + bo, src, src + k);
      n -= k;
      ao += k;
      bo += k;
      if (ao === a.len[ai]) {
        ai++;
        ao = 0;
      }
      if (bo === b.len[bi]) {
        bi++;
        bo = 0;
      }
    }
  }

  /** Is the frame in chain c an ARP frame? (Ethertype in the first segment; else: no.) */
  private isArp(c: Chain): boolean {
    if (c.len[0]! < VNET_HDR_LEN + ETH_HLEN) return false;
    const at = c.addr[0]! + VNET_HDR_LEN + 12;
    return this.mem.u8[at] === 0x08 && this.mem.u8[at + 1] === 0x06;
  }

  /** RSS queue of the frame in chain c (n bytes including the virtio-net header). */
  private steer(c: Chain, n: number): number {
    if (this.nq === 1) return 0;
    const first = c.len[0]!;
    if (first >= n) return this.rss.steer(this.mem.u8, c.addr[0]! + VNET_HDR_LEN, n - VNET_HDR_LEN);
    // headers span segments: gather them into a small scratch first
    const want = Math.min(n - VNET_HDR_LEN, this.hdrScratch.length);
    let skip = VNET_HDR_LEN;
    let got = 0;
    for (let i = 0; i < c.count && got < want; i++) {
      let off = c.addr[i]!;
      let len = c.len[i]!;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      off += skip;
      len -= skip;
      skip = 0;
      const k = Math.min(len, want - got);
      this.hdrScratch.set(this.mem.u8.subarray(off, off + k), got);
      got += k;
    }
    return this.rss.steer(this.hdrScratch, 0, got);
  }

  /**
   * A frame of n bytes (with header) landed in chain c of queue q: hand it to the queue RSS
   * names. Returns true if c was consumed (given to the guest), false if it can be reused.
   */
  private deliverRx(q: number, c: Chain, n: number): boolean {
    if (n < VNET_HDR_LEN + ETH_HLEN) return false; // nothing a stack could use
    if (n > this.maxTx) {
      // larger than the guest's MTU allows (the TAP's MTU was raised on the host side): the
      // guest's buffers are sized for its MTU, so such a frame is truncated or unusable
      this.count(q, 'rx_drop_oversize');
      this.once(`${q}.rx.oversize`, `nic: queue ${q} rx: ${n - VNET_HDR_LEN}-byte frame exceeds the MTU; dropping (is the TAP's MTU larger than the guest's?)`);
      return false;
    }
    if (this.nq > 1 && this.isArp(c)) {
      // Every core keeps its own ARP cache (no shared state on the fast path): an ARP frame
      // goes to every queue, so a reply to any core's request teaches them all.
      for (let t = 0; t < this.nq; t++) if (t !== q) this.deliverCopy(c, t, n);
      this.deliverInPlace(c, q, n);
      return true;
    }
    const t = this.steer(c, n);
    if (t === q) {
      this.deliverInPlace(c, q, n);
      return true;
    }
    this.deliverCopy(c, t, n);
    return false;
  }

  /** Give chain c (a buffer of queue q) to the guest as it is. */
  private deliverInPlace(c: Chain, q: number, n: number): void {
    this.rxq[q]!.pushUsed(c.head, n);
    this.touchedRx[q] = true;
    this.count(q, 'rx_frames');
    this.count(q, 'rx_bytes', n - VNET_HDR_LEN);
  }

  /** Copy the frame in chain c into a fresh buffer of queue t (or count the drop). */
  private deliverCopy(c: Chain, t: number, n: number): void {
    if (!this.popRx(t, this.tmp)) {
      this.count(t, 'rx_drop_no_buffer');
      return;
    }
    this.copyChain(c, this.tmp, n);
    this.deliverInPlace(this.tmp, t, n);
    this.count(t, 'rx_steered_copies');
  }

  private readFailed(q: number): void {
    const e = libc.errno();
    if (e !== libc.EAGAIN && e !== libc.EINTR) this.once(`${q}.rx.read`, `nic: queue ${q}: read from TAP failed: ${libc.strerror(e)}`);
  }

  private rxPass(q: number): number {
    if (this.nicio) return this.rxPassBurst(q);
    const fd = this.fds[q]!;
    const c = this.stash[q]!;
    let work = 0;
    while (work < this.batch) {
      if (!this.stashValid[q]) {
        if (!this.popRx(q, c)) break;
        this.stashValid[q] = true;
      }
      const n =
        c.count === 1 ? libc.read(fd, this.mem.host(c.addr[0]!), c.len[0]!) : libc.readv(fd, this.fillIov(c), c.count);
      if (n < 0) {
        this.readFailed(q);
        break;
      }
      if (n === 0) break;
      work++;
      if (this.deliverRx(q, c, n)) this.stashValid[q] = false;
    }
    return work;
  }

  /** RX with up to `batch` single-segment buffers filled per FFI call. */
  private rxPassBurst(q: number): number {
    const fd = this.fds[q]!;
    const ready = this.ready[q]!;
    const dv = this.bDv!;
    while (ready.length < this.batch) {
      const c = this.spare.pop() ?? new Chain();
      if (!this.popRx(q, c)) {
        this.spare.push(c);
        break;
      }
      ready.push(c);
    }
    if (ready.length === 0) return 0;
    // a burst covers the leading single-segment chains; a chained buffer goes alone
    let k = 0;
    while (k < ready.length && ready[k]!.count === 1) {
      dv.setBigUint64(B_ADDR + 8 * k, BigInt(this.mem.host(ready[k]!.addr[0]!)), true);
      dv.setUint32(B_LEN + 4 * k, ready[k]!.len[0]!, true);
      k++;
    }
    let got: number;
    if (k === 0) {
      const c = ready[0]!;
      const n = libc.readv(fd, this.fillIov(c), c.count);
      if (n < 0) this.readFailed(q);
      if (n <= 0) return 0;
      dv.setInt32(B_OUT, n, true);
      got = 1;
    } else {
      got = this.nicio!.readBurst(fd, this.bArea + B_ADDR, this.bArea + B_LEN, this.bArea + B_OUT, k);
      if (got < 0) {
        this.once(`${q}.rx.read`, `nic: queue ${q}: read from TAP failed: ${libc.strerror(-got)}`);
        return 0;
      }
    }
    let keep = 0;
    for (let i = 0; i < ready.length; i++) {
      const c = ready[i]!;
      if (i < got && this.deliverRx(q, c, dv.getInt32(B_OUT + 4 * i, true))) this.spare.push(c);
      else ready[keep++] = c;
    }
    ready.length = keep;
    return got;
  }

  /** Byte i of chain c (validated chain, i < c.total). */
  private chainByte(c: Chain, i: number): number {
    for (let s = 0; s < c.count; s++) {
      const len = c.len[s]!;
      if (i < len) return this.mem.u8[c.addr[s]! + i]!;
      i -= len;
    }
    return 0;
  }

  /** Counts and returns false if the validated TX chain c must not be sent. */
  private txCheck(q: number, c: Chain): boolean {
    const frame = c.total - VNET_HDR_LEN;
    if (frame < ETH_HLEN) this.count(q, 'tx_drop_runt');
    else if (c.total > this.maxTx) this.count(q, 'tx_drop_oversize');
    else if (this.chainByte(c, 0) !== 0 || this.chainByte(c, 1) !== 0) {
      // flags / gso_type: no offloads were negotiated
      this.count(q, 'tx_drop_bad_hdr');
      this.once(`${q}.tx.hdr`, `nic: queue ${q} tx: virtio_net_hdr with flags/gso set (no offloads negotiated); dropping`);
    } else return true;
    return false;
  }

  private txResult(q: number, c: Chain, w: number, err: number): void {
    if (w < 0) {
      this.count(q, 'tx_drop_write_error');
      this.once(`${q}.tx.write`, `nic: queue ${q}: write to TAP failed: ${libc.strerror(err)}`);
    } else {
      this.count(q, 'tx_frames');
      this.count(q, 'tx_bytes', c.total - VNET_HDR_LEN);
    }
  }

  private txPass(q: number): number {
    const tq = this.txq[q]!;
    const fd = this.fds[q]!;
    const burst = this.nicio !== undefined;
    const dv = this.bDv;
    let work = 0;
    let touched = false;
    let nb = 0; // frames collected for a burst
    let iovAt = 0;
    while (work < this.batch) {
      const c = burst ? this.txBurst[nb]! : this.txc;
      const r = tq.pop(c);
      if (r === 'empty') break;
      if (r === 'broken') {
        this.brokenQueue('tx', q);
        break;
      }
      work++;
      if (r !== 'ok') {
        this.bad('tx', q, r, c.head);
        if (r !== 'bad_head') {
          tq.pushUsed(c.head, 0);
          touched = true;
        }
        continue;
      }
      touched = true;
      if (!this.txCheck(q, c)) {
        tq.pushUsed(c.head, 0);
        continue;
      }
      if (!burst) {
        const w = libc.writev(fd, this.iov, this.fillTxIov(c));
        this.txResult(q, c, w, w < 0 ? libc.errno() : 0);
        tq.pushUsed(c.head, 0);
        continue;
      }
      // collect: copy this frame's iovecs into the burst area
      const cnt = this.fillTxIov(c);
      new Uint8Array(dv!.buffer, dv!.byteOffset + B_IOV + 16 * iovAt, 16 * cnt).set(
        new Uint8Array(this.iovDv.buffer, this.iovDv.byteOffset, 16 * cnt),
      );
      dv!.setInt32(B_CNT + 4 * nb, cnt, true);
      iovAt += cnt;
      nb++;
    }
    if (nb > 0) {
      this.nicio!.writeBurst(fd, this.bArea + B_IOV, this.bArea + B_CNT, this.bArea + B_RES, nb);
      for (let i = 0; i < nb; i++) {
        const res = dv!.getInt32(B_RES + 4 * i, true);
        const c = this.txBurst[i]!;
        this.txResult(q, c, res, -res);
        tq.pushUsed(c.head, 0);
      }
    }
    if (touched && tq.publish()) {
      this.count(q, 'wakeups');
      this.o.wake(q);
    }
    return work;
  }

  /** One pass over all queue pairs. Returns the number of frames handled. */
  pollOnce(): number {
    let work = 0;
    for (let q = 0; q < this.nq; q++) {
      work += this.txPass(q);
      work += this.rxPass(q);
    }
    for (let q = 0; q < this.nq; q++) {
      if (!this.touchedRx[q]) continue;
      this.touchedRx[q] = false;
      if (this.rxq[q]!.publish()) {
        this.count(q, 'wakeups');
        this.o.wake(q);
      }
    }
    return work;
  }

  /**
   * Before sleeping: ask the guest to kick on new TX buffers and on RX refills, then report
   * which TAP fds are worth waiting on (those whose queue can take a frame; a queue without
   * RX buffers leaves frames queued in the kernel, i.e. back-pressure instead of drops).
   * Returns null if work arrived meanwhile (do not sleep).
   */
  sleepFds(): number[] | null {
    const fds: number[] = [];
    for (let q = 0; q < this.nq; q++) {
      if (this.txq[q]!.enableKick()) return null;
      if (this.stashValid[q] || (this.ready[q]?.length ?? 0) > 0) fds.push(this.fds[q]!);
      else if (this.rxq[q]!.enableKick()) return null;
    }
    return fds;
  }
}
