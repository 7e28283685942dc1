/**
 * Plain-object forms of the KVM register structures and their encoding to/from the byte
 * layouts in layout.ts. 64-bit fields are BigInt; narrower ones are numbers. Encoders
 * validate ranges so that a bad value fails here, with the field name, rather than as an
 * EINVAL from the kernel or as silent truncation.
 */
import { ARRAYS, LAYOUT } from './layout.js';

export const REG_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const satisfies readonly (keyof typeof LAYOUT.kvm_regs.fields)[];

export type RegName = (typeof REG_NAMES)[number];
export type Regs = Record<RegName, bigint>;

export interface Segment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

export interface DTable {
  base: bigint;
  limit: number;
}

export const SEGMENT_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
export type SegmentName = (typeof SEGMENT_NAMES)[number];
const CR_NAMES = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apic_base'] as const;
type CrName = (typeof CR_NAMES)[number];

export type Sregs = Record<SegmentName, Segment> & Record<CrName, bigint> & {
  gdt: DTable;
  idt: DTable;
  /** 256 bits of pending external interrupts (read-only in practice; written back as given) */
  interrupt_bitmap: bigint[];
};

export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export interface MsrEntry {
  index: number;
  data: bigint;
}

const U64_MAX = 2n ** 64n - 1n;

export class StructValueError extends RangeError {
  override name = 'StructValueError';
}

function u64(v: unknown, what: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) {
    throw new StructValueError(`${what} must be a BigInt in 0..2^64-1, got ${String(v)}${typeof v === 'number' ? ' (a number: write it with an n suffix)' : ''}`);
  }
  return v;
}

function uint(v: unknown, bits: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** bits) {
    throw new StructValueError(`${what} must be an integer in 0..2^${bits}-1, got ${String(v)}`);
  }
  return v;
}

// ---- kvm_regs

export function decodeRegs(dv: DataView, at = 0): Regs {
  const f = LAYOUT.kvm_regs.fields;
  const r = {} as Regs;
  for (const n of REG_NAMES) r[n] = dv.getBigUint64(at + f[n], true);
  return r;
}

export function encodeRegs(dv: DataView, r: Regs, at = 0): void {
  const f = LAYOUT.kvm_regs.fields;
  for (const n of REG_NAMES) dv.setBigUint64(at + f[n], u64(r[n], `regs.${n}`), true);
}

// ---- kvm_segment, kvm_dtable

const SEG = LAYOUT.kvm_segment.fields;
const SEG_BYTES = ['type', 'present', 'dpl', 'db', 's', 'l', 'g', 'avl', 'unusable'] as const;

export function decodeSegment(dv: DataView, at: number): Segment {
  return {
    base: dv.getBigUint64(at + SEG.base, true),
    limit: dv.getUint32(at + SEG.limit, true),
    selector: dv.getUint16(at + SEG.selector, true),
    type: dv.getUint8(at + SEG.type),
    present: dv.getUint8(at + SEG.present),
    dpl: dv.getUint8(at + SEG.dpl),
    db: dv.getUint8(at + SEG.db),
    s: dv.getUint8(at + SEG.s),
    l: dv.getUint8(at + SEG.l),
    g: dv.getUint8(at + SEG.g),
    avl: dv.getUint8(at + SEG.avl),
    unusable: dv.getUint8(at + SEG.unusable),
  };
}

export function encodeSegment(dv: DataView, at: number, s: Segment, what: string): void {
  // Zero the whole struct first: the padding byte must not carry stale data.
  for (let i = 0; i < LAYOUT.kvm_segment.size; i++) dv.setUint8(at + i, 0);
  dv.setBigUint64(at + SEG.base, u64(s.base, `${what}.base`), true);
  dv.setUint32(at + SEG.limit, uint(s.limit, 32, `${what}.limit`), true);
  dv.setUint16(at + SEG.selector, uint(s.selector, 16, `${what}.selector`), true);
  for (const k of SEG_BYTES) dv.setUint8(at + SEG[k], uint(s[k], 8, `${what}.${k}`));
}

const DT = LAYOUT.kvm_dtable.fields;

export function decodeDTable(dv: DataView, at: number): DTable {
  return { base: dv.getBigUint64(at + DT.base, true), limit: dv.getUint16(at + DT.limit, true) };
}

export function encodeDTable(dv: DataView, at: number, t: DTable, what: string): void {
  for (let i = 0; i < LAYOUT.kvm_dtable.size; i++) dv.setUint8(at + i, 0);
  dv.setBigUint64(at + DT.base, u64(t.base, `${what}.base`), true);
  dv.setUint16(at + DT.limit, uint(t.limit, 16, `${what}.limit`), true);
}

// ---- kvm_sregs

const SR = LAYOUT.kvm_sregs.fields;
const IRQ_WORDS = ARRAYS['kvm_sregs.interrupt_bitmap'];

export function decodeSregs(dv: DataView, at = 0): Sregs {
  const s = {} as Sregs;
  for (const n of SEGMENT_NAMES) s[n] = decodeSegment(dv, at + SR[n]);
  s.gdt = decodeDTable(dv, at + SR.gdt);
  s.idt = decodeDTable(dv, at + SR.idt);
  for (const n of CR_NAMES) s[n] = dv.getBigUint64(at + SR[n], true);
  s.interrupt_bitmap = [];
  for (let i = 0; i < IRQ_WORDS; i++) s.interrupt_bitmap.push(dv.getBigUint64(at + SR.interrupt_bitmap + i * 8, true));
  return s;
}

export function encodeSregs(dv: DataView, s: Sregs, at = 0): void {
  for (const n of SEGMENT_NAMES) encodeSegment(dv, at + SR[n], s[n], `sregs.${n}`);
  encodeDTable(dv, at + SR.gdt, s.gdt, 'sregs.gdt');
  encodeDTable(dv, at + SR.idt, s.idt, 'sregs.idt');
  for (const n of CR_NAMES) dv.setBigUint64(at + SR[n], u64(s[n], `sregs.${n}`), true);
  const bm = s.interrupt_bitmap ?? [];
  if (bm.length > IRQ_WORDS) throw new StructValueError(`sregs.interrupt_bitmap has ${bm.length} words, at most ${IRQ_WORDS}`);
  for (let i = 0; i < IRQ_WORDS; i++) {
    dv.setBigUint64(at + SR.interrupt_bitmap + i * 8, i < bm.length ? u64(bm[i], `sregs.interrupt_bitmap[${i}]`) : 0n, true);
  }
}

// ---- kvm_cpuid_entry2 (inside kvm_cpuid2)

const CE = LAYOUT.kvm_cpuid_entry2.fields;
const CPUID_REGS = ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const;

export function decodeCpuidEntry(dv: DataView, at: number): CpuidEntry {
  const e = {} as CpuidEntry;
  for (const k of CPUID_REGS) e[k] = dv.getUint32(at + CE[k], true);
  return e;
}

export function encodeCpuidEntry(dv: DataView, at: number, e: CpuidEntry, what: string): void {
  for (let i = 0; i < LAYOUT.kvm_cpuid_entry2.size; i++) dv.setUint8(at + i, 0);
  for (const k of CPUID_REGS) dv.setUint32(at + CE[k], uint(e[k], 32, `${what}.${k}`), true);
}

/** A kvm_cpuid2 buffer with room for `n` entries, nent = n. */
export function cpuid2Buffer(n: number): Buffer {
  const b = Buffer.alloc(LAYOUT.kvm_cpuid2.size + n * LAYOUT.kvm_cpuid_entry2.size);
  b.writeUInt32LE(n, LAYOUT.kvm_cpuid2.fields.nent);
  return b;
}

export function decodeCpuid2(b: Buffer): CpuidEntry[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = dv.getUint32(LAYOUT.kvm_cpuid2.fields.nent, true);
  const max = (b.byteLength - LAYOUT.kvm_cpuid2.fields.entries) / LAYOUT.kvm_cpuid_entry2.size;
  if (n > max) throw new StructValueError(`kvm_cpuid2.nent ${n} exceeds the buffer (${max} entries)`);
  const out: CpuidEntry[] = [];
  for (let i = 0; i < n; i++) out.push(decodeCpuidEntry(dv, LAYOUT.kvm_cpuid2.fields.entries + i * LAYOUT.kvm_cpuid_entry2.size));
  return out;
}

export function encodeCpuid2(entries: readonly CpuidEntry[]): Buffer {
  const b = cpuid2Buffer(entries.length);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  entries.forEach((e, i) => encodeCpuidEntry(dv, LAYOUT.kvm_cpuid2.fields.entries + i * LAYOUT.kvm_cpuid_entry2.size, e, `cpuid[${i}]`));
  return b;
}

// ---- kvm_msrs / kvm_msr_entry

const ME = LAYOUT.kvm_msr_entry.fields;

/** A kvm_msrs buffer for these entries (data ignored when `withData` is false). */
export function encodeMsrs(entries: readonly { index: number; data?: bigint }[], withData: boolean): Buffer {
  const b = Buffer.alloc(LAYOUT.kvm_msrs.size + entries.length * LAYOUT.kvm_msr_entry.size);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  dv.setUint32(LAYOUT.kvm_msrs.fields.nmsrs, entries.length, true);
  entries.forEach((e, i) => {
    const at = LAYOUT.kvm_msrs.fields.entries + i * LAYOUT.kvm_msr_entry.size;
    dv.setUint32(at + ME.index, uint(e.index, 32, `msrs[${i}].index`), true);
    if (withData) dv.setBigUint64(at + ME.data, u64(e.data, `msrs[${i}].data`), true);
  });
  return b;
}

/** The first `n` entries of a kvm_msrs buffer. */
export function decodeMsrs(b: Buffer, n: number): MsrEntry[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: MsrEntry[] = [];
  for (let i = 0; i < n; i++) {
    const at = LAYOUT.kvm_msrs.fields.entries + i * LAYOUT.kvm_msr_entry.size;
    out.push({ index: dv.getUint32(at + ME.index, true), data: dv.getBigUint64(at + ME.data, true) });
  }
  return out;
}

// ---- kvm_fpu (x87 + SSE state; FXSAVE-like)

export interface Fpu {
  /** 8 x87 registers, 16 bytes each (80-bit values, zero-padded) */
  fpr: Buffer;
  fcw: number;
  fsw: number;
  /** abridged tag word */
  ftwx: number;
  lastOpcode: number;
  lastIp: bigint;
  lastDp: bigint;
  /** 16 XMM registers, 16 bytes each */
  xmm: Buffer;
  /** written by KVM_SET_FPU; KVM_GET_FPU leaves it 0 (the kernel does not copy it out) */
  mxcsr: number;
}

const FPU = LAYOUT.kvm_fpu.fields;
const FPR_BYTES = FPU.fcw - FPU.fpr;
const XMM_BYTES = FPU.mxcsr - FPU.xmm;

export function decodeFpu(b: Buffer): Fpu {
  return {
    fpr: Buffer.from(b.subarray(FPU.fpr, FPU.fpr + FPR_BYTES)),
    fcw: b.readUInt16LE(FPU.fcw),
    fsw: b.readUInt16LE(FPU.fsw),
    ftwx: b.readUInt8(FPU.ftwx),
    lastOpcode: b.readUInt16LE(FPU.last_opcode),
    lastIp: b.readBigUInt64LE(FPU.last_ip),
    lastDp: b.readBigUInt64LE(FPU.last_dp),
    xmm: Buffer.from(b.subarray(FPU.xmm, FPU.xmm + XMM_BYTES)),
    mxcsr: b.readUInt32LE(FPU.mxcsr),
  };
}

export function encodeFpu(b: Buffer, f: Fpu): void {
  if (f.fpr.length !== FPR_BYTES) throw new StructValueError(`fpu.fpr must be ${FPR_BYTES} bytes, got ${f.fpr.length}`);
  if (f.xmm.length !== XMM_BYTES) throw new StructValueError(`fpu.xmm must be ${XMM_BYTES} bytes, got ${f.xmm.length}`);
  b.fill(0);
  b.set(f.fpr, FPU.fpr);
  b.writeUInt16LE(uint(f.fcw, 16, 'fpu.fcw'), FPU.fcw);
  b.writeUInt16LE(uint(f.fsw, 16, 'fpu.fsw'), FPU.fsw);
  b.writeUInt8(uint(f.ftwx, 8, 'fpu.ftwx'), FPU.ftwx);
  b.writeUInt16LE(uint(f.lastOpcode, 16, 'fpu.lastOpcode'), FPU.last_opcode);
  b.writeBigUInt64LE(u64(f.lastIp, 'fpu.lastIp'), FPU.last_ip);
  b.writeBigUInt64LE(u64(f.lastDp, 'fpu.lastDp'), FPU.last_dp);
  b.set(f.xmm, FPU.xmm);
  b.writeUInt32LE(uint(f.mxcsr, 32, 'fpu.mxcsr'), FPU.mxcsr);
}
