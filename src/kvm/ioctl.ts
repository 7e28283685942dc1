/**
 * KVM ioctl request numbers, derived the way <asm-generic/ioctl.h> does it:
 *   _IOC(dir, type, nr, size) = dir << 30 | size << 16 | type << 8 | nr
 * with the argument sizes taken from the checked struct layouts (layout.ts). The values are
 * compared with the C macros by test/kvm-layout.test.ts.
 */
import { LAYOUT } from './layout.js';

const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;
const IOC_SIZEBITS = 14;

/** KVMIO, the ioctl "type" byte of every KVM request. */
export const KVMIO = 0xae;

/** _IOC; built with multiplication, not shifts, so dir=2/3 stays a positive JS number. */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  if (size < 0 || size >= 1 << IOC_SIZEBITS) throw new RangeError(`ioctl argument size ${size} does not fit in 14 bits`);
  return dir * 2 ** 30 + size * 2 ** 16 + type * 2 ** 8 + nr;
}
export const io = (type: number, nr: number): number => ioc(IOC_NONE, type, nr, 0);
export const ior = (type: number, nr: number, size: number): number => ioc(IOC_READ, type, nr, size);
export const iow = (type: number, nr: number, size: number): number => ioc(IOC_WRITE, type, nr, size);
export const iowr = (type: number, nr: number, size: number): number => ioc(IOC_READ | IOC_WRITE, type, nr, size);

const U64 = 8;

/** Request numbers by name; the names are used in error messages. */
export const IOCTL = {
  // /dev/kvm
  KVM_GET_API_VERSION: io(KVMIO, 0x00),
  KVM_CREATE_VM: io(KVMIO, 0x01),
  KVM_GET_MSR_INDEX_LIST: iowr(KVMIO, 0x02, LAYOUT.kvm_msr_list.size),
  KVM_CHECK_EXTENSION: io(KVMIO, 0x03),
  KVM_GET_VCPU_MMAP_SIZE: io(KVMIO, 0x04),
  KVM_GET_SUPPORTED_CPUID: iowr(KVMIO, 0x05, LAYOUT.kvm_cpuid2.size),
  // VM fd
  KVM_CREATE_VCPU: io(KVMIO, 0x41),
  KVM_SET_USER_MEMORY_REGION: iow(KVMIO, 0x46, LAYOUT.kvm_userspace_memory_region.size),
  KVM_SET_TSS_ADDR: io(KVMIO, 0x47),
  KVM_SET_IDENTITY_MAP_ADDR: iow(KVMIO, 0x48, U64),
  KVM_CREATE_IRQCHIP: io(KVMIO, 0x60),
  KVM_IRQ_LINE: iow(KVMIO, 0x61, LAYOUT.kvm_irq_level.size),
  KVM_GET_IRQCHIP: iowr(KVMIO, 0x62, LAYOUT.kvm_irqchip.size),
  // sic: _IOR in <linux/kvm.h> although the kernel reads the argument
  KVM_SET_IRQCHIP: ior(KVMIO, 0x63, LAYOUT.kvm_irqchip.size),
  KVM_SET_GSI_ROUTING: iow(KVMIO, 0x6a, LAYOUT.kvm_irq_routing.size),
  KVM_IRQFD: iow(KVMIO, 0x76, LAYOUT.kvm_irqfd.size),
  KVM_IOEVENTFD: iow(KVMIO, 0x79, LAYOUT.kvm_ioeventfd.size),
  // VM fd (also vCPU fd for some capabilities)
  KVM_ENABLE_CAP: iow(KVMIO, 0xa3, LAYOUT.kvm_enable_cap.size),
  // vCPU fd
  KVM_SET_TSC_KHZ: io(KVMIO, 0xa2),
  KVM_GET_TSC_KHZ: io(KVMIO, 0xa3),
  KVM_RUN: io(KVMIO, 0x80),
  KVM_GET_REGS: ior(KVMIO, 0x81, LAYOUT.kvm_regs.size),
  KVM_SET_REGS: iow(KVMIO, 0x82, LAYOUT.kvm_regs.size),
  KVM_GET_SREGS: ior(KVMIO, 0x83, LAYOUT.kvm_sregs.size),
  KVM_SET_SREGS: iow(KVMIO, 0x84, LAYOUT.kvm_sregs.size),
  KVM_INTERRUPT: iow(KVMIO, 0x86, LAYOUT.kvm_interrupt.size),
  KVM_GET_MSRS: iowr(KVMIO, 0x88, LAYOUT.kvm_msrs.size),
  KVM_SET_MSRS: iow(KVMIO, 0x89, LAYOUT.kvm_msrs.size),
  KVM_GET_FPU: ior(KVMIO, 0x8c, LAYOUT.kvm_fpu.size),
  KVM_SET_FPU: iow(KVMIO, 0x8d, LAYOUT.kvm_fpu.size),
  KVM_SET_CPUID2: iow(KVMIO, 0x90, LAYOUT.kvm_cpuid2.size),
  KVM_GET_MP_STATE: ior(KVMIO, 0x98, LAYOUT.kvm_mp_state.size),
  KVM_SET_MP_STATE: iow(KVMIO, 0x99, LAYOUT.kvm_mp_state.size),
  KVM_GET_VCPU_EVENTS: ior(KVMIO, 0x9f, LAYOUT.kvm_vcpu_events.size),
  KVM_SET_VCPU_EVENTS: iow(KVMIO, 0xa0, LAYOUT.kvm_vcpu_events.size),
} as const;

export type IoctlName = keyof typeof IOCTL;
