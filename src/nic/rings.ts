// Host-side placement of the NIC rings in guest memory. The host carves them out of a free
// guest-physical range and writes their addresses into struct ix_nic_info; the guest driver
// then initialises the driver side. Each part starts on its own 64-byte line so the words the
// driver writes (avail) and the words the device writes (used) never share a cache line.
import type { NicVqAddrs } from '../abi/nic.js';
import { availRingBytes, descTableBytes, usedRingBytes } from './virtqueue.js';

const LINE = 64;
const up = (x: number, a: number): number => Math.ceil(x / a) * a;

export class RingLayoutError extends Error {
  override name = 'RingLayoutError';
}

/** Bytes one queue needs (desc + avail + used, line-aligned). */
export const queueBytes = (size: number): number =>
  up(descTableBytes(size), LINE) + up(availRingBytes(size), LINE) + up(usedRingBytes(size), LINE);

/**
 * Place nqueues RX and nqueues TX rings of `size` entries from guest-physical `start`
 * (rounded up to 4 KiB). Returns the addresses and the first free address after them.
 */
export function allocNicRings(start: number, nqueues: number, size: number): { rx: NicVqAddrs[]; tx: NicVqAddrs[]; end: number } {
  if (size < 1 || size > 32768 || (size & (size - 1)) !== 0) throw new RingLayoutError(`ring size ${size} is not a power of two in 1..32768`);
  let at = up(start, 4096);
  const one = (): NicVqAddrs => {
    const desc = at;
    const avail = up(desc + descTableBytes(size), LINE);
    const used = up(avail + availRingBytes(size), LINE);
    at = up(used + usedRingBytes(size), LINE);
    return { desc: BigInt(desc), avail: BigInt(avail), used: BigInt(used), size };
  };
  const rx: NicVqAddrs[] = [];
  const tx: NicVqAddrs[] = [];
  for (let q = 0; q < nqueues; q++) rx.push(one());
  for (let q = 0; q < nqueues; q++) tx.push(one());
  return { rx, tx, end: up(at, 4096) };
}

/**
 * Place the rings inside [start, end) of guest memory and zero them (a fresh ring is all
 * zeros: indices 0, no event suppression). For the VMM before it writes ix_nic_info.
 */
export function prepareNicRings(
  mem: { u8: Uint8Array; size: number },
  start: number,
  end: number,
  nqueues: number,
  size: number,
): { rx: NicVqAddrs[]; tx: NicVqAddrs[]; end: number } {
  const r = allocNicRings(start, nqueues, size);
  if (start < 0 || r.end > end || end > mem.size)
    throw new RingLayoutError(
      `NIC rings for ${nqueues} queue pairs of ${size} entries need [0x${start.toString(16)}, 0x${r.end.toString(16)}) but only [0x${start.toString(16)}, 0x${end.toString(16)}) inside ${mem.size} bytes of guest memory is free; reserve more or use smaller rings`,
    );
  mem.u8.fill(0, up(start, 4096), r.end);
  return r;
}
