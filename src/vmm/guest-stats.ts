/**
 * Decoding what the guest reports in shared memory, read without exits: each CPU's status
 * (struct ix_cpu_status) and its dataplane counters (struct ix_core_stats), plus the host's
 * own count of each vCPU's exits. A counter may be mid-update while it is read; that only
 * matters within one sample.
 */
import {
  BootInfo, CoreStats, CpuStatus, PLATFORM_NAMES, readStruct, readVcpuExits,
  type CoreStatsValue, type StructValue, type VcpuExitCounts,
} from '../abi/index.js';
import { BOOTINFO_GPA } from './boot.js';

export type CpuReport = Omit<StructValue<typeof CpuStatus>, 'platform'> & {
  cpu: number;
  /** the platform the guest detected on this CPU: 'pvm', 'native' or 'unknown' */
  platform: string;
  /** dataplane counters (zero without a NIC) */
  stats: CoreStatsValue;
};

/** One core's dataplane counters and its vCPU's exits (host side). */
export type CoreStatsSample = CoreStatsValue & { cpu: number; exits: VcpuExitCounts };

const statusGpa = (cpu: number): number => BOOTINFO_GPA + BootInfo.at.cpu + cpu * CpuStatus.size;
const statsGpa = (cpu: number): number => BOOTINFO_GPA + BootInfo.at.stats + cpu * CoreStats.size;

/** Per-CPU status and counters the guest wrote into boot info. */
export function readCpuReports(mem: DataView, ncpus: number): CpuReport[] {
  return Array.from({ length: ncpus }, (_, cpu) => {
    const s = readStruct(CpuStatus, mem, statusGpa(cpu));
    return { ...s, cpu, platform: PLATFORM_NAMES[s.platform] ?? 'unknown', stats: readStruct(CoreStats, mem, statsGpa(cpu)) };
  });
}

/** Per-core dataplane counters with the host's exit counts. */
export function readCoreStats(mem: DataView, exits: Float64Array, ncpus: number): CoreStatsSample[] {
  return Array.from({ length: ncpus }, (_, cpu) => ({ ...readStruct(CoreStats, mem, statsGpa(cpu)), cpu, exits: readVcpuExits(exits, cpu) }));
}
