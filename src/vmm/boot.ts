/**
 * Lays out guest-physical memory and fills it before the first KVM_RUN: the kernel and app
 * images, the boot page table (a direct map of all guest memory), the log rings and the
 * boot info page (docs/guest-kernel.md). Pure functions over a byte view of guest memory, so they are
 * testable without /dev/kvm.
 *
 * Guest-physical layout:
 *   0x0000_1000  boot info (2 pages)
 *   0x0001_0000  boot page tables (PML4, PDPT, one PD per GiB)
 *   0x0004_0000  log rings, one per CPU (LOG_RING_SIZE each)
 *   0x0010_0000  kernel image (its PT_LOAD segments, by physical address)
 *   after it     app image (each PT_LOAD segment page aligned)
 *   after it     free: the guest's page allocator (page tables, app instances, stacks).
 *                It must be zero: the guest allocator relies on it (fresh anonymous memory).
 */
import {
  APP_ARGS_MAX, AppSeg, BOOTINFO_MAGIC, BOOTINFO_VERSION, BootInfo, HC_PORT, KERNEL_BASE, KERNEL_PHYS, LogRing,
  MAX_APP_SEGS, MAX_CPUS, PROTECTION, writeStruct, type ProtectionMode, type WriteValue,
} from '../abi/index.js';
import type { ElfImage } from './elf.js';
import { randomBytes } from 'node:crypto';

/** 32 bytes of the host's CSPRNG for ix_bootinfo.entropy: new for every boot. */
export function bootEntropy(): bigint[] {
  const b = randomBytes(32);
  return [0, 1, 2, 3].map((i) => b.readBigUInt64LE(i * 8));
}

export const BOOTINFO_GPA = 0x1000;
export const PGD_GPA = 0x10000;
export const PGD_LIMIT = 0x40000;
export const LOG_RINGS_GPA = 0x40000;
export const LOG_RING_SIZE = 0x4000; // stride per CPU
export const LOG_RING_DATA = 0x2000; // data bytes (a power of two)
const PAGE = 4096;
const GIB = 1 << 30;
const MIB2 = 2 << 20;

export class BootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BootError';
  }
}

export interface BootParams {
  memBytes: number;
  ncpus: number;
  tscKhz: number;
  batch: number;
  idlePollUs: number;
  protection: ProtectionMode;
  flags: number;
  appArgs: string[];
  appStackSize: number;
  appHeapSize: number;
  /** memory shared by every core's app instance (0: none) */
  appSharedSize?: number;
  /** [app] max_run_ms (0: no runaway watchdog) */
  maxRunMs?: number;
  /** TCP connections per dataplane core (0 or absent: the guest's default) */
  tcpMaxConns?: number;
  /** how an idle core is woken (WAKE.*; absent: user space) */
  wake?: number;
  /** bytes to set aside after the images for the host (NIC rings), not given to the guest allocator */
  reserveBytes?: number;
  /** a window above RAM the direct map also covers (the AF_XDP ring slots, xskWindow()) */
  extraWindow?: { start: number; size: number };
}

/** Where the AF_XDP ring memory slots go: the 2 MiB right after RAM (rounded up), in the direct map. */
export function xskWindow(memBytes: number): { start: number; size: number } {
  return { start: alignUp(memBytes, MIB2), size: MIB2 };
}

export interface BootPlan {
  entry: bigint;
  kernelPhysEnd: number;
  freeStart: number;
  freeEnd: number;
  /** the range set aside by reserveBytes */
  reserved: { start: number; end: number };
}

/** A view of the boot info page inside a view of guest memory. */
export function bootInfoView(mem: DataView): DataView {
  return new DataView(mem.buffer, mem.byteOffset + BOOTINFO_GPA, BootInfo.size);
}

const alignUp = (v: number, a: number) => Math.ceil(v / a) * a;

/** Build the boot page table: PML4 slot 128 -> the direct map of all memory with 2 MiB pages.
 * U=1 at every level: on PVM hosts the kernel itself runs with CPL 3 in hardware and cannot
 * touch a U=0 page (docs/pvm.md); apps never run on this table, so it exposes nothing. */
export function buildBootPageTable(mem: DataView, memBytes: number, extra?: { start: number; size: number }): void {
  const P = 1n, W = 2n, U = 4n, PS = 0x80n;
  if (extra && (extra.start % MIB2 !== 0 || extra.size % MIB2 !== 0 || extra.start < memBytes))
    throw new BootError(`the extra window at 0x${extra.start.toString(16)} (${extra.size} bytes) must be 2 MiB aligned and above guest memory`);
  const mapped = (pa: number): boolean => pa < memBytes || (extra !== undefined && pa >= extra.start && pa < extra.start + extra.size);
  const top = extra ? Math.max(memBytes, extra.start + extra.size) : memBytes;
  const gibs = Math.ceil(top / GIB);
  const pml4 = PGD_GPA;
  const pdpt = PGD_GPA + PAGE;
  const pd0 = PGD_GPA + 2 * PAGE;
  if (pd0 + gibs * PAGE > PGD_LIMIT) throw new BootError(`guest memory ${memBytes} bytes is too large for the boot page table`);
  new Uint8Array(mem.buffer, mem.byteOffset + PGD_GPA, PGD_LIMIT - PGD_GPA).fill(0);
  const slot = Number((KERNEL_BASE >> 39n) & 511n);
  mem.setBigUint64(pml4 + slot * 8, BigInt(pdpt) | P | W | U, true);
  for (let g = 0; g < gibs; g++) {
    const pd = pd0 + g * PAGE;
    mem.setBigUint64(pdpt + g * 8, BigInt(pd) | P | W | U, true);
    for (let i = 0; i < 512; i++) {
      const pa = g * GIB + i * MIB2;
      if (!mapped(pa)) continue;
      mem.setBigUint64(pd + i * 8, BigInt(pa) | P | W | U | PS, true);
    }
  }
}

function loadSegmentsByPaddr(u8: Uint8Array, img: ElfImage, memBytes: number): number {
  let end = 0;
  for (const s of img.segments) {
    const pa = Number(s.paddr);
    if (pa < KERNEL_PHYS || pa + s.memsz > memBytes)
      throw new BootError(`${img.path}: segment at physical 0x${pa.toString(16)} does not fit ${memBytes} bytes of guest memory`);
    u8.set(img.data.subarray(s.offset, s.offset + s.filesz), pa);
    u8.fill(0, pa + s.filesz, pa + s.memsz);
    end = Math.max(end, pa + s.memsz);
  }
  return alignUp(end, PAGE);
}

type BootInfoValue = WriteValue<typeof BootInfo>;

/** Place the app's segments at page-aligned physical addresses from `at`; describe them in `bi`. */
function loadApp(bi: BootInfoValue, u8: Uint8Array, app: ElfImage, at: number, memBytes: number): number {
  if (app.segments.length > MAX_APP_SEGS) throw new BootError(`${app.path}: ${app.segments.length} loadable segments; at most ${MAX_APP_SEGS}`);
  let pa = at;
  let prevEnd = 0n;
  const segs: WriteValue<typeof AppSeg>[] = [];
  const sorted = [...app.segments].sort((a, b) => (a.vaddr < b.vaddr ? -1 : 1));
  sorted.forEach((s, i) => {
    const lead = Number(s.vaddr % BigInt(PAGE));
    const vaddr = s.vaddr - BigInt(lead);
    if (vaddr < prevEnd) throw new BootError(`${app.path}: segments share a page at 0x${vaddr.toString(16)}; link apps with guest/libix/app.ld`);
    if (s.vaddr + BigInt(s.memsz) > 0x7f00000000n - 0x1000000n || vaddr < 0x1000n)
      throw new BootError(`${app.path}: segment at 0x${s.vaddr.toString(16)} is outside the app address range`);
    const filesz = lead + s.filesz;
    const memsz = alignUp(lead + s.memsz, PAGE);
    if (pa + alignUp(filesz, PAGE) > memBytes) throw new BootError(`${app.path} does not fit in guest memory; raise \`memory\``);
    u8.fill(0, pa, pa + alignUp(filesz, PAGE));
    u8.set(app.data.subarray(s.offset, s.offset + s.filesz), pa + lead);
    segs.push({ vaddr, paddr: pa, filesz, memsz, flags: s.flags });
    pa += alignUp(filesz, PAGE);
    prevEnd = vaddr + BigInt(memsz);
  });
  bi.appSegs = segs;
  bi.appEntry = app.entry;
  bi.appNsegs = sorted.length;
  return pa;
}

function packArgs(args: string[]): BootInfoValue {
  const bytes = Buffer.concat(args.map((a) => Buffer.from(`${a}\0`, 'utf8')));
  if (bytes.length > APP_ARGS_MAX || args.length > 64)
    throw new BootError(`app arguments take ${bytes.length} bytes (${args.length} args); at most ${APP_ARGS_MAX} bytes and 64 args`);
  return { appArgs: bytes, appArgc: args.length, appArgsLen: bytes.length };
}

/** Fill guest memory for boot. `mem`/`u8` view guest-physical 0..memBytes. */
export function prepareGuest(mem: DataView, u8: Uint8Array, kernel: ElfImage, app: ElfImage, p: BootParams): BootPlan {
  if (p.ncpus < 1 || p.ncpus > MAX_CPUS) throw new BootError(`${p.ncpus} cores requested; 1..${MAX_CPUS} are supported`);
  if (kernel.entry < KERNEL_BASE) throw new BootError(`${kernel.path}: entry 0x${kernel.entry.toString(16)} is not a kernel address`);
  u8.fill(0, 0, KERNEL_PHYS);
  buildBootPageTable(mem, p.memBytes, p.extraWindow);
  const kernelEnd = loadSegmentsByPaddr(u8, kernel, p.memBytes);
  const bi: BootInfoValue = {};
  const appEnd = loadApp(bi, u8, app, kernelEnd, p.memBytes);
  const reserved = { start: alignUp(appEnd, PAGE), end: alignUp(appEnd, PAGE) + alignUp(p.reserveBytes ?? 0, PAGE) };
  const freeStart = alignUp(reserved.end, 2 * PAGE);
  if (freeStart + (4 << 20) > p.memBytes) throw new BootError(`guest memory (${p.memBytes} bytes) leaves less than 4 MiB free after the images; raise \`memory\``);

  writeStruct(BootInfo, mem, BOOTINFO_GPA, {
    ...bi,
    ...packArgs(p.appArgs),
    magic: BOOTINFO_MAGIC,
    version: BOOTINFO_VERSION,
    size: BootInfo.size,
    memSize: p.memBytes,
    kernelPhysEnd: kernelEnd,
    freePhysStart: freeStart,
    freePhysEnd: p.memBytes,
    pgdPhys: PGD_GPA,
    tscKhz: p.tscKhz,
    ncpus: p.ncpus,
    flags: p.flags,
    batch: p.batch,
    idlePollUs: p.idlePollUs,
    protection: PROTECTION[p.protection],
    hcPort: HC_PORT,
    appStackSize: p.appStackSize,
    appHeapSize: p.appHeapSize,
    appSharedSize: p.appSharedSize ?? 0,
    maxRunMs: p.maxRunMs ?? 0,
    tcpMaxConns: p.tcpMaxConns ?? 0,
    wake: p.wake ?? 0,
    // a fresh secret per boot (the guest's ISN/SYN cookie key where it has no RDSEED/RDRAND)
    entropy: bootEntropy(),
    // the wall clock for the guest's apps (ix_app_info.unix_ms): the guest has no other
    unixMs: Date.now(),
    logRingPhys: LOG_RINGS_GPA,
    logRingSize: LOG_RING_SIZE,
  });
  for (let c = 0; c < MAX_CPUS; c++) {
    const r = LOG_RINGS_GPA + c * LOG_RING_SIZE;
    writeStruct(LogRing, mem, r, { size: LOG_RING_DATA });
  }
  return { entry: kernel.entry, kernelPhysEnd: kernelEnd, freeStart, freeEnd: p.memBytes, reserved };
}
