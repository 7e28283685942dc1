/**
 * The state every vCPU starts in: 64-bit long mode with paging on, on the host-built boot
 * page table (the direct map), at the kernel's entry with the boot info address in %rdi and
 * the vCPU's index in %rsi. The guest builds its own GDT, IDT and page tables from there.
 */
import type { Vcpu } from '../kvm/index.js';
import { BOOTINFO_GPA, PGD_GPA } from './boot.js';

/** CR0: PE | MP | ET | NE | WP | AM | PG */
const CR0 = 0x80050033n;
/** CR4: PAE only. PVM's CPUID has no PCID, and CR3 bit 12 must stay clear (docs/pvm.md). */
const CR4 = 0x20n;
/** EFER: SCE | LME | LMA | NXE */
const EFER = 0xd01n;

const CODE64 = { base: 0n, limit: 0xffffffff, selector: 0x10, type: 11, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0 };
const DATA = { base: 0n, limit: 0xffffffff, selector: 0x18, type: 3, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 };
const TSS = { base: 0n, limit: 0x67, selector: 0, type: 11, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0 };
const LDT = { base: 0n, limit: 0xffff, selector: 0, type: 2, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0 };

export function setInitialState(v: Vcpu, entry: bigint, cpu: number): void {
  const s = v.getSregs();
  s.cs = { ...s.cs, ...CODE64 };
  s.ds = { ...s.ds, ...DATA };
  s.es = { ...s.es, ...DATA };
  s.fs = { ...s.fs, ...DATA };
  s.gs = { ...s.gs, ...DATA };
  s.ss = { ...s.ss, ...DATA };
  s.tr = { ...s.tr, ...TSS };
  s.ldt = { ...s.ldt, ...LDT };
  s.cr0 = CR0;
  s.cr4 = CR4;
  s.cr3 = BigInt(PGD_GPA);
  s.efer = EFER;
  v.setSregs(s);
  const r = v.getRegs();
  for (const k of Object.keys(r) as (keyof typeof r)[]) r[k] = 0n;
  r.rip = entry;
  r.rdi = BigInt(BOOTINFO_GPA);
  r.rsi = BigInt(cpu);
  r.rflags = 2n;
  v.setRegs(r);
}
