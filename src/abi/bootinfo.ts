/**
 * guest/include/ix/bootinfo.h: the boot info page the host fills before the first KVM_RUN
 * (its guest-physical address goes to every vCPU in %rdi) and the per-CPU status the guest
 * writes back, read by the host without exits.
 */
import { array, bytes, defineStruct, nested, nestedArray, u32, u64 } from './struct.js';
import { NicInfo } from './nic.js';
import { MigrateCell } from './migrate.js';
import { CoreStats } from './stats.js';

export const BOOTINFO_MAGIC = 0x4f464e49544f4f42n; // "BOOTINFO"
export const BOOTINFO_VERSION = 1;
export const MAX_CPUS = 16;
export const MAX_APP_SEGS = 8;
export const APP_ARGS_MAX = 1024;
/** the kernel direct-maps guest-physical memory here (lower canonical half: PVM runs guests there) */
export const KERNEL_BASE = 0x0000400000000000n;
/** the app lives below this address (PML4 slot 0); the kernel and its entry code above */
export const APP_VA_LIMIT = 0x0000008000000000n;
/** the kernel image is loaded at 1 MiB */
export const KERNEL_PHYS = 0x100000;

export const PLATFORM = { unknown: 0, native: 1, pvm: 2 } as const;
export const PLATFORM_NAMES: Record<number, string> = { 0: 'unknown', 1: 'native', 2: 'pvm' };
export const BOOT_SELFTEST_LOOP = 1;
export const BOOT_SELFTEST_SHORT = 2;
export const CPU_STATE = { off: 0, booting: 1, running: 2, appDone: 3, panic: 4 } as const;
/** bootinfo.protection (as configured) and ix_cpu_status.protection (as enforced): IX_PROT_* */
export const PROTECTION = { 'page-tables': 0, none: 1, 'pvm-host-switch': 2, 'shared-page-table': 3, auto: 4 } as const;
/** the vector the VMM injects to stop an app that ran [app] max_run_ms without returning */
export const VECTOR_RUNAWAY = 32;
/** bootinfo.wake: how an idle core is woken (IX_WAKE_*, docs/wake.md) */
export const WAKE = { user: 0, kernel: 1 } as const;
/** the MSI vector of a NIC queue's irqfd, and the guest's own LAPIC timer vector */
export const VECTOR_WAKE_NIC = 33;
export const VECTOR_WAKE_TIMER = 34;
export const VECTOR_SPURIOUS = 47;
export type ProtectionMode = keyof typeof PROTECTION;
export const PROTECTION_NAMES: Record<number, ProtectionMode> = Object.fromEntries(Object.entries(PROTECTION).map(([k, v]) => [v, k as ProtectionMode]));

/** One loadable segment of the app, placed by the host in guest-physical memory. */
export const AppSeg = defineStruct('ix_app_seg', 40, {
  vaddr: u64(0), paddr: u64(8), filesz: u64(16), memsz: u64(24), flags: u32(32),
});

/** Per-CPU status the guest writes for the host (polled; no exits). */
export const CpuStatus = defineStruct('ix_cpu_status', 120, {
  state: u32(0), platform: u32(4), tscKernelEntry: u64(8), tscNative: u64(16), tscAppEntry: u64(24),
  selftestCycles: u64(32), selftestIters: u64(40), bpollCalls: u64(48), callsExecuted: u64(56),
  logDropped: u64(64), haltTimeoutUs: u64(72), halts: u64(80), protection: u32(88), appSince: u64(96),
  irqNic: u64(104), irqTimer: u64(112),
});

export const BootInfo = defineStruct('ix_bootinfo', 11496, {
  magic: u64(0), version: u32(8), size: u32(12), memSize: u64(16), kernelPhysEnd: u64(24),
  freePhysStart: u64(32), freePhysEnd: u64(40), pgdPhys: u64(48), tscKhz: u64(56), ncpus: u32(64),
  flags: u32(68), batch: u32(72), idlePollUs: u32(76), protection: u32(80), hcPort: u32(84),
  appEntry: u64(88), appNsegs: u32(96), appArgc: u32(100), appSegs: nestedArray(104, AppSeg, MAX_APP_SEGS),
  appStackSize: u64(424), appHeapSize: u64(432), appArgsLen: u32(440), maxRunMs: u32(444), appArgs: bytes(448, APP_ARGS_MAX),
  logRingPhys: u64(1472), logRingSize: u64(1480), cpu: nestedArray(1488, CpuStatus, MAX_CPUS),
  nic: nested(3408, NicInfo), stats: nestedArray(5544, CoreStats, MAX_CPUS), appSharedSize: u64(9896),
  entropy: array('u64', 9904, 4), unixMs: u64(9936), tcpMaxConns: u32(9944), wake: u32(9948),
  migrate: nestedArray(9952, MigrateCell, MAX_CPUS), xskInfoPhys: u64(11488),
});
