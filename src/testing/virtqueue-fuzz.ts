// Target (d) of the fuzzing (docs/fuzzing.md): the host's virtqueue (src/nic/virtqueue.ts)
// against a hostile guest. NOT coverage-guided: a seeded, structure-aware random loop. Each
// round the "guest" rewrites descriptors (valid chains, loops, links past the table, addresses
// past RAM or at/above 2^53, buffers over the rings, wrong direction, INDIRECT, zero lengths)
// and the available ring (heads past the table, idx jumps), then the device pops, returns
// and publishes as the backend does. Checked at every step:
//   - pop's verdict and chain equal an independent model's walk of the same descriptors;
//   - the device writes nothing but the used ring (entries, idx, avail_event);
//   - pending() is never above the ring size, and a broken queue stays broken.
import { GuestMemory } from '../nic/guest-memory.js';
import {
  Chain, DeviceQueue, ForbiddenRanges, MAX_CHAIN_SEGS, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE,
  availRingBytes, descTableBytes, usedRingBytes, type PopResult,
} from '../nic/virtqueue.js';

const RAM = 1 << 16;

/** xorshift64 (13, 7, 17): the run is a function of the seed (a failure names its seed and
 * round). Kept in two 32-bit halves: the BigInt version spent more time allocating than the
 * queue did. */
export class Rng {
  private hi: number;
  private lo: number;
  constructor(seed: number) {
    const s = (BigInt(seed) * 0x9e3779b97f4a7c15n + 1n) & 0xffffffffffffffffn;
    this.hi = Number(s >> 32n) >>> 0;
    this.lo = Number(s & 0xffffffffn) >>> 0;
    if ((this.hi | this.lo) === 0) this.lo = 1; // xorshift never leaves 0
  }
  next(): number {
    let { hi, lo } = this;
    // s ^= s << 13
    hi = (hi ^ ((hi << 13) | (lo >>> 19))) >>> 0;
    lo = (lo ^ (lo << 13)) >>> 0;
    // s ^= s >> 7
    lo = (lo ^ ((lo >>> 7) | (hi << 25))) >>> 0;
    hi = (hi ^ (hi >>> 7)) >>> 0;
    // s ^= s << 17
    hi = (hi ^ ((hi << 17) | (lo >>> 15))) >>> 0;
    lo = (lo ^ (lo << 17)) >>> 0;
    this.hi = hi;
    this.lo = lo;
    return lo;
  }
  below(n: number): number {
    return this.next() % n;
  }
  /** The generator's state as 16 hex digits: `Rng.fromState` continues from exactly here. */
  get state(): string {
    return this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0');
  }
  static fromState(hex: string): Rng {
    if (!/^[0-9a-f]{16}$/i.test(hex) || /^0+$/.test(hex)) throw new RangeError(`Rng state must be 16 hex digits, not all zero: ${JSON.stringify(hex)}`);
    const r = new Rng(0);
    r.hi = parseInt(hex.slice(0, 8), 16) >>> 0;
    r.lo = parseInt(hex.slice(8), 16) >>> 0;
    return r;
  }
}

/** The first byte that differs between a and b in [from, to), or -1 (native compares first:
 * a byte loop over the 64 KB per round was most of the run time). */
export function firstDiff(a: Uint8Array, b: Uint8Array, from: number, to: number): number {
  if (to <= from || Buffer.from(a.buffer, a.byteOffset + from, to - from).equals(Buffer.from(b.buffer, b.byteOffset + from, to - from)))
    return -1;
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** A GuestMemory over an ordinary ArrayBuffer (the real one maps a host address). */
function fakeMemory(): GuestMemory {
  const ab = new ArrayBuffer(RAM);
  const m = Object.create(GuestMemory.prototype) as { base: number; size: number; u8: Uint8Array; dv: DataView };
  Object.assign(m, { base: 1, size: RAM, u8: new Uint8Array(ab), dv: new DataView(ab) });
  return m as unknown as GuestMemory;
}

interface Layout { size: number; desc: number; avail: number; used: number; dir: 'rx' | 'tx' }

/** The model: the walk virtio 1.2 §2.7.5 describes, with the device's refusals, written
 * separately from DeviceQueue.pop (the xdp target uses it too). `ram`: guest memory size;
 * `forbidden`: half-open ranges no buffer may overlap. */
export function modelWalk(dv: DataView, l: { size: number; desc: number; dir: 'rx' | 'tx' }, head: number,
  forbidden: [number, number][], ram: number): { r: PopResult; segs: [number, number][] } {
  const segs: [number, number][] = [];
  if (head >= l.size) return { r: 'bad_head', segs };
  const seen = new Set<number>();
  let i = head;
  for (;;) {
    if (seen.has(i)) return { r: 'chain_loop', segs };
    seen.add(i);
    if (segs.length >= MAX_CHAIN_SEGS) return { r: 'chain_too_long', segs };
    const d = l.desc + 16 * i;
    const hi = dv.getUint32(d + 4, true);
    const len = dv.getUint32(d + 8, true);
    const flags = dv.getUint16(d + 12, true);
    if (hi >= 2 ** 21) return { r: 'desc_out_of_range', segs }; // address >= 2^53
    const write = (flags & VIRTQ_DESC_F_WRITE) !== 0;
    if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0 || write !== (l.dir === 'rx')) return { r: 'bad_flags', segs };
    if (len === 0) return { r: 'zero_len', segs };
    const a = hi * 2 ** 32 + dv.getUint32(d, true);
    if (a + len > ram) return { r: 'desc_out_of_range', segs };
    if (forbidden.some(([s, e]) => a < e && s < a + len)) return { r: 'desc_overlaps_ring', segs };
    segs.push([a, len]);
    if ((flags & VIRTQ_DESC_F_NEXT) === 0) return { r: 'ok', segs };
    i = dv.getUint16(d + 14, true);
    if (i >= l.size) return { r: 'bad_next', segs };
  }
}

export interface VqFuzzStats { rounds: number; pops: number; verdicts: Record<string, number> }

function fail(seed: number, round: number, what: string): never {
  throw new Error(`virtqueue fuzz: seed ${seed} round ${round}: ${what}`);
}

/** Run rounds until `deadline` (ms since epoch) or `maxRounds`; throws on a violated check. */
export function fuzzVirtqueue(seed: number, deadline: number, maxRounds = Infinity): VqFuzzStats {
  const rng = new Rng(seed);
  const stats: VqFuzzStats = { rounds: 0, pops: 0, verdicts: {} };
  const c = new Chain();
  // the clock is read once per queue (at most 200 rounds): rounds move on by uneven steps, so
  // "every 64th round" would only rarely fall on this check and the run would overshoot
  while (stats.rounds < maxRounds && Date.now() < deadline) {
    // a fresh queue every 200 rounds: sizes 1..256, both directions
    const size = 1 << rng.below(9);
    const dir = rng.below(2) ? 'rx' : 'tx';
    const l: Layout = { size, dir, desc: 0x1000, avail: 0x1000 + descTableBytes(size), used: 0 };
    l.used = (l.avail + availRingBytes(size) + 3) & ~3;
    const mem = fakeMemory();
    const forbidden = new ForbiddenRanges();
    const fb: [number, number][] = [];
    for (const [a, n] of [[l.desc, descTableBytes(size)], [l.avail, availRingBytes(size)], [l.used, usedRingBytes(size)]] as const) {
      forbidden.add(a, n);
      fb.push([a, a + n]);
    }
    const q = new DeviceQueue(mem, { size, desc: BigInt(l.desc), avail: BigInt(l.avail), used: BigInt(l.used) } as never, dir, forbidden);
    q.attach();
    const dv = mem.dv;
    const u8 = mem.u8;
    let availIdx = 0;
    let wasBroken = false;
    const before = new Uint8Array(RAM);
    for (let r = 0; r < 200; r++, stats.rounds++) {
      const round = stats.rounds;
      // the guest rewrites some descriptors
      for (let k = rng.below(8); k > 0; k--) {
        const i = rng.below(size);
        const d = l.desc + 16 * i;
        const kind = rng.below(10);
        const ok = dir === 'rx' ? VIRTQ_DESC_F_WRITE : 0;
        const addr = kind === 0 ? (rng.below(4) === 0 ? 2 ** 53 - rng.below(4) : RAM - rng.below(64))
          : kind === 1 ? l.desc + rng.below(0x3000) // on or near the rings
          : 0x8000 + rng.below(0x7000);
        dv.setBigUint64(d, BigInt(addr), true);
        dv.setUint32(d + 8, kind === 2 ? 0 : kind === 3 ? 0xffffffff - rng.below(8) : 1 + rng.below(2048), true);
        const flags = kind === 4 ? rng.below(8) : ok | (rng.below(3) ? VIRTQ_DESC_F_NEXT : 0);
        dv.setUint16(d + 12, flags, true);
        dv.setUint16(d + 14, kind === 5 ? size + rng.below(4) : rng.below(size), true);
      }
      // now and then one long valid chain (MAX_CHAIN_SEGS is reachable only on big rings)
      if (size >= 128 && rng.below(40) === 0) {
        const start = rng.below(size - 70);
        const n = 60 + rng.below(10);
        for (let j = 0; j < n; j++) {
          const d = l.desc + 16 * (start + j);
          dv.setBigUint64(d, BigInt(0x8000 + 64 * j), true);
          dv.setUint32(d + 8, 64, true);
          dv.setUint16(d + 12, (dir === 'rx' ? VIRTQ_DESC_F_WRITE : 0) | (j + 1 < n ? VIRTQ_DESC_F_NEXT : 0), true);
          dv.setUint16(d + 14, start + j + 1, true);
        }
        dv.setUint16(l.avail + 4 + 2 * (availIdx & (size - 1)), start, true);
        availIdx = (availIdx + 1) & 0xffff;
      }
      // ... and posts heads
      for (let k = rng.below(5); k > 0; k--) {
        const head = rng.below(10) === 0 ? size + rng.below(100) : rng.below(size);
        dv.setUint16(l.avail + 4 + 2 * (availIdx & (size - 1)), head, true);
        availIdx = (availIdx + 1) & 0xffff;
      }
      if (rng.below(100) === 0) availIdx = (availIdx + rng.below(0x10000)) & 0xffff; // a jump
      dv.setUint16(l.avail + 2, availIdx, true);
      // used_event: anything
      dv.setUint16(l.avail + 4 + 2 * size, rng.below(0x10000), true);

      before.set(u8);
      const pending = q.pending();
      if (pending > size) fail(seed, round, `pending ${pending} > size ${size}`);
      for (let p = 0; p < size + 2; p++) {
        const slot = q.lastAvail;
        const res = q.pop(c);
        if (res === 'empty') break;
        if (res === 'broken') {
          wasBroken = true;
          break;
        }
        if (wasBroken) fail(seed, round, 'a broken queue popped again');
        stats.pops++;
        stats.verdicts[res] = (stats.verdicts[res] ?? 0) + 1;
        const head = dv.getUint16(l.avail + 4 + 2 * (slot & (size - 1)), true);
        const m = modelWalk(dv, l, head, fb, RAM);
        if (m.r !== res) fail(seed, round, `pop said ${res}, the model ${m.r} (head ${head})`);
        if (res === 'ok') {
          if (c.count !== m.segs.length) fail(seed, round, `chain of ${c.count} segments, the model ${m.segs.length}`);
          let total = 0;
          for (let s = 0; s < c.count; s++) {
            if (c.addr[s] !== m.segs[s]![0] || c.len[s] !== m.segs[s]![1]) fail(seed, round, `segment ${s} differs`);
            total += c.len[s]!;
          }
          if (c.total !== total) fail(seed, round, 'total differs');
        }
        if (res !== 'bad_head') q.pushUsed(c.head, res === 'ok' && dir === 'rx' ? Math.min(c.total, 1514) : 0);
      }
      q.publish();
      q.enableKick();
      // the device wrote only the used ring
      const usedEnd = l.used + usedRingBytes(size);
      const b = Math.max(firstDiff(u8, before, 0, l.used), firstDiff(u8, before, usedEnd, RAM));
      if (b >= 0) fail(seed, round, `the device wrote guest memory at 0x${b.toString(16)}, outside the used ring`);
      if (wasBroken) break;
    }
  }
  return stats;
}
