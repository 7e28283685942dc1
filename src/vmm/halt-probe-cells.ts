/** The cells shared by halt-probe.ts and its vCPU thread (halt-probe-worker.ts). */

/** Int32 cell indices. */
export const PROBE = {
  tid: 0,
  stop: 1,
  done: 2,
  failed: 3,
  exits: 4,
  hltExits: 5,
  /** OUTs to REPORT_PORT: the guest's interrupt handler ran */
  reports: 6,
  /** mode 'user': bumped by the main thread to wake the vCPU thread */
  doorbell: 7,
  doorbellSeen: 8,
  count: 9,
} as const;

/** The port the probe guest's interrupt handler writes to. */
export const REPORT_PORT = 0x12;

export interface ProbeWorkerData {
  vcpuFd: number;
  mmapSize: number;
  control: SharedArrayBuffer;
  /** BigInt64 CLOCK_MONOTONIC ns of each report, by report number */
  stamps: SharedArrayBuffer;
  /** today's path: wait for the doorbell in user space on KVM_EXIT_HLT, then KVM_INTERRUPT */
  userWake: boolean;
  vector: number;
}
