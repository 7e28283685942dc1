/**
 * What vhost is told about guest memory, as the bytes of the ioctl arguments: the memory
 * table (VHOST_SET_MEM_TABLE: one region, guest-physical 0 .. size at guest RAM's host
 * address) and each vring's host addresses (VHOST_SET_VRING_ADDR). vhost translates every
 * descriptor address the guest writes through this table and refuses what falls outside it,
 * so only guest RAM is ever reachable: the table must hold nothing else. Ring addresses are
 * chosen by the host (src/nic/rings.ts), but they are checked again here: inside guest RAM,
 * aligned as vhost requires.
 */
import type { NicVqAddrs } from '../../abi/nic.js';
import { availRingBytes, descTableBytes, usedRingBytes } from '../virtqueue.js';
import { VHOST_LAYOUT as L, VHOST_VRING_ALIGN } from './abi.js';

export class VhostMemoryError extends Error {
  override name = 'VhostMemoryError';
}

/** Guest RAM as the VMM mapped it: host address of guest-physical 0, and its size. */
export interface VhostGuestRam {
  base: number;
  size: number;
}

function checkRam(ram: VhostGuestRam): void {
  if (!Number.isSafeInteger(ram.base) || ram.base <= 0 || ram.base % 4096 !== 0)
    throw new VhostMemoryError(`guest RAM's host address 0x${ram.base.toString(16)} is not a page-aligned mapping`);
  if (!Number.isSafeInteger(ram.size) || ram.size <= 0 || ram.size % 4096 !== 0)
    throw new VhostMemoryError(`guest RAM size ${ram.size} is not a positive multiple of 4096`);
}

/** struct vhost_memory with one struct vhost_memory_region: all of guest RAM, nothing else. */
export function vhostMemoryTable(ram: VhostGuestRam): Uint8Array {
  checkRam(ram);
  const R = L.vhost_memory_region.fields;
  const bytes = new Uint8Array(L.vhost_memory.size + L.vhost_memory_region.size);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(L.vhost_memory.fields.nregions, 1, true);
  const r = L.vhost_memory.fields.regions;
  dv.setBigUint64(r + R.guest_phys_addr, 0n, true);
  dv.setBigUint64(r + R.memory_size, BigInt(ram.size), true);
  dv.setBigUint64(r + R.userspace_addr, BigInt(ram.base), true);
  dv.setBigUint64(r + R.flags_padding, 0n, true);
  return bytes;
}

/** The host address of ring part `what` at guest-physical `gpa` spanning `len` bytes. */
function partAddr(ram: VhostGuestRam, what: keyof typeof VHOST_VRING_ALIGN, gpa: bigint, len: number, index: number): bigint {
  const g = Number(gpa);
  if (!Number.isSafeInteger(g) || g < 0 || g + len > ram.size)
    throw new VhostMemoryError(`vring ${index}: the ${what} ring at guest-physical 0x${gpa.toString(16)} (+${len} bytes) is outside guest RAM (${ram.size} bytes)`);
  if (g % VHOST_VRING_ALIGN[what] !== 0)
    throw new VhostMemoryError(`vring ${index}: the ${what} ring at 0x${gpa.toString(16)} is not ${VHOST_VRING_ALIGN[what]}-byte aligned as vhost requires`);
  return BigInt(ram.base + g);
}

/** struct vhost_vring_addr for vring `index` of a device whose rings the host placed at `ring`. */
export function vhostVringAddr(ram: VhostGuestRam, index: number, ring: NicVqAddrs): Uint8Array {
  checkRam(ram);
  const n = ring.size;
  if (!Number.isInteger(n) || n < 1 || n > 32768 || (n & (n - 1)) !== 0) throw new VhostMemoryError(`vring ${index}: size ${n} is not a power of two in 1..32768`);
  const F = L.vhost_vring_addr.fields;
  const bytes = new Uint8Array(L.vhost_vring_addr.size);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(F.index, index, true);
  dv.setUint32(F.flags, 0, true); // no dirty logging
  dv.setBigUint64(F.desc_user_addr, partAddr(ram, 'desc', ring.desc, descTableBytes(n), index), true);
  dv.setBigUint64(F.used_user_addr, partAddr(ram, 'used', ring.used, usedRingBytes(n), index), true);
  dv.setBigUint64(F.avail_user_addr, partAddr(ram, 'avail', ring.avail, availRingBytes(n), index), true);
  dv.setBigUint64(F.log_guest_addr, 0n, true);
  return bytes;
}

/** struct vhost_vring_state or struct vhost_vring_file (same shape: u32 index, then a u32 / int). */
export function vhostVringPair(index: number, value: number): Uint8Array {
  const bytes = new Uint8Array(L.vhost_vring_state.size);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(L.vhost_vring_state.fields.index, index, true);
  dv.setInt32(L.vhost_vring_file.fields.fd, value, true);
  return bytes;
}
