/**
 * `ix check`'s probe boot: start the hello app on one core with a short self-test loop
 * (1e8 iterations) and give it one second. A kernel that reached native execution finishes
 * in tens of milliseconds; one stuck in PVM's emulated mode (~1e6 instructions/s) cannot.
 */
import { performance } from 'node:perf_hooks';
import { Machine } from '../vmm/machine.js';
import { KERNEL_ELF, appElf } from './paths.js';

export interface ProbeResult {
  platform: string;
  native: boolean;
  ms: number;
  /** what protection = "auto" resolved to on this platform */
  protection: string;
}

export async function probeBoot(timeoutMs = 1000): Promise<ProbeResult> {
  const t0 = performance.now();
  const m = new Machine({
    kernelPath: KERNEL_ELF,
    appPath: appElf('hello'),
    appArgs: ['probe'],
    ncpus: 1,
    pinCpus: null,
    memBytes: 32 << 20,
    batch: 64,
    idlePollUs: 0,
    protection: 'auto',
    selftest: 'short',
  });
  await m.start();
  const timer = setTimeout(() => void m.stop('probe boot timed out'), timeoutMs);
  const res = await m.wait();
  clearTimeout(timer);
  const ms = performance.now() - t0;
  const r = m.cpuReports()[0];
  const iters = Number(r?.selftestIters ?? 0n);
  const secs = m.tscKhz && r ? Number(r.selftestCycles) / m.tscKhz / 1000 : 0;
  // native execution runs this loop at >1e9 iterations/s; emulation at ~1e6
  const native = res.exitCode === 0 && iters > 0 && secs > 0 && iters / secs > 1e8;
  return { platform: r?.platform ?? 'unknown', native, ms: Math.round(ms * 10) / 10, protection: r?.protection ?? 'unknown' };
}
