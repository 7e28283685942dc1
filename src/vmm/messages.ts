/** Messages between the VMM's main thread and its vCPU worker threads. */

export interface VcpuWorkerData {
  cpu: number;
  vmFd: number;
  vcpuFd: number;
  vcpuMmapSize: number;
  memBase: number; // host address of guest-physical 0
  memSize: number;
  pinCpu: number | null;
  /** Int32 cells shared with the main thread, see CTRL_* */
  control: SharedArrayBuffer;
  /** Float64 exit counters, EXIT_CELLS per vCPU (see EXIT_*), written by the worker only */
  exits: SharedArrayBuffer;
  /** the NIC queue pair of this vCPU, if any */
  nic: null | {
    wakeCounters: SharedArrayBuffer;
    rx: { desc: bigint; avail: bigint; used: bigint; size: number };
    kickFd: number;
    notifyPort: number;
  };
}

/** control[cpu*4 + CTRL_x] */
export const CTRL_STOP = 0; // main -> worker: leave the run loop
export const CTRL_LOG_SEQ = 1; // main bumps it after draining logs (wakes a worker waiting on a kick)
export const CTRL_TID = 2; // worker -> main: its kernel thread id (for the kick signal)
export const CTRL_CELLS = 4;

/**
 * exits[cpu*EXIT_CELLS + EXIT_x]: how often KVM_RUN returned to this vCPU's worker, by
 * reason. Each return costs 25-38 us on PVM (PVM.md §6), so these say where guest time
 * goes that its own counters cannot see.
 */
export const EXIT_TOTAL = 0; // every return from KVM_RUN, EINTR included
export const EXIT_HYPERCALL = 1; // port I/O hypercalls (log kick, idle, app exit/fault, panic)
export const EXIT_KICK = 2; // NIC notifications: the guest kicked a sleeping backend
export const EXIT_HALT = 3; // HLT: an idle core waiting for a frame or its next timer
export const EXIT_CELLS = 4;

export interface FaultReport {
  kind: number;
  vector: number;
  errorCode: string; // hex
  addr: string; // hex
  regs: Record<string, string>; // name -> hex
}

export type WorkerMessage =
  | { type: 'loaded' }
  | { type: 'started'; cpu: number; tid: number; firstRunWallMs: number; affinity: number[] }
  | { type: 'app-exit'; cpu: number; status: number }
  | { type: 'app-fault'; cpu: number; fault: FaultReport }
  | { type: 'panic'; cpu: number; message: string }
  | { type: 'log-kick'; cpu: number }
  | { type: 'halted'; cpu: number }
  | { type: 'stopped'; cpu: number }
  | { type: 'crash'; cpu: number; reason: string; regs: Record<string, string> | null }
  | { type: 'bad-exit'; cpu: number; what: string };
