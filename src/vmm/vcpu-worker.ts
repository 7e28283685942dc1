/**
 * One vCPU: a worker thread running KVM_RUN in a loop and handling its exits (docs/architecture.md).
 * Hypercalls arrive as port I/O; every value read from the guest is bounds-checked against
 * guest memory. Everything the main thread must know is posted as a WorkerMessage.
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Vcpu, SysError, type VcpuExit } from '../kvm/index.js';
import * as libc from '../sys/libc.js';
import { BOOTINFO_GPA } from './boot.js';
import { nicIdleWait, nicKick, xskRxWords, type XskRxWords } from '../nic/wait.js';
import { APP_VA_LIMIT, BootInfo, CPU_STATE, VECTOR_RUNAWAY, CpuStatus, FAULT_REG_NAMES, HC, HC_PORT, Hcall, VCPU_CTRL, exitCell, readField1, type VcpuExitReason } from '../abi/index.js';
import type { FaultReport, VcpuWorkerData, WorkerMessage } from './messages.js';

// The worker is started ahead of need (worker-pool.ts) and learns its vCPU from a 'go' message.
let d: VcpuWorkerData;
let control: Int32Array;
let exits: Float64Array;
let mem: DataView | undefined;
let u8: Uint8Array;
let wakeCounters: Int32Array | null = null;
let xskRx: XskRxWords | undefined;
let reportedIdle = false;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const cell = (i: number) => d.cpu * VCPU_CTRL.cells + i;
/** count one exit (this worker is the only writer of its cells) */
const countExit = (reason: VcpuExitReason): void => {
  const k = exitCell(d.cpu, reason);
  exits[k] = (exits[k] ?? 0) + 1;
};

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/**
 * The view of guest memory, made at the first exit rather than before the first KVM_RUN: a
 * 64 MB+ external ArrayBuffer makes V8 collect garbage (external memory pressure), a few ms
 * that would otherwise sit between `ix run` and the app's first instruction.
 */
function guestMem(): DataView {
  if (!mem) {
    mem = new DataView(libc.view(d.memBase, d.memSize));
    u8 = new Uint8Array(mem.buffer, mem.byteOffset, mem.byteLength);
  }
  return mem;
}

function regsOf(vcpu: Vcpu): Record<string, string> | null {
  try {
    const r = vcpu.getRegs();
    const s = vcpu.getSregs();
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(r)) out[k] = hex(v as bigint);
    out.cr0 = hex(s.cr0);
    out.cr2 = hex(s.cr2);
    out.cr3 = hex(s.cr3);
    out.cr4 = hex(s.cr4);
    out.efer = hex(s.efer);
    out.cs = hex(s.cs.selector);
    return out;
  } catch {
    return null;
  }
}

/** The fault report in a hypercall block (already checked to lie inside guest memory). */
function readFault(gpa: number): FaultReport {
  const f = readField1(Hcall, guestMem(), gpa, 'fault');
  const regs: Record<string, string> = {};
  FAULT_REG_NAMES.forEach((n, i) => (regs[n] = hex(f.regs[i] ?? 0n)));
  return { kind: f.kind, vector: f.vector, errorCode: hex(f.errorCode), addr: hex(f.addr), regs, tsc: hex(f.tsc) };
}

function inGuest(gpa: number, len: number): boolean {
  return Number.isSafeInteger(gpa) && gpa >= 0 && len >= 0 && gpa + len <= d.memSize;
}

/** A message the guest passed by address and length (at most max bytes). */
function guestText(gpa: bigint, len: bigint, max: number): string {
  const n = Math.min(Number(len), max);
  const at = Number(gpa);
  return inGuest(at, n) ? Buffer.from(u8.subarray(at, at + n)).toString('utf8') : `(message at ${hex(gpa)} outside guest memory)`;
}

/** Returns false when the vCPU must stop. */
function hypercall(gpa: number): boolean {
  if (!inGuest(gpa, Hcall.size)) {
    post({ type: 'bad-exit', cpu: d.cpu, what: `hypercall request at ${hex(gpa)} outside guest memory` });
    return true;
  }
  const m = guestMem();
  const nr = readField1(Hcall, m, gpa, 'nr');
  const a0 = readField1(Hcall, m, gpa, 'a0');
  const a1 = readField1(Hcall, m, gpa, 'a1');
  switch (nr) {
    case HC.appExit:
      post({ type: 'app-exit', cpu: d.cpu, status: Number(BigInt.asIntN(32, a0)) });
      return true;
    case HC.appFault:
      post({ type: 'app-fault', cpu: d.cpu, fault: readFault(gpa) });
      return true;
    case HC.panic: {
      post({ type: 'panic', cpu: d.cpu, message: guestText(a0, a1, 4096) });
      return false;
    }
    case HC.refuse: {
      // the guest cannot enforce the configured protection on this platform; its CPU halts
      post({ type: 'refused', cpu: d.cpu, message: guestText(a0, a1, 1024) });
      return false;
    }
    case HC.logKick: {
      const seq = Atomics.load(control, cell(VCPU_CTRL.logSeq));
      post({ type: 'log-kick', cpu: d.cpu });
      Atomics.wait(control, cell(VCPU_CTRL.logSeq), seq, 200); // until the main thread drained
      return true;
    }
    case HC.idle:
      // the app is gone and the core serves the network alone; with in-kernel wake-ups its
      // halts never exit, so this is how the main thread learns the core is idle
      if (cpuState() === CPU_STATE.appDone && !reportedIdle) {
        reportedIdle = true;
        post({ type: 'halted', cpu: d.cpu });
      }
      return true;
    default:
      post({ type: 'bad-exit', cpu: d.cpu, what: `unknown hypercall ${nr}` });
      return true;
  }
}

/** This vCPU's struct ix_cpu_status in the boot info page. */
const statusGpa = (): number => BOOTINFO_GPA + BootInfo.at.cpu + d.cpu * CpuStatus.size;
function cpuState(): number {
  return readField1(CpuStatus, guestMem(), statusGpa(), 'state');
}

/**
 * The main thread found this vCPU's app running past [app] max_run_ms and kicked it out of
 * KVM_RUN. Inject the runaway interrupt if the app is still in that same run and the vCPU
 * is executing it (RIP in the app's half of the address space), so it is delivered at once,
 * in the app, on the next KVM_RUN. Otherwise the main thread asks again at its next sample.
 */
function injectRunaway(vcpu: Vcpu): void {
  const since = readField1(CpuStatus, guestMem(), statusGpa(), 'appSince');
  const seen = Atomics.load(control, cell(VCPU_CTRL.runawayStamp));
  if (since === 0n || (Number(since & 0xffffffffn) | 0) !== seen) return; // the app returned meanwhile
  if (vcpu.getRegs().rip >= APP_VA_LIMIT) return; // in the kernel's entry path: not yet
  try {
    // with an in-kernel irqchip KVM_INTERRUPT is refused; an injected event is not (and,
    // unlike an MSI, reaches a PVM app, whose VIF flag is clear: docs/wake.md)
    if (d.kernelWake) {
      if (!vcpu.injectInterrupt(VECTOR_RUNAWAY)) return; // something else in flight: next sample
    } else vcpu.interrupt(VECTOR_RUNAWAY);
    countExit('runaway');
  } catch (e) {
    // EEXIST: one is already queued, which is as good
    if (!(e instanceof SysError && e.code === 'EEXIST')) post({ type: 'bad-exit', cpu: d.cpu, what: `runaway interrupt not injected: ${(e as Error).message}` });
  }
}

function run(): void {
  const vcpu = Vcpu.fromFd(d.vcpuFd, d.vcpuMmapSize);
  if (d.pinCpu !== null) libc.setThreadAffinity([d.pinCpu]);
  if (d.sliceUs > 0) {
    // a short slice lets this thread, woken from a halt, preempt a CPU hog at once (sched_slice_us)
    try {
      libc.setThreadSlice(d.sliceUs);
    } catch (e) {
      post({ type: 'bad-exit', cpu: d.cpu, what: `scheduler slice not set: ${(e as Error).message}` });
    }
  }
  const tid = libc.gettid();
  Atomics.store(control, cell(VCPU_CTRL.tid), tid);
  post({ type: 'started', cpu: d.cpu, tid, firstRunWallMs: performance.timeOrigin + performance.now(), affinity: libc.getThreadAffinity() });
  for (;;) {
    if (Atomics.load(control, cell(VCPU_CTRL.stop))) break;
    let exit: VcpuExit;
    try {
      exit = vcpu.run();
    } catch (e) {
      if (e instanceof SysError && e.code === 'EINTR') {
        countExit('total');
        if (Atomics.exchange(control, cell(VCPU_CTRL.runaway), 0)) {
          vcpu.setImmediateExit(false); // the kick was the watchdog's, not a stop
          injectRunaway(vcpu);
        }
        continue;
      }
      post({ type: 'crash', cpu: d.cpu, reason: `KVM_RUN failed: ${(e as Error).message}`, regs: regsOf(vcpu) });
      return;
    }
    countExit('total');
    switch (exit.reason) {
      case 'io':
        if (exit.port === HC_PORT && exit.direction === 'out' && exit.size === 4) {
          countExit('hypercall');
          if (!hypercall(exit.data.readUInt32LE(0))) return;
        } else if (d.nic && exit.port === d.nic.notifyPort && exit.direction === 'out') {
          countExit('kick');
          nicKick(d.nic.kickFd); // the guest posted buffers while the backend slept
        } else {
          post({ type: 'bad-exit', cpu: d.cpu, what: `port I/O ${exit.direction} ${hex(exit.port)} size ${exit.size}` });
        }
        break;
      case 'hlt':
        countExit('halt');
        if ((cpuState() === CPU_STATE.appDone || cpuState() === CPU_STATE.panic) && !d.nic) {
          post({ type: 'halted', cpu: d.cpu });
          // Nothing will wake this core until the dataplane has a NIC: wait for stop.
          while (!Atomics.load(control, cell(VCPU_CTRL.stop))) Atomics.wait(control, cell(VCPU_CTRL.stop), 0, 1000);
          post({ type: 'stopped', cpu: d.cpu });
          return;
        }
        if (cpuState() === CPU_STATE.appDone && !reportedIdle) {
          reportedIdle = true; // the app is gone; the core goes on serving the network
          post({ type: 'halted', cpu: d.cpu });
        }
        if (d.nic && wakeCounters) {
          // The dataplane is idle: sleep until the backend has a frame for this queue or the
          // guest's next timer is due, then resume it (it continues after its HLT).
          const us = Number(readField1(CpuStatus, guestMem(), statusGpa(), 'haltTimeoutUs'));
          nicIdleWait(wakeCounters, guestMem(), d.nic.rx, d.cpu, Math.min(Math.max(us, 0), 10_000) / 1000, xskRx);
          break;
        }
        post({ type: 'crash', cpu: d.cpu, reason: 'the kernel halted before its app was done', regs: regsOf(vcpu) });
        return;
      case 'intr':
        break;
      case 'shutdown':
        post({ type: 'crash', cpu: d.cpu, reason: 'triple fault (KVM_EXIT_SHUTDOWN)', regs: regsOf(vcpu), shutdown: true });
        return;
      case 'internal_error':
        post({ type: 'crash', cpu: d.cpu, reason: `KVM internal error, suberror ${exit.suberror}`, regs: regsOf(vcpu) });
        return;
      case 'fail_entry':
        post({ type: 'crash', cpu: d.cpu, reason: `VM entry failed (hardware reason ${hex(exit.hardwareEntryFailureReason)})`, regs: regsOf(vcpu) });
        return;
      default:
        post({ type: 'crash', cpu: d.cpu, reason: `unexpected exit ${exit.reason}`, regs: regsOf(vcpu) });
        return;
    }
  }
  post({ type: 'stopped', cpu: d.cpu });
}

// Every import above has been evaluated (the KVM binding is loaded): from here on the worker
// may be stopped safely (worker-pool.ts explains why that matters).
post({ type: 'loaded' });

parentPort!.once('message', (m: { type: 'go'; data: VcpuWorkerData }) => {
  d = m.data;
  control = new Int32Array(d.control);
  exits = new Float64Array(d.exits);
  if (d.nic) wakeCounters = new Int32Array(d.nic.wakeCounters);
  if (d.nic?.xskRx) xskRx = xskRxWords(d.nic.xskRx);
  run();
  parentPort!.close();
});
