/**
 * Cells the VMM's threads share (SharedArrayBuffers between the main thread and each vCPU
 * worker; the guest never sees them): per-vCPU control words, and per-vCPU counters of the
 * returns from KVM_RUN by reason, written by the worker only.
 */

/** Int32 control cells: control[cpu * VCPU_CTRL.cells + VCPU_CTRL.x] */
export const VCPU_CTRL = {
  /** main -> worker: leave the run loop */
  stop: 0,
  /** main bumps it after draining logs (wakes a worker waiting on a log kick) */
  logSeq: 1,
  /** worker -> main: its kernel thread id (for the kick signal) */
  tid: 2,
  /** main -> worker: 1 = the app has run past [app] max_run_ms: inject the runaway interrupt
   * (the worker takes it with Atomics.exchange after the kick) */
  runaway: 3,
  /** main -> worker: the low 32 bits of the app_since stamp the main thread saw (written
   * before `runaway`): the worker injects only if the app is still in that same run */
  runawayStamp: 4,
  cells: 8,
} as const;

/**
 * Why KVM_RUN returned to a vCPU's worker. Each return costs 25-38 us on PVM hosts
 * (docs/pvm.md), so these say where guest time goes that its own counters cannot see.
 */
export const VCPU_EXIT_REASONS = [
  'total', // every return from KVM_RUN, EINTR included
  'hypercall', // port I/O hypercalls (log kick, idle, app exit/fault, panic)
  'kick', // NIC notifications forwarded by the worker (the guest kicked a sleeping backend)
  'halt', // HLT: an idle core waiting for a frame or its next timer
  'runaway', // runaway interrupts injected ([app] max_run_ms): not a return, an injection
] as const;
export type VcpuExitReason = (typeof VCPU_EXIT_REASONS)[number];
export type VcpuExitCounts = Record<VcpuExitReason, number>;
/** Float64 cells per vCPU: exits[cpu * VCPU_EXIT_CELLS + VCPU_EXIT_REASONS.indexOf(reason)] */
export const VCPU_EXIT_CELLS = 5;

export function exitCell(cpu: number, reason: VcpuExitReason): number {
  return cpu * VCPU_EXIT_CELLS + VCPU_EXIT_REASONS.indexOf(reason);
}

export function readVcpuExits(exits: Float64Array, cpu: number): VcpuExitCounts {
  const out = {} as VcpuExitCounts;
  for (const r of VCPU_EXIT_REASONS) out[r] = exits[exitCell(cpu, r)] ?? 0;
  return out;
}
