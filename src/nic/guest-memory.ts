// Host view of guest RAM for the NIC backend. Guest-physical address 0 is at host address
// `base`; the region is `size` bytes. The base is a raw address in this process (the VMM's
// anonymous shared mmap), so every worker thread can build its own view from the number.
//
// Every guest-supplied (address, length) goes through `check()` before use.
import * as libc from '../sys/libc.js';

export interface GuestMemorySpec {
  /** host address of guest-physical 0 (bigint or number) */
  base: bigint | number;
  /** bytes of guest-physical memory from 0 */
  size: number;
}

export class GuestMemoryError extends Error {
  override name = 'GuestMemoryError';
}

export class GuestMemory {
  readonly base: number;
  readonly size: number;
  readonly u8: Uint8Array;
  readonly dv: DataView;

  constructor(spec: GuestMemorySpec) {
    const base = Number(spec.base);
    if (!Number.isSafeInteger(base) || base <= 0)
      throw new GuestMemoryError(`guest memory base ${String(spec.base)} is not a valid host address`);
    // One ArrayBuffer view covers all of guest RAM; koffi.view aborts the process above 4 GiB
    // (measured), so larger guests would need one view per 4 GiB window.
    if (!Number.isSafeInteger(spec.size) || spec.size <= 0 || spec.size > 2 ** 32)
      throw new GuestMemoryError(`guest memory size ${spec.size} is not in 1..4 GiB (the NIC backend maps it as one view); give the guest at most 4 GiB`);
    this.base = base;
    this.size = spec.size;
    const ab = libc.view(base, spec.size);
    this.u8 = new Uint8Array(ab);
    this.dv = new DataView(ab);
  }

  /** True if [gpa, gpa+len) lies inside guest memory. gpa/len may be any JS number. */
  check(gpa: number, len: number): boolean {
    return Number.isSafeInteger(gpa) && Number.isSafeInteger(len) && gpa >= 0 && len >= 0 && gpa + len <= this.size;
  }

  /** Host address of a checked guest-physical address. */
  host(gpa: number): number {
    return this.base + gpa;
  }
}
