/**
 * Decoding of struct kvm_run after KVM_RUN returns. Each vCPU owns one RunArea over its
 * mmapped kvm_run and one preallocated exit object per reason; run() returns the object for
 * the current exit_reason and its fields are read lazily (getters) from the shared mapping.
 * So a KVM_RUN round trip allocates nothing, but an exit object is only valid until the next
 * run() of that vCPU: copy what you keep (toJSON() gives a plain snapshot).
 */
import { ARRAYS, EXIT, EXIT_IO, LAYOUT } from './layout.js';

const R = LAYOUT.kvm_run.fields;

/** The mmapped kvm_run of one vCPU, with bounds-checked access to its data area. */
export class RunArea {
  readonly dv: DataView;
  readonly bytes: Buffer;
  private ioBuf: Buffer | null = null;
  private ioAt = -1;
  private ioLen = -1;

  constructor(readonly mapping: ArrayBuffer) {
    if (mapping.byteLength < LAYOUT.kvm_run.size) {
      throw new RangeError(`kvm_run mapping of ${mapping.byteLength} bytes is smaller than struct kvm_run (${LAYOUT.kvm_run.size})`);
    }
    this.dv = new DataView(mapping);
    this.bytes = Buffer.from(mapping);
  }

  get exitReason(): number {
    return this.dv.getUint32(R.exit_reason, true);
  }

  get immediateExit(): boolean {
    return this.dv.getUint8(R.immediate_exit) !== 0;
  }

  set immediateExit(v: boolean) {
    this.dv.setUint8(R.immediate_exit, v ? 1 : 0);
  }

  get requestInterruptWindow(): boolean {
    return this.dv.getUint8(R.request_interrupt_window) !== 0;
  }

  set requestInterruptWindow(v: boolean) {
    this.dv.setUint8(R.request_interrupt_window, v ? 1 : 0);
  }

  get readyForInterruptInjection(): boolean {
    return this.dv.getUint8(R.ready_for_interrupt_injection) !== 0;
  }

  get ifFlag(): boolean {
    return this.dv.getUint8(R.if_flag) !== 0;
  }

  /**
   * The port I/O data area: kvm_run + data_offset, size*count bytes. The kernel writes these
   * values, but they are checked anyway: a view outside the mapping would read other memory.
   * The Buffer is cached while offset and length stay the same (they almost always do).
   */
  ioData(): Buffer {
    const at = this.dv.getBigUint64(R['io.data_offset'], true);
    const len = this.dv.getUint8(R['io.size']) * this.dv.getUint32(R['io.count'], true);
    if (at > BigInt(this.mapping.byteLength) || Number(at) + len > this.mapping.byteLength) {
      throw new RangeError(`kvm_run io data (offset ${at}, ${len} bytes) lies outside the ${this.mapping.byteLength}-byte mapping`);
    }
    const off = Number(at);
    if (this.ioBuf === null || off !== this.ioAt || len !== this.ioLen) {
      this.ioBuf = this.bytes.subarray(off, off + len);
      this.ioAt = off;
      this.ioLen = len;
    }
    return this.ioBuf;
  }

  u64array(field: number, countField: number, max: number): bigint[] {
    const n = Math.min(this.dv.getUint32(countField, true), max);
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push(this.dv.getBigUint64(field + i * 8, true));
    return out;
  }
}

export class IoExit {
  readonly reason = 'io' as const;
  constructor(private readonly r: RunArea) {}
  get direction(): 'in' | 'out' {
    return this.r.dv.getUint8(R['io.direction']) === EXIT_IO.out ? 'out' : 'in';
  }
  /** bytes per access: 1, 2 or 4 */
  get size(): number {
    return this.r.dv.getUint8(R['io.size']);
  }
  get port(): number {
    return this.r.dv.getUint16(R['io.port'], true);
  }
  /** number of accesses (>1 for rep ins/outs) */
  get count(): number {
    return this.r.dv.getUint32(R['io.count'], true);
  }
  get dataOffset(): number {
    return Number(this.r.dv.getBigUint64(R['io.data_offset'], true));
  }
  /** size*count bytes inside kvm_run: read it for OUT, fill it for IN before the next run(). */
  get data(): Buffer {
    return this.r.ioData();
  }
  toJSON() {
    return { reason: this.reason, direction: this.direction, size: this.size, port: this.port, count: this.count, dataOffset: this.dataOffset, data: [...this.data] };
  }
}

export class MmioExit {
  readonly reason = 'mmio' as const;
  constructor(private readonly r: RunArea) {}
  get physAddr(): bigint {
    return this.r.dv.getBigUint64(R['mmio.phys_addr'], true);
  }
  get len(): number {
    return Math.min(this.r.dv.getUint32(R['mmio.len'], true), ARRAYS['kvm_run.mmio.data']);
  }
  get isWrite(): boolean {
    return this.r.dv.getUint8(R['mmio.is_write']) !== 0;
  }
  /** The 8-byte data array (only the first `len` bytes matter): read on write, fill on read. */
  get data(): Buffer {
    return this.r.bytes.subarray(R['mmio.data'], R['mmio.data'] + ARRAYS['kvm_run.mmio.data']);
  }
  toJSON() {
    return { reason: this.reason, physAddr: this.physAddr, len: this.len, isWrite: this.isWrite, data: [...this.data.subarray(0, this.len)] };
  }
}

export class InternalErrorExit {
  readonly reason = 'internal_error' as const;
  constructor(private readonly r: RunArea) {}
  /** KVM_INTERNAL_ERROR_*: 1 emulation failure, 2 exception while delivering, 3 delivery, 4 unexpected exit */
  get suberror(): number {
    return this.r.dv.getUint32(R['internal.suberror'], true);
  }
  get data(): bigint[] {
    return this.r.u64array(R['internal.data'], R['internal.ndata'], ARRAYS['kvm_run.internal.data']);
  }
  toJSON() {
    return { reason: this.reason, suberror: this.suberror, data: this.data };
  }
}

export class FailEntryExit {
  readonly reason = 'fail_entry' as const;
  constructor(private readonly r: RunArea) {}
  get hardwareEntryFailureReason(): bigint {
    return this.r.dv.getBigUint64(R['fail_entry.hardware_entry_failure_reason'], true);
  }
  get cpu(): number {
    return this.r.dv.getUint32(R['fail_entry.cpu'], true);
  }
  toJSON() {
    return { reason: this.reason, hardwareEntryFailureReason: this.hardwareEntryFailureReason, cpu: this.cpu };
  }
}

export class SystemEventExit {
  readonly reason = 'system_event' as const;
  constructor(private readonly r: RunArea) {}
  /** KVM_SYSTEM_EVENT_*: 1 shutdown, 2 reset, 3 crash, ... */
  get type(): number {
    return this.r.dv.getUint32(R['system_event.type'], true);
  }
  get data(): bigint[] {
    return this.r.u64array(R['system_event.data'], R['system_event.ndata'], ARRAYS['kvm_run.system_event.data']);
  }
  toJSON() {
    return { reason: this.reason, type: this.type, data: this.data };
  }
}

/** An exit reason this binding does not decode; `code` is the raw KVM_EXIT_* value. */
export class UnknownExit {
  readonly reason = 'unknown' as const;
  constructor(private readonly r: RunArea) {}
  get code(): number {
    return this.r.exitReason;
  }
  /** kvm_run.hw.hardware_exit_reason (meaningful for KVM_EXIT_UNKNOWN) */
  get hardwareExitReason(): bigint {
    return this.r.dv.getBigUint64(R['hw.hardware_exit_reason'], true);
  }
  toJSON() {
    return { reason: this.reason, code: this.code, hardwareExitReason: this.hardwareExitReason };
  }
}

function simple<T extends string>(reason: T) {
  const o = { reason, toJSON: () => ({ reason }) };
  return Object.freeze(o);
}

export type HltExit = { readonly reason: 'hlt' };
export type ShutdownExit = { readonly reason: 'shutdown' };
export type IntrExit = { readonly reason: 'intr' };
export type IrqWindowOpenExit = { readonly reason: 'irq_window_open' };

export type VcpuExit =
  | IoExit
  | MmioExit
  | HltExit
  | ShutdownExit
  | InternalErrorExit
  | FailEntryExit
  | SystemEventExit
  | IntrExit
  | IrqWindowOpenExit
  | UnknownExit;

export type ExitReason = VcpuExit['reason'];

/** One vCPU's exit objects, indexed by KVM_EXIT_* for a branch-free lookup in run(). */
export class ExitDecoder {
  private readonly table: VcpuExit[] = [];
  private readonly unknown: UnknownExit;

  constructor(readonly run: RunArea) {
    this.unknown = new UnknownExit(run);
    this.table[EXIT.IO] = new IoExit(run);
    this.table[EXIT.MMIO] = new MmioExit(run);
    this.table[EXIT.HLT] = simple('hlt');
    this.table[EXIT.SHUTDOWN] = simple('shutdown');
    this.table[EXIT.INTERNAL_ERROR] = new InternalErrorExit(run);
    this.table[EXIT.FAIL_ENTRY] = new FailEntryExit(run);
    this.table[EXIT.SYSTEM_EVENT] = new SystemEventExit(run);
    this.table[EXIT.INTR] = simple('intr');
    this.table[EXIT.IRQ_WINDOW_OPEN] = simple('irq_window_open');
  }

  decode(): VcpuExit {
    return this.table[this.run.exitReason] ?? this.unknown;
  }
}
