// Fake guest RAM for tests and benchmarks (the NIC engine and backend run over it instead of
// a VM's memory).
import * as libc from '../sys/libc.js';
import type { GuestMemorySpec } from '../nic/guest-memory.js';

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
    this.mapBase = libc.mapAnon(this.mapLen, { shared: true });
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
