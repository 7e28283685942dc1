/** Messages between the VMM's main thread and its vCPU worker threads. */

export interface VcpuWorkerData {
  cpu: number;
  vmFd: number;
  /** in-kernel wake-ups: the VM has an irqchip, so interrupts go as MSIs, never KVM_INTERRUPT */
  kernelWake: boolean;
  vcpuFd: number;
  vcpuMmapSize: number;
  memBase: number; // host address of guest-physical 0
  memSize: number;
  pinCpu: number | null;
  /** scheduler slice to ask for (libc.setThreadSlice), µs; 0: the kernel's default */
  sliceUs: number;
  /** Int32 cells shared with the main thread (src/abi/cells.ts VCPU_CTRL) */
  control: SharedArrayBuffer;
  /** Float64 exit counters (src/abi/cells.ts VCPU_EXIT_REASONS), written by the worker only */
  exits: SharedArrayBuffer;
  /** the NIC queue pair of this vCPU, if any */
  nic: null | {
    wakeCounters: SharedArrayBuffer;
    rx: { desc: bigint; avail: bigint; used: bigint; size: number };
    kickFd: number;
    notifyPort: number;
    /** xdp_rings "guest": host addresses of this queue's AF_XDP RX producer and consumer words */
    xskRx?: { producer: number; consumer: number };
  };
}

export interface FaultReport {
  kind: number;
  vector: number;
  errorCode: string; // hex
  addr: string; // hex
  regs: Record<string, string>; // name -> hex
  tsc: string; // hex: the kernel's TSC when it took the fault
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
  | { type: 'refused'; cpu: number; message: string }
  /** shutdown: the vCPU triple-faulted (KVM_EXIT_SHUTDOWN) */
  | { type: 'crash'; cpu: number; reason: string; regs: Record<string, string> | null; shutdown?: boolean }
  | { type: 'bad-exit'; cpu: number; what: string };
