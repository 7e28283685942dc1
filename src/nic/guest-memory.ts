// Host view of guest RAM for the NIC backend. Guest-physical address 0 is at host address
// `base`; the region is `size` bytes. The base is a raw address in this process (the VMM's
// anonymous shared mmap), so every worker thread can build its own view from the number.
//
// Every guest-supplied (address, length) goes through `check()` before use.
import * as libc from './libc-compat.js';

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

/**
 * Fake guest RAM for tests and benchmarks: `size` bytes of anonymous shared memory between
 * two guard regions of `guard` bytes. The guards are filled with a pattern and then made
 * inaccessible: a stray access from JS faults, a stray read()/write() syscall on them fails
 * with EFAULT (which the backend counts), and guardDamage() checks the pattern afterwards.
 */
export class FakeGuestRam {
  static readonly PATTERN = 0xa5;
  readonly spec: GuestMemorySpec;
  private readonly mapBase: number;
  private readonly mapLen: number;
  private readonly guard: number;

  constructor(size: number, guard = 65536) {
    this.guard = guard;
    this.mapLen = guard + size + guard;
    this.mapBase = libc.mapAnon(this.mapLen, libc.PROT_READ | libc.PROT_WRITE, true);
    for (const g of this.guards()) {
      new Uint8Array(libc.view(g, guard)).fill(FakeGuestRam.PATTERN);
      libc.mprotect(g, guard, libc.PROT_NONE);
    }
    this.spec = { base: BigInt(this.mapBase + guard), size };
  }

  private guards(): number[] {
    return [this.mapBase, this.mapBase + this.mapLen - this.guard];
  }

  /** Number of guard bytes (both sides) that no longer hold the pattern. */
  guardDamage(): number {
    let bad = 0;
    for (const g of this.guards()) {
      libc.mprotect(g, this.guard, libc.PROT_READ);
      for (const b of new Uint8Array(libc.view(g, this.guard))) if (b !== FakeGuestRam.PATTERN) bad++;
      libc.mprotect(g, this.guard, libc.PROT_NONE);
    }
    return bad;
  }

  free(): void {
    libc.munmap(this.mapBase, this.mapLen);
  }
}
