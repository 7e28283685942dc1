/**
 * TypeScript mirror of the guest ABI headers in guest/include/ix/ (bootinfo.h, hypercall.h,
 * logring.h, app.h, abi.h). Offsets are written out here once; test/bootinfo-layout.test.ts
 * compiles the C headers and checks every number below against sizeof/offsetof.
 */

export const BOOTINFO_MAGIC = 0x4f464e49544f4f42n;
export const BOOTINFO_VERSION = 1;
export const MAX_CPUS = 16;
export const MAX_APP_SEGS = 8;
export const APP_ARGS_MAX = 1024;
export const KERNEL_BASE = 0x0000400000000000n;
export const KERNEL_PHYS = 0x100000;
export const HC_PORT = 0x1e0;

export const PLATFORM = { unknown: 0, native: 1, pvm: 2 } as const;
export const PLATFORM_NAMES: Record<number, string> = { 0: 'unknown', 1: 'native', 2: 'pvm' };
export const BOOT_SELFTEST_LOOP = 1;
export const BOOT_SELFTEST_SHORT = 2;

export const CPU_STATE = { off: 0, booting: 1, running: 2, appDone: 3, panic: 4 } as const;

export const BootInfo = {
  size: 9008,
  magic: 0, version: 8, sizeField: 12, memSize: 16, kernelPhysEnd: 24, freePhysStart: 32,
  freePhysEnd: 40, pgdPhys: 48, tscKhz: 56, ncpus: 64, flags: 68, batch: 72, idlePollUs: 76,
  protection: 80, hcPort: 84, appEntry: 88, appNsegs: 96, appArgc: 100, appSegs: 104,
  appStackSize: 424, appHeapSize: 432, appArgsLen: 440, appArgs: 448, logRingPhys: 1472,
  logRingSize: 1480, cpu: 1488, nic: 3408, stats: 5544, appSharedSize: 9000,
} as const;

export const AppSeg = { size: 40, vaddr: 0, paddr: 8, filesz: 16, memsz: 24, flags: 32 } as const;

export const CpuStatus = {
  size: 120, state: 0, platform: 4, tscKernelEntry: 8, tscNative: 16, tscAppEntry: 24,
  selftestCycles: 32, selftestIters: 40, bpollCalls: 48, callsExecuted: 56, logDropped: 64,
  haltTimeoutUs: 72, halts: 80,
} as const;

export const HC = { appExit: 1, appFault: 2, panic: 3, logKick: 4, idle: 5 } as const;

export const Hcall = { size: 192, nr: 0, cpu: 4, a0: 8, a1: 16, fault: 24 } as const;
export const Fault = { size: 168, kind: 0, vector: 4, errorCode: 8, addr: 16, regs: 24 } as const;
export const FAULT_KINDS: Record<number, string> = {
  1: 'page fault',
  2: 'invalid instruction',
  3: 'general protection fault',
  4: 'bad call array',
  5: 'exception',
  6: 'divide error',
};
export const REG_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const;

export const LogRing = { hdr: 32, head: 0, tail: 8, size: 12, dropped: 16, data: 32 } as const;

/** guest/include/ix/abi.h: one batched call and one event (40 bytes each). */
export const IxCall = { size: 40, op: 0, flags: 2, err: 4, a0: 8, a1: 16, a2: 24, ret: 32 } as const;
export const IxEvent = { size: 40, type: 0, flags: 4, cookie: 8, a0: 16, a1: 24, a2: 32 } as const;

/** guest/include/ix/app.h */
export const AppInfo = {
  size: 96, cpu: 0, ncpus: 4, calls: 8, callsMax: 16, eventsMax: 20, events: 24, heap: 32,
  heapSize: 40, tscKhz: 48, argc: 56, argv: 64, bpollDirect: 72, shared: 80, sharedSize: 88,
} as const;

/** guest/include/ix/stats.h: per-core dataplane counters in boot info (stats[cpu]). */
export const STATS_BATCH_BUCKETS = 8;
export const CoreStats = {
  size: 216, rxFrames: 0, txFrames: 8, rxBytes: 16, txBytes: 24, loops: 32, rxBatches: 40,
  bpolls: 104, calls: 112, events: 120, drops: 128, tcpConns: 136, busyCycles: 144,
  idleCycles: 152, halts: 160, tsc: 168,
} as const;
