/**
 * The system fd (/dev/kvm) and VM fds. See vcpu.ts for the vCPU.
 */
import { kvmError } from './errors.js';
import { FdOwner } from './fd.js';
import { IOEVENTFD_FLAG, KVM_API_VERSION, LAYOUT } from './layout.js';
import { O_CLOEXEC, O_RDWR, openFd, withSignalsBlocked } from '../sys/libc.js';
import { cpuid2Buffer, decodeCpuid2, type CpuidEntry } from './structs.js';
import { encodeEnableCap, encodeGsiRouting, encodeIrqLevel, encodeIrqfd, type GsiRoute } from './irq.js';
import { CAP } from './layout.js';
import { Vcpu } from './vcpu.js';

const E2BIG = 7;
const PAGE = 4096n;
const U64_MAX = 2n ** 64n - 1n;

export interface MemoryRegion {
  slot: number;
  /** MEM_FLAG.logDirtyPages | MEM_FLAG.readonly, or 0 */
  flags: number;
  guestPhysAddr: bigint;
  /** 0 deletes the slot */
  memorySize: bigint;
  userspaceAddr: bigint;
}

export class Kvm {
  private readonly h: FdOwner;
  private mmapSizeCache = 0;

  private constructor(fd: number, readonly path: string) {
    this.h = new FdOwner(fd, path);
  }

  /** Open the KVM device. Failing, the SysError says whether it is missing or forbidden. */
  static open(path = '/dev/kvm'): Kvm {
    const fd = openFd(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) throw kvmError('open', -fd, path);
    return new Kvm(fd, path);
  }

  get fd(): number {
    return this.h.fd;
  }

  /** KVM_GET_API_VERSION; 12 on every Linux since 2.6.22. */
  apiVersion(): number {
    return this.h.int('KVM_GET_API_VERSION');
  }

  /** Size of the per-vCPU mmap area (kvm_run plus the PIO data and coalesced MMIO pages). */
  vcpuMmapSize(): number {
    if (this.mmapSizeCache === 0) this.mmapSizeCache = this.h.int('KVM_GET_VCPU_MMAP_SIZE');
    return this.mmapSizeCache;
  }

  /** KVM_CHECK_EXTENSION: 0 if absent, else 1 or a capability-specific value (e.g. max vCPUs). */
  checkExtension(cap: number): number {
    return this.h.int('KVM_CHECK_EXTENSION', cap, `capability ${cap}`);
  }

  /** KVM_GET_SUPPORTED_CPUID, growing the buffer until the kernel stops answering E2BIG. */
  supportedCpuid(): CpuidEntry[] {
    for (let n = 128; n <= 8192; n *= 2) {
      const buf = cpuid2Buffer(n);
      const r = this.h.ptrOrErrno('KVM_GET_SUPPORTED_CPUID', buf);
      if (r >= 0) return decodeCpuid2(buf);
      if (r !== -E2BIG) throw kvmError('KVM_GET_SUPPORTED_CPUID', -r);
    }
    throw kvmError('KVM_GET_SUPPORTED_CPUID', E2BIG, 'more than 8192 entries');
  }

  /** KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves and restores for a vCPU. */
  msrIndexList(): number[] {
    const hdr = LAYOUT.kvm_msr_list;
    // First ask with room for none: the kernel answers E2BIG and writes the count.
    const probe = Buffer.alloc(hdr.size);
    const r0 = this.h.ptrOrErrno('KVM_GET_MSR_INDEX_LIST', probe);
    if (r0 < 0 && r0 !== -E2BIG) throw kvmError('KVM_GET_MSR_INDEX_LIST', -r0);
    const n = probe.readUInt32LE(hdr.fields.nmsrs);
    if (n > 65536) throw kvmError('KVM_GET_MSR_INDEX_LIST', E2BIG, `implausible count ${n}`);
    const buf = Buffer.alloc(hdr.size + n * 4);
    buf.writeUInt32LE(n, hdr.fields.nmsrs);
    this.h.ptr('KVM_GET_MSR_INDEX_LIST', buf);
    const got = Math.min(buf.readUInt32LE(hdr.fields.nmsrs), n);
    const out: number[] = [];
    for (let i = 0; i < got; i++) out.push(buf.readUInt32LE(hdr.fields.indices + i * 4));
    return out;
  }

  /** KVM_CREATE_VM (type 0), after checking the API version. */
  createVm(): Vm {
    const v = this.apiVersion();
    if (v !== KVM_API_VERSION) {
      throw kvmError('KVM_GET_API_VERSION', 22, `this binding speaks KVM API ${KVM_API_VERSION}, ${this.path} reports ${v}`);
    }
    // KVM_CREATE_VM fails with EINTR while any signal is pending (the MMU notifier's
    // mm_take_all_locks() gives up), e.g. an operator's SIGTERM during `ix run`'s setup.
    // With signals blocked it cannot be interrupted; what arrived is handled right after.
    const fd = withSignalsBlocked(() => this.h.int('KVM_CREATE_VM', 0));
    return new Vm(fd, this.vcpuMmapSize());
  }

  close(): void {
    this.h.closeFd();
  }
}

export class Vm {
  private readonly h: FdOwner;
  private readonly regionBuf = Buffer.alloc(LAYOUT.kvm_userspace_memory_region.size);

  /** @internal use Kvm.createVm() */
  constructor(fd: number, readonly vcpuMmapSize: number) {
    this.h = new FdOwner(fd, 'VM');
  }

  get fd(): number {
    return this.h.fd;
  }

  /**
   * Map host memory into the guest physical address space. Values are checked here (page
   * alignment, 64-bit ranges) so the usual mistakes fail with a precise message.
   */
  setUserMemoryRegion(r: MemoryRegion): void {
    const bad = (msg: string) => kvmError('KVM_SET_USER_MEMORY_REGION', 22, `slot ${r.slot}: ${msg}`);
    if (!Number.isInteger(r.slot) || r.slot < 0 || r.slot > 0xffffffff) throw bad(`slot must be a 32-bit unsigned integer`);
    if (!Number.isInteger(r.flags) || r.flags < 0 || r.flags > 0xffffffff) throw bad('flags must be a 32-bit unsigned integer');
    for (const k of ['guestPhysAddr', 'memorySize', 'userspaceAddr'] as const) {
      const v = r[k];
      if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw bad(`${k} must be a BigInt in 0..2^64-1`);
      if (v % PAGE !== 0n) throw bad(`${k} 0x${v.toString(16)} is not 4 KiB aligned`);
    }
    const f = LAYOUT.kvm_userspace_memory_region.fields;
    const b = this.regionBuf;
    b.writeUInt32LE(r.slot, f.slot);
    b.writeUInt32LE(r.flags, f.flags);
    b.writeBigUInt64LE(r.guestPhysAddr, f.guest_phys_addr);
    b.writeBigUInt64LE(r.memorySize, f.memory_size);
    b.writeBigUInt64LE(r.userspaceAddr, f.userspace_addr);
    this.h.ptr('KVM_SET_USER_MEMORY_REGION', b, `slot ${r.slot}, gpa 0x${r.guestPhysAddr.toString(16)}, ${r.memorySize} bytes`);
  }

  /**
   * KVM_IOEVENTFD: a guest write of `len` bytes to I/O port `port` signals the eventfd `fd`
   * inside the host kernel and the guest goes on; the vCPU thread never sees the exit. On PVM
   * that leaves out the return to user space and the next KVM_RUN of a port I/O exit.
   */
  ioeventfdPio(port: number, len: 1 | 2 | 4 | 8, fd: number): void {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw kvmError('KVM_IOEVENTFD', 22, `port ${port} is not a 16-bit I/O port`);
    if (!Number.isInteger(fd) || fd < 0) throw kvmError('KVM_IOEVENTFD', 9, `fd ${fd} is not a file descriptor`);
    const f = LAYOUT.kvm_ioeventfd.fields;
    const b = Buffer.alloc(LAYOUT.kvm_ioeventfd.size);
    b.writeBigUInt64LE(BigInt(port), f.addr);
    b.writeUInt32LE(len, f.len);
    b.writeInt32LE(fd, f.fd);
    b.writeUInt32LE(IOEVENTFD_FLAG.pio, f.flags);
    this.h.ptr('KVM_IOEVENTFD', b, `port 0x${port.toString(16)}, ${len} bytes, eventfd ${fd}`);
  }

  createVcpu(id: number): Vcpu {
    if (!Number.isInteger(id) || id < 0) throw new RangeError(`vCPU id ${id} must be a non-negative integer`);
    const fd = this.h.int('KVM_CREATE_VCPU', id, `vCPU id ${id}`);
    return Vcpu.adopt(fd, id, this.vcpuMmapSize);
  }

  /** KVM_CHECK_EXTENSION on the VM fd (some answers are per VM). */
  checkExtension(cap: number): number {
    return this.h.int('KVM_CHECK_EXTENSION', cap, `capability ${cap}`);
  }

  /** KVM_SET_TSS_ADDR: three pages of guest physical space for VT-x real mode (Intel only). */
  setTssAddr(gpa: number): void {
    this.h.int('KVM_SET_TSS_ADDR', gpa, `address 0x${gpa.toString(16)}`);
  }

  /**
   * KVM_CREATE_IRQCHIP: an in-kernel 8259 PIC pair, IOAPIC and a LAPIC per vCPU. Must come
   * before the first createVcpu(). Afterwards KVM_INTERRUPT is refused (interrupts enter
   * through irqLine/irqfd), and a HLT with nothing pending sleeps inside KVM_RUN instead of
   * returning KVM_EXIT_HLT, on the hosts where the backend implements that (docs/wake.md).
   */
  createIrqchip(): void {
    this.h.int('KVM_CREATE_IRQCHIP');
  }

  /**
   * KVM_IRQFD: each write to eventfd `fd` raises GSI `gsi` inside the host kernel (a pulse:
   * high then low), waking a vCPU halted in KVM_RUN without any user-space thread running.
   * `deassign` removes the binding. Needs createIrqchip() first.
   */
  irqfd(gsi: number, fd: number, opts: { deassign?: boolean } = {}): void {
    const deassign = opts.deassign === true;
    this.h.ptr('KVM_IRQFD', encodeIrqfd(gsi, fd, deassign), `${deassign ? 'unbind' : 'bind'} eventfd ${fd} ${deassign ? 'from' : 'to'} GSI ${gsi}`);
  }

  /** KVM_IRQ_LINE: set GSI `irq` high (1) or low (0), as a device's interrupt wire would. */
  irqLine(irq: number, level: 0 | 1): void {
    this.h.ptr('KVM_IRQ_LINE', encodeIrqLevel(irq, level), `GSI ${irq} level ${level}`);
  }

  /**
   * KVM_SET_GSI_ROUTING: replace the whole GSI routing table (the default PIC/IOAPIC wiring of
   * GSIs 0-23 is gone unless listed again). Needs createIrqchip() first.
   */
  setGsiRouting(routes: readonly GsiRoute[]): void {
    this.h.ptr('KVM_SET_GSI_ROUTING', encodeGsiRouting(routes), `${routes.length} routes`);
  }

  /**
   * KVM_GET_IRQCHIP: the raw state of one in-kernel chip (IRQCHIP.picMaster, _SLAVE or
   * _IOAPIC), a struct kvm_irqchip; edit it at LAYOUT.kvm_irqchip offsets and setIrqchip().
   */
  getIrqchip(chipId: number): Buffer {
    const b = Buffer.alloc(LAYOUT.kvm_irqchip.size);
    b.writeUInt32LE(chipId, LAYOUT.kvm_irqchip.fields.chip_id);
    this.h.ptr('KVM_GET_IRQCHIP', b, `chip ${chipId}`);
    return b;
  }

  /** KVM_SET_IRQCHIP with a buffer from getIrqchip(). */
  setIrqchip(state: Buffer): void {
    if (state.length !== LAYOUT.kvm_irqchip.size) throw kvmError('KVM_SET_IRQCHIP', 22, `state must be ${LAYOUT.kvm_irqchip.size} bytes (from getIrqchip), got ${state.length}`);
    this.h.ptr('KVM_SET_IRQCHIP', state, `chip ${state.readUInt32LE(LAYOUT.kvm_irqchip.fields.chip_id)}`);
  }

  /** KVM_ENABLE_CAP on the VM fd with up to four arguments. */
  enableCap(cap: number, ...args: bigint[]): void {
    this.h.ptr('KVM_ENABLE_CAP', encodeEnableCap(cap, args), `capability ${cap}`);
  }

  /**
   * KVM_CAP_HALT_POLL: a halted vCPU of this VM spins up to `ns` nanoseconds in the host
   * kernel before it sleeps (0 = never poll); overrides the kvm.halt_poll_ns module parameter.
   */
  setHaltPollNs(ns: number): void {
    if (!Number.isInteger(ns) || ns < 0 || ns > 0xffffffff) throw kvmError('KVM_ENABLE_CAP', 22, `halt-poll time ${ns} ns must be a 32-bit unsigned integer`);
    this.enableCap(CAP.HALT_POLL, BigInt(ns));
  }

  /** Close the VM fd. Its vCPUs keep the VM alive in the kernel until they are closed too. */
  close(): void {
    this.h.closeFd();
  }
}
