// Receive-side scaling: the Toeplitz hash (Microsoft RSS spec) of an IPv4 packet's 4-tuple
// (TCP/UDP, not fragmented) or 2-tuple (other IPv4), mapped through a redirection table
// to a queue. Non-IPv4 frames (ARP, IPv6) go to queue 0.
//
// The hash is computed with a per-key table: for input byte position i and byte value v,
// t[i*256+v] is the XOR of the 32-bit key windows of every set bit of v. Twelve lookups
// per packet.
import { IX_RETA_MAX, IX_RSS_KEY_LEN } from '../abi/nic.js';

/** The key from the Microsoft RSS verification suite; also a sensible default. */
export const MS_RSS_KEY = Uint8Array.from([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
  0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
  0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
]);

export class RssConfigError extends Error {
  override name = 'RssConfigError';
}

const INPUT_MAX = 12; // src ip, dst ip, src port, dst port

export class Toeplitz {
  private readonly t = new Uint32Array(INPUT_MAX * 256);

  constructor(key: Uint8Array) {
    if (key.length < INPUT_MAX + 4) throw new RssConfigError(`RSS key of ${key.length} bytes is too short (need >= 16)`);
    for (let i = 0; i < INPUT_MAX; i++) {
      for (let b = 0; b < 8; b++) {
        const bit = i * 8 + b; // input bit index, MSB first
        // 32-bit window of the key starting at `bit`
        const byte = bit >>> 3;
        const sh = bit & 7;
        const w =
          (((key[byte]! << 24) | (key[byte + 1]! << 16) | (key[byte + 2]! << 8) | key[byte + 3]!) << sh) |
          (sh === 0 ? 0 : key[byte + 4]! >>> (8 - sh));
        const mask = 0x80 >>> b;
        for (let v = 0; v < 256; v++) if ((v & mask) !== 0) this.t[i * 256 + v]! ^= w;
      }
    }
  }

  /** Hash of `len` (<= 12) input bytes at `off` in `buf`. */
  hash(buf: Uint8Array, off: number, len: number): number {
    const t = this.t;
    let h = 0;
    for (let i = 0; i < len; i++) h ^= t[i * 256 + buf[off + i]!]!;
    return h >>> 0;
  }

  /** Hash of an IPv4 tuple given as numbers (host order), for tests and for port choice. */
  hashTuple(src: number, dst: number, sport?: number, dport?: number): number {
    const b = new Uint8Array(12);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, src >>> 0);
    dv.setUint32(4, dst >>> 0);
    if (sport === undefined || dport === undefined) return this.hash(b, 0, 8);
    dv.setUint16(8, sport);
    dv.setUint16(10, dport);
    return this.hash(b, 0, 12);
  }
}

/** In a live redirection table (reta.ts): the entry's flow group is being moved, its frames
 * are held by the NIC until the entry names a queue again. The low 16 bits name a queue. */
export const RETA_HOLD = 0x10000;
export const RETA_QUEUE_MASK = 0xffff;

export interface RssConfig {
  key: Uint8Array; // IX_RSS_KEY_LEN bytes
  reta: ArrayLike<number>; // queue per entry; length a power of two <= IX_RETA_MAX
}

/** A round-robin redirection table of `size` entries over `nqueues` queues. */
export function defaultReta(nqueues: number, size = 128): number[] {
  return Array.from({ length: size }, (_, i) => i % nqueues);
}

export class RssSteering {
  private readonly tz: Toeplitz;
  private readonly reta: Uint16Array | Int32Array;
  private readonly mask: number;

  /** `live`: the entries of a table the control plane rewrites while frames flow (reta.ts);
   * its queues are checked by whoever writes it. Without it, cfg.reta is copied. */
  constructor(cfg: RssConfig, nqueues: number, live?: Int32Array) {
    if (cfg.key.length !== IX_RSS_KEY_LEN) throw new RssConfigError(`RSS key has ${cfg.key.length} bytes, want ${IX_RSS_KEY_LEN}`);
    const n = cfg.reta.length;
    if (n < 1 || n > IX_RETA_MAX || (n & (n - 1)) !== 0)
      throw new RssConfigError(`redirection table has ${n} entries, want a power of two in 1..${IX_RETA_MAX}`);
    this.reta = Uint16Array.from(cfg.reta);
    for (const q of this.reta) if (q >= nqueues) throw new RssConfigError(`redirection table names queue ${q}, only ${nqueues} exist`);
    if (live !== undefined) {
      if (live.length !== n) throw new RssConfigError(`the live redirection table has ${live.length} entries, the plan ${n}`);
      this.reta = live;
    }
    this.tz = new Toeplitz(cfg.key);
    this.mask = n - 1;
  }

  /** Queue for a hash value. */
  queueOf(hash: number): number {
    return this.reta[hash & this.mask]! & RETA_QUEUE_MASK;
  }

  /** The redirection table's value at an entry (a queue, RETA_HOLD added while its flow group moves). */
  valueAt(entry: number): number {
    return this.reta[entry]!;
  }

  /**
   * Queue for the Ethernet frame of `len` bytes at `off` in `buf` (untrusted: every read is
   * bounds-checked against len).
   */
  steer(buf: Uint8Array, off: number, len: number): number {
    const e = this.entryOf(buf, off, len);
    return e < 0 ? 0 : this.reta[e]! & RETA_QUEUE_MASK;
  }

  /** The redirection table entry (flow group) of a frame, or -1 for a frame that is not
   * IPv4 (queue 0). Same checks as steer(). */
  entryOf(buf: Uint8Array, off: number, len: number): number {
    if (len < 14 + 20) return -1;
    if (buf[off + 12] !== 0x08 || buf[off + 13] !== 0x00) return -1; // not IPv4
    const ip = off + 14;
    const vihl = buf[ip]!;
    if (vihl >>> 4 !== 4) return -1;
    const ihl = (vihl & 15) * 4;
    if (ihl < 20 || 14 + ihl > len) return -1;
    const proto = buf[ip + 9]!;
    const frag = ((buf[ip + 6]! & 0x3f) << 8) | buf[ip + 7]!; // MF flag + offset
    const ports = (proto === 6 || proto === 17) && frag === 0 && 14 + ihl + 4 <= len;
    if (!ports) return this.tz.hash(buf, ip + 12, 8) & this.mask;
    // src ip, dst ip are contiguous at ip+12; the ports follow the IP header
    const h = this.tz.hash(buf, ip + 12, 8);
    // continue the hash over the 4 port bytes at positions 8..11
    return ((h ^ this.hashPorts(buf, ip + ihl)) >>> 0) & this.mask;
  }

  private hashPorts(buf: Uint8Array, off: number): number {
    // positions 8..11 of the input: reuse the table rows through a 12-byte hash with zeros
    // in positions 0..7 (zero bytes contribute nothing)
    const s = this.scratch;
    s[8] = buf[off]!;
    s[9] = buf[off + 1]!;
    s[10] = buf[off + 2]!;
    s[11] = buf[off + 3]!;
    return this.tz.hash(s, 0, 12);
  }
  private readonly scratch = new Uint8Array(12);
}
