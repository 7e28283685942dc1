/**
 * The host<->guest ABI: every structure the host and the guest share in memory, declared
 * once (src/abi/struct.ts explains how) and checked against guest/include/ix by
 * test/abi-layout.test.ts.
 */
import { AppInfo, IxCall, IxEvent, IxSg } from './app.js';
import { AppSeg, BootInfo, CpuStatus } from './bootinfo.js';
import { Fault, Hcall } from './hypercall.js';
import { LogRing } from './logring.js';
import { NicArp, NicInfo, NicVq } from './nic.js';
import { CoreStats } from './stats.js';
import { XdpDesc, XskCtl, XskInfo, XskQueueInfo, XskRingInfo } from './xsk.js';
import * as xsk from './xsk.js';
import { MIG_CMD, MigrateCell } from './migrate.js';
import { VqAvailHdr, VqDesc, VqUsedElem, VqUsedHdr } from './virtio.js';
import type { StructDef } from './struct.js';
import * as app from './app.js';
import * as boot from './bootinfo.js';
import * as hc from './hypercall.js';
import * as log from './logring.js';
import * as nic from './nic.js';
import * as stats from './stats.js';


export * from './struct.js';
export * from './app.js';
export * from './bootinfo.js';
export * from './hypercall.js';
export * from './logring.js';
export * from './nic.js';
export * from './stats.js';
export * from './migrate.js';
export * from './virtio.js';
export * from './xsk.js';

/** The virtqueue's structs, declared by the guest's driver (guest/drivers/virtqueue.h). */
export const DRIVER_STRUCTS: readonly StructDef[] = [VqDesc, VqUsedElem, VqAvailHdr, VqUsedHdr];

/** Every struct shared with the guest in guest/include/ix, for the layout test. */
export const GUEST_STRUCTS: readonly StructDef[] = [
  BootInfo, AppSeg, CpuStatus, CoreStats, Hcall, Fault, LogRing, IxCall, IxEvent, IxSg, AppInfo, NicInfo, NicVq, NicArp, MigrateCell,
  XskInfo, XskQueueInfo, XskRingInfo, XskCtl, XdpDesc,
];
export * from './cells.js';

/** Every constant shared with the guest: [TypeScript value, C expression], for the layout test. */
export const GUEST_CONSTANTS: Record<string, [number | bigint, string]> = {
  BOOTINFO_MAGIC: [boot.BOOTINFO_MAGIC, 'IX_BOOTINFO_MAGIC'],
  BOOTINFO_VERSION: [boot.BOOTINFO_VERSION, 'IX_BOOTINFO_VERSION'],
  MAX_CPUS: [boot.MAX_CPUS, 'IX_MAX_CPUS'],
  MAX_APP_SEGS: [boot.MAX_APP_SEGS, 'IX_MAX_APP_SEGS'],
  APP_ARGS_MAX: [boot.APP_ARGS_MAX, 'IX_APP_ARGS_MAX'],
  KERNEL_BASE: [boot.KERNEL_BASE, 'IX_KERNEL_BASE'],
  KERNEL_PHYS: [boot.KERNEL_PHYS, 'IX_KERNEL_PHYS'],
  APP_VA_LIMIT: [boot.APP_VA_LIMIT, 'IX_APP_VA_LIMIT'],
  'PLATFORM.unknown': [boot.PLATFORM.unknown, 'IX_PLATFORM_UNKNOWN'],
  'PLATFORM.native': [boot.PLATFORM.native, 'IX_PLATFORM_NATIVE'],
  'PLATFORM.pvm': [boot.PLATFORM.pvm, 'IX_PLATFORM_PVM'],
  BOOT_SELFTEST_LOOP: [boot.BOOT_SELFTEST_LOOP, 'IX_BOOT_SELFTEST_LOOP'],
  BOOT_SELFTEST_SHORT: [boot.BOOT_SELFTEST_SHORT, 'IX_BOOT_SELFTEST_SHORT'],
  'CPU_STATE.off': [boot.CPU_STATE.off, 'IX_CPU_OFF'],
  'CPU_STATE.booting': [boot.CPU_STATE.booting, 'IX_CPU_BOOTING'],
  'CPU_STATE.running': [boot.CPU_STATE.running, 'IX_CPU_RUNNING'],
  'CPU_STATE.appDone': [boot.CPU_STATE.appDone, 'IX_CPU_APP_DONE'],
  'CPU_STATE.panic': [boot.CPU_STATE.panic, 'IX_CPU_PANIC'],
  VECTOR_RUNAWAY: [boot.VECTOR_RUNAWAY, 'IX_VECTOR_RUNAWAY'],
  IX_XSK_MAX_QUEUES: [xsk.IX_XSK_MAX_QUEUES, 'IX_XSK_MAX_QUEUES'],
  IX_XSK_CHUNK: [xsk.IX_XSK_CHUNK, 'IX_XSK_CHUNK'],
  IX_XSK_HEADROOM: [xsk.IX_XSK_HEADROOM, 'IX_XSK_HEADROOM'],
  'WAKE.user': [boot.WAKE.user, 'IX_WAKE_USER'],
  'WAKE.kernel': [boot.WAKE.kernel, 'IX_WAKE_KERNEL'],
  VECTOR_WAKE_NIC: [boot.VECTOR_WAKE_NIC, 'IX_VECTOR_WAKE_NIC'],
  VECTOR_WAKE_TIMER: [boot.VECTOR_WAKE_TIMER, 'IX_VECTOR_WAKE_TIMER'],
  VECTOR_SPURIOUS: [boot.VECTOR_SPURIOUS, 'IX_VECTOR_SPURIOUS'],
  FAULT_RUNAWAY: [hc.FAULT_RUNAWAY, 'IX_FAULT_RUNAWAY'],
  HC_PORT: [hc.HC_PORT, 'IX_HC_PORT'],
  'HC.appExit': [hc.HC.appExit, 'IX_HC_APP_EXIT'],
  'HC.appFault': [hc.HC.appFault, 'IX_HC_APP_FAULT'],
  'HC.panic': [hc.HC.panic, 'IX_HC_PANIC'],
  'HC.logKick': [hc.HC.logKick, 'IX_HC_LOG_KICK'],
  'HC.idle': [hc.HC.idle, 'IX_HC_IDLE'],
  'FAULT_REG_NAMES.length': [hc.FAULT_REG_NAMES.length, 'IX_NREGS'],
  'FAULT_REG_NAMES.rip': [hc.FAULT_REG_NAMES.indexOf('rip'), 'IX_REG_RIP'],
  'FAULT_REG_NAMES.r8': [hc.FAULT_REG_NAMES.indexOf('r8'), 'IX_REG_R8'],
  LOGRING_HDR: [log.LOGRING_HDR, 'IX_LOGRING_HDR'],
  STATS_BATCH_BUCKETS: [stats.STATS_BATCH_BUCKETS, 'IX_STATS_BATCH_BUCKETS'],
  IX_NIC_MAX_QUEUES: [nic.IX_NIC_MAX_QUEUES, 'IX_NIC_MAX_QUEUES'],
  IX_RSS_KEY_LEN: [nic.IX_RSS_KEY_LEN, 'IX_RSS_KEY_LEN'],
  IX_RETA_MAX: [nic.IX_RETA_MAX, 'IX_RETA_MAX'],
  IX_NIC_ARP_MAX: [nic.IX_NIC_ARP_MAX, 'IX_NIC_ARP_MAX'],
  IX_NIC_ARP_PAGE: [nic.IX_NIC_ARP_PAGE, 'IX_NIC_ARP_PAGE'],
  'AppInfo.size': [app.AppInfo.size, 'sizeof(struct ix_app_info)'],
  'MIG_CMD.hold': [MIG_CMD.hold, 'IX_MIG_HOLD'],
  'MIG_CMD.count': [MIG_CMD.count, 'IX_MIG_COUNT'],
  'MIG_CMD.export': [MIG_CMD.export, 'IX_MIG_EXPORT'],
  'MIG_CMD.import': [MIG_CMD.import, 'IX_MIG_IMPORT'],
  'MIG_CMD.release': [MIG_CMD.release, 'IX_MIG_RELEASE'],
  'MIG_CMD.cancel': [MIG_CMD.cancel, 'IX_MIG_CANCEL'],
};
