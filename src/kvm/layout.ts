/**
 * Sizes and byte offsets of the <linux/kvm.h> (x86-64) structures this binding reads and
 * writes, plus the kernel constants it uses. Every value here is checked against the C
 * headers by test/kvm-layout.test.ts (test/fixtures/kvm/kvm-layout.c prints the same table
 * from sizeof/offsetof); nothing else in src/kvm may hard-code an offset.
 *
 * Offsets of union members of struct kvm_run are named "<part>.<field>" (e.g. "io.port");
 * they all start at the union, offset 32.
 */

export interface StructLayout {
  readonly size: number;
  readonly fields: Readonly<Record<string, number>>;
}

export const LAYOUT = {
  kvm_regs: {
    size: 144,
    fields: {
      rax: 0, rbx: 8, rcx: 16, rdx: 24, rsi: 32, rdi: 40, rsp: 48, rbp: 56,
      r8: 64, r9: 72, r10: 80, r11: 88, r12: 96, r13: 104, r14: 112, r15: 120,
      rip: 128, rflags: 136,
    },
  },
  kvm_segment: {
    size: 24,
    fields: {
      base: 0, limit: 8, selector: 12, type: 14, present: 15, dpl: 16, db: 17, s: 18, l: 19,
      g: 20, avl: 21, unusable: 22,
    },
  },
  kvm_dtable: { size: 16, fields: { base: 0, limit: 8 } },
  kvm_sregs: {
    size: 312,
    fields: {
      cs: 0, ds: 24, es: 48, fs: 72, gs: 96, ss: 120, tr: 144, ldt: 168, gdt: 192, idt: 208,
      cr0: 224, cr2: 232, cr3: 240, cr4: 248, cr8: 256, efer: 264, apic_base: 272,
      interrupt_bitmap: 280,
    },
  },
  kvm_msr_entry: { size: 16, fields: { index: 0, data: 8 } },
  kvm_msrs: { size: 8, fields: { nmsrs: 0, entries: 8 } },
  kvm_msr_list: { size: 4, fields: { nmsrs: 0, indices: 4 } },
  kvm_cpuid_entry2: {
    size: 40,
    fields: { function: 0, index: 4, flags: 8, eax: 12, ebx: 16, ecx: 20, edx: 24 },
  },
  kvm_cpuid2: { size: 8, fields: { nent: 0, entries: 8 } },
  kvm_userspace_memory_region: {
    size: 32,
    fields: { slot: 0, flags: 4, guest_phys_addr: 8, memory_size: 16, userspace_addr: 24 },
  },
  kvm_fpu: {
    size: 416,
    fields: { fpr: 0, fcw: 128, fsw: 130, ftwx: 132, last_opcode: 134, last_ip: 136, last_dp: 144, xmm: 152, mxcsr: 408 },
  },
  kvm_interrupt: { size: 4, fields: { irq: 0 } },
  kvm_ioeventfd: { size: 64, fields: { datamatch: 0, addr: 8, len: 16, fd: 20, flags: 24 } },
  kvm_irqfd: { size: 32, fields: { fd: 0, gsi: 4, flags: 8, resamplefd: 12 } },
  kvm_irq_level: { size: 8, fields: { irq: 0, level: 4 } },
  kvm_enable_cap: { size: 104, fields: { cap: 0, flags: 4, args: 8 } },
  kvm_mp_state: { size: 4, fields: { mp_state: 0 } },
  kvm_vcpu_events: {
    size: 64,
    fields: {
      'exception.injected': 0, 'exception.pending': 3, 'interrupt.injected': 8, 'interrupt.nr': 9, 'interrupt.soft': 10,
      'nmi.injected': 12, flags: 20,
    },
  },
  kvm_irqchip: {
    size: 520,
    fields: {
      chip_id: 0, chip: 8,
      'chip.pic.irr': 9, 'chip.pic.imr': 10, 'chip.pic.isr': 11, 'chip.pic.irq_base': 13,
      'chip.pic.init_state': 17, 'chip.pic.auto_eoi': 18, 'chip.pic.init4': 21, 'chip.pic.elcr': 22,
    },
  },
  kvm_irq_routing: { size: 8, fields: { nr: 0, flags: 4, entries: 8 } },
  kvm_irq_routing_entry: {
    size: 48,
    fields: {
      gsi: 0, type: 4, flags: 8,
      'u.irqchip.irqchip': 16, 'u.irqchip.pin': 20,
      'u.msi.address_lo': 16, 'u.msi.address_hi': 20, 'u.msi.data': 24,
    },
  },
  kvm_run: {
    size: 2352,
    fields: {
      request_interrupt_window: 0, immediate_exit: 1, exit_reason: 8,
      ready_for_interrupt_injection: 12, if_flag: 13, flags: 14, cr8: 16, apic_base: 24,
      'hw.hardware_exit_reason': 32,
      'fail_entry.hardware_entry_failure_reason': 32, 'fail_entry.cpu': 40,
      'ex.exception': 32, 'ex.error_code': 36,
      'io.direction': 32, 'io.size': 33, 'io.port': 34, 'io.count': 36, 'io.data_offset': 40,
      'mmio.phys_addr': 32, 'mmio.data': 40, 'mmio.len': 48, 'mmio.is_write': 52,
      'internal.suberror': 32, 'internal.ndata': 36, 'internal.data': 40,
      'system_event.type': 32, 'system_event.ndata': 36, 'system_event.data': 40,
    },
  },
} as const satisfies Record<string, StructLayout>;

/** Element counts of the fixed arrays the binding walks. */
export const ARRAYS = {
  'kvm_run.internal.data': 16,
  'kvm_run.system_event.data': 16,
  'kvm_run.mmio.data': 8,
  'kvm_sregs.interrupt_bitmap': 4,
  'kvm_enable_cap.args': 4,
} as const;

/** KVM_EXIT_* (struct kvm_run.exit_reason). */
export const EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
} as const;

/** kvm_run.io.direction */
export const EXIT_IO = { in: 0, out: 1 } as const;
/** kvm_ioeventfd.flags */
export const IOEVENTFD_FLAG = { datamatch: 1, pio: 2 } as const;
/** kvm_irqfd.flags */
export const IRQFD_FLAG = { deassign: 1 } as const;
/** kvm_irq_routing_entry.type */
export const IRQ_ROUTING = { irqchip: 1, msi: 2 } as const;
/** kvm_irq_routing_entry.u.irqchip.irqchip: the in-kernel chips a GSI can be wired to. */
export const IRQCHIP = { picMaster: 0, picSlave: 1, ioapic: 2 } as const;
/** kvm_mp_state.mp_state (x86 values); HALTED is a vCPU sleeping in the kernel on HLT. */
export const MP_STATE = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
} as const;
/** kvm_userspace_memory_region.flags */
export const MEM_FLAG = { logDirtyPages: 1, readonly: 2 } as const;

/** KVM_CAP_* for checkExtension(). */
export const CAP = {
  IRQCHIP: 0,
  HLT: 1,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  TSC_CONTROL: 60,
  GET_TSC_KHZ: 61,
  MAX_VCPUS: 66,
  IMMEDIATE_EXIT: 136,
  IOEVENTFD: 36,
  MP_STATE: 14,
  IRQ_ROUTING: 25,
  IRQFD: 32,
  TSC_DEADLINE_TIMER: 72,
  SPLIT_IRQCHIP: 121,
  HALT_POLL: 182,
} as const;

/** The only KVM API version that exists since Linux 2.6.22. */
export const KVM_API_VERSION = 12;
