/**
 * One virtual CPU: its fd, its mmapped kvm_run, register access and KVM_RUN.
 *
 * A Vcpu can be created by Vm.createVcpu() (owns the fd) or rebuilt in a worker thread
 * from the fd number with Vcpu.fromFd() (does not own it: close() only unmaps kvm_run).
 * Both mappings of kvm_run are the same pages, so the main thread's setImmediateExit()
 * is seen by the worker's KVM_RUN.
 */
import { kvmError } from './errors.js';
import type { SysError } from '../sys/errors.js';
import { ExitDecoder, RunArea, type VcpuExit } from './exit.js';
import { FdOwner } from './fd.js';
import { IOCTL } from './ioctl.js';
import { LAYOUT } from './layout.js';
import { isMainThread } from 'node:worker_threads';
import { closeFd, errno, ioctl, mapFd, tgkill, unmap, view, type Addr } from '../sys/libc.js';
import {
  decodeFpu, decodeMsrs, decodeRegs, decodeSregs, encodeCpuid2, encodeFpu, encodeMsrs, encodeRegs, encodeSregs,
  type CpuidEntry, type Fpu, type MsrEntry, type Regs, type Sregs,
} from './structs.js';

const KVM_RUN = IOCTL.KVM_RUN;

/** The signal used to kick vCPU threads out of KVM_RUN. */
export const KICK_SIGNAL = 'SIGUSR2';
const noop = (): void => {};
let kickHandlerInstalled = false;

/**
 * Install (once, in the main thread) the do-nothing SIGUSR2 listener that makes the kick
 * signal interrupt KVM_RUN instead of terminating the process. Idempotent.
 */
export function installKickHandler(): void {
  if (kickHandlerInstalled) return;
  if (!isMainThread) throw new Error(`installKickHandler() must run in the main thread: worker threads cannot listen for ${KICK_SIGNAL}`);
  process.on(KICK_SIGNAL, noop);
  kickHandlerInstalled = true;
}

/** Remove the listener installed by installKickHandler() (e.g. at teardown). */
export function removeKickHandler(): void {
  if (!kickHandlerInstalled) return;
  process.off(KICK_SIGNAL, noop);
  kickHandlerInstalled = false;
}

export class Vcpu {
  private readonly h: FdOwner;
  private runAddr: Addr;
  readonly runArea: RunArea;
  private readonly exits: ExitDecoder;
  // One scratch buffer per structure, reused by every call (no allocation per get/set).
  private readonly regsBuf = Buffer.alloc(LAYOUT.kvm_regs.size);
  private readonly regsDv = new DataView(this.regsBuf.buffer, this.regsBuf.byteOffset, this.regsBuf.byteLength);
  private readonly sregsBuf = Buffer.alloc(LAYOUT.kvm_sregs.size);
  private readonly sregsDv = new DataView(this.sregsBuf.buffer, this.sregsBuf.byteOffset, this.sregsBuf.byteLength);
  private readonly irqBuf = Buffer.alloc(LAYOUT.kvm_interrupt.size);
  private readonly fpuBuf = Buffer.alloc(LAYOUT.kvm_fpu.size);
  private readonly mpBuf = Buffer.alloc(LAYOUT.kvm_mp_state.size);
  private readonly eventsBuf = Buffer.alloc(LAYOUT.kvm_vcpu_events.size);

  private constructor(fd: number, readonly id: number, readonly mmapSize: number, owned: boolean) {
    if (!Number.isSafeInteger(mmapSize) || mmapSize < LAYOUT.kvm_run.size) {
      throw new RangeError(`vCPU mmap size ${mmapSize} is smaller than struct kvm_run (${LAYOUT.kvm_run.size}); pass Kvm.vcpuMmapSize()`);
    }
    this.h = new FdOwner(fd, `vCPU ${id}`, owned);
    this.runAddr = mapFd(fd, mmapSize);
    this.runArea = new RunArea(view(this.runAddr, mmapSize));
    this.exits = new ExitDecoder(this.runArea);
  }

  /** @internal used by Vm.createVcpu */
  static adopt(fd: number, id: number, mmapSize: number): Vcpu {
    try {
      return new Vcpu(fd, id, mmapSize, true);
    } catch (e) {
      closeFd(fd); // the mmap of kvm_run failed: do not leak the new vCPU fd
      throw e;
    }
  }

  /**
   * A Vcpu over an fd created elsewhere (typically in the main thread; fds are shared by all
   * threads). `mmapSize` is Kvm.vcpuMmapSize(). close() will unmap but not close the fd.
   */
  static fromFd(fd: number, mmapSize: number, id = -1): Vcpu {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`vCPU fd ${fd} is not a file descriptor`);
    return new Vcpu(fd, id, mmapSize, false);
  }

  get fd(): number {
    return this.h.fd;
  }

  /**
   * KVM_RUN until the next exit; returns the decoded exit (valid until the next run()).
   * Throws SysError; code 'EINTR' means a signal or immediate_exit stopped it (the kick).
   * Allocates nothing on the success path.
   */
  run(): VcpuExit {
    const r = ioctl(this.h.live('KVM_RUN'), KVM_RUN, 0);
    if (r < 0) throw kvmError('KVM_RUN', errno(), `vCPU ${this.id}`);
    return this.exits.decode();
  }

  /**
   * KVM_RUN returning the raw result instead of throwing: the KVM_EXIT_* code (>= 0) or
   * -errno. For loops that want to handle EINTR without an exception; decode with lastExit().
   */
  runRaw(): number {
    const r = ioctl(this.h.live('KVM_RUN'), KVM_RUN, 0);
    return r < 0 ? -errno() : this.runArea.exitReason;
  }

  /** The decoded exit of the last KVM_RUN. */
  lastExit(): VcpuExit {
    return this.exits.decode();
  }

  /** kvm_run.immediate_exit: when set, KVM_RUN returns EINTR at once (see docs: the kick). */
  setImmediateExit(v: boolean): void {
    this.runArea.immediateExit = v;
  }

  get immediateExit(): boolean {
    return this.runArea.immediateExit;
  }

  /**
   * Kick the thread `tid` (the one running this vCPU's KVM_RUN) out of the guest: sets
   * immediate_exit, then sends KICK_SIGNAL to that thread. Its run() throws SysError EINTR.
   * Needs installKickHandler() first, or the signal terminates the process.
   */
  kick(tid: number): void {
    if (isMainThread && !kickHandlerInstalled && process.listenerCount(KICK_SIGNAL) === 0) {
      throw new Error(`kick(): no ${KICK_SIGNAL} listener, the signal would kill the process; call installKickHandler() in the main thread first`);
    }
    this.runArea.immediateExit = true;
    tgkill(process.pid, tid, KICK_SIGNAL);
  }

  getRegs(): Regs {
    this.h.ptr('KVM_GET_REGS', this.regsBuf);
    return decodeRegs(this.regsDv);
  }

  setRegs(r: Regs): void {
    encodeRegs(this.regsDv, r);
    this.h.ptr('KVM_SET_REGS', this.regsBuf);
  }

  getSregs(): Sregs {
    this.h.ptr('KVM_GET_SREGS', this.sregsBuf);
    return decodeSregs(this.sregsDv);
  }

  setSregs(s: Sregs): void {
    encodeSregs(this.sregsDv, s);
    this.h.ptr('KVM_SET_SREGS', this.sregsBuf);
  }

  /** x87/SSE state (KVM_GET_FPU); fpr and xmm are copies. */
  getFpu(): Fpu {
    this.h.ptr('KVM_GET_FPU', this.fpuBuf);
    return decodeFpu(this.fpuBuf);
  }

  setFpu(f: Fpu): void {
    encodeFpu(this.fpuBuf, f);
    this.h.ptr('KVM_SET_FPU', this.fpuBuf);
  }

  /**
   * Read MSRs. KVM stops at the first MSR it does not handle, so fewer results than indices
   * means that one is unsupported: reported as a SysError naming it.
   */
  getMsrs(indices: readonly number[]): MsrEntry[] {
    if (indices.length === 0) return [];
    const buf = encodeMsrs(indices.map((index) => ({ index })), false);
    const n = this.h.ptr('KVM_GET_MSRS', buf);
    if (n < indices.length) throw unsupportedMsr('KVM_GET_MSRS', n, indices);
    return decodeMsrs(buf, n);
  }

  setMsrs(entries: readonly MsrEntry[]): void {
    if (entries.length === 0) return;
    const n = this.h.ptr('KVM_SET_MSRS', encodeMsrs(entries, true));
    if (n < entries.length) throw unsupportedMsr('KVM_SET_MSRS', n, entries.map((e) => e.index));
  }

  /** KVM_SET_CPUID2, before the first run(); usually Kvm.supportedCpuid(), possibly edited. */
  setCpuid(entries: readonly CpuidEntry[]): void {
    this.h.ptr('KVM_SET_CPUID2', encodeCpuid2(entries), `${entries.length} entries`);
  }

  /** Queue an external interrupt (userspace irqchip only; no in-kernel irqchip created). */
  interrupt(vector: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector > 255) throw new RangeError(`interrupt vector ${vector} must be 0..255`);
    this.irqBuf.writeUInt32LE(vector, LAYOUT.kvm_interrupt.fields.irq);
    this.h.ptr('KVM_INTERRUPT', this.irqBuf, `vector ${vector}`);
  }

  /**
   * Inject an external interrupt with KVM_GET/SET_VCPU_EVENTS: it is delivered on the next
   * KVM_RUN like one KVM was in the middle of delivering, past the interrupt window and any
   * LAPIC (with an in-kernel irqchip, where KVM_INTERRUPT is refused). Returns false, and
   * changes nothing, while another exception, NMI or interrupt is already in flight. Only
   * with this vCPU out of KVM_RUN (kick it first).
   */
  injectInterrupt(vector: number): boolean {
    if (!Number.isInteger(vector) || vector < 32 || vector > 255) throw new RangeError(`interrupt vector ${vector} must be 32..255`);
    const f = LAYOUT.kvm_vcpu_events.fields;
    const b = this.eventsBuf;
    this.h.ptr('KVM_GET_VCPU_EVENTS', b);
    if (b[f['exception.injected']] || b[f['exception.pending']] || b[f['interrupt.injected']] || b[f['nmi.injected']]) return false;
    b.writeUInt8(1, f['interrupt.injected']);
    b.writeUInt8(vector, f['interrupt.nr']);
    b.writeUInt8(0, f['interrupt.soft']);
    b.writeUInt32LE(0, f.flags); // nothing else is to be set from this buffer
    this.h.ptr('KVM_SET_VCPU_EVENTS', b, `interrupt ${vector}`);
    return true;
  }

  /**
   * KVM_GET_MP_STATE: MP_STATE.RUNNABLE, or HALTED for a vCPU that executed HLT with an
   * in-kernel irqchip and is waiting for an interrupt inside KVM_RUN. Not while another
   * thread is inside KVM_RUN on this vCPU (the call waits for it): kick it first.
   */
  getMpState(): number {
    this.h.ptr('KVM_GET_MP_STATE', this.mpBuf);
    return this.mpBuf.readUInt32LE(LAYOUT.kvm_mp_state.fields.mp_state);
  }

  /**
   * KVM_SET_MP_STATE. With an in-kernel irqchip, vCPUs other than 0 start waiting for
   * INIT/SIPI (UNINITIALIZED); MP_STATE.RUNNABLE lets the VMM start them directly.
   */
  setMpState(state: number): void {
    this.mpBuf.writeUInt32LE(state, LAYOUT.kvm_mp_state.fields.mp_state);
    this.h.ptr('KVM_SET_MP_STATE', this.mpBuf, `state ${state}`);
  }

  /** The guest TSC frequency in kHz (KVM_GET_TSC_KHZ). */
  getTscKhz(): number {
    return this.h.int('KVM_GET_TSC_KHZ');
  }

  /** Unmap kvm_run and close the fd (if owned). Exits returned earlier become invalid. */
  close(): void {
    if (this.h.closed) return;
    if (this.runAddr !== 0) {
      unmap(this.runAddr, this.mmapSize);
      this.runAddr = 0;
    }
    this.h.closeFd();
  }
}

// KVM_GET/SET_MSRS succeed with a short count instead of failing; the error reported for the
// first unhandled MSR carries EINVAL, the errno KVM itself uses for a refused MSR.
const EINVAL = 22;

function unsupportedMsr(name: 'KVM_GET_MSRS' | 'KVM_SET_MSRS', done: number, indices: readonly number[]): SysError {
  const bad = indices[done];
  return kvmError(name, EINVAL, `handled ${done} of ${indices.length} MSRs; MSR 0x${(bad ?? 0).toString(16)} is not supported by this host${name === 'KVM_SET_MSRS' ? ' or the value was refused' : ''}`);
}
