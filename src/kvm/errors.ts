/**
 * A failed KVM ioctl (or the open of /dev/kvm) is a SysError (src/sys) named after the
 * request, with a hint from this table saying what usually causes it and what to do.
 */
import { SysError, errnoName } from '../sys/errors.js';

/** Hints for the (call, errno code) pairs seen in practice; '*' matches any call. */
const HINTS: Record<string, string> = {
  'open:ENOENT': 'the device does not exist: load the KVM module (modprobe kvm_intel, kvm_amd or kvm_pvm) or enable nested virtualization for this VM',
  'open:EACCES': 'no permission: add the user to the group owning the device (usually `kvm`: sudo usermod -aG kvm $USER, then log in again) or run as root',
  'open:EPERM': 'not permitted: a container or seccomp policy blocks the device; pass it through (e.g. --device /dev/kvm)',
  'open:ENXIO': 'the KVM module is loaded but has no backend: the CPU virtualization extensions are disabled or missing',
  'open:ENODEV': 'the KVM module is loaded but has no backend: the CPU virtualization extensions are disabled or missing',
  'KVM_CREATE_VM:ENOMEM': 'the host is out of memory for a new VM',
  'KVM_CREATE_VM:EINVAL': 'this host does not support the requested VM type (use type 0)',
  'KVM_CREATE_VCPU:EEXIST': 'a vCPU with this id already exists in this VM',
  'KVM_CREATE_VCPU:EINVAL': 'the vCPU id is beyond KVM_CAP_MAX_VCPUS of this host',
  'KVM_SET_USER_MEMORY_REGION:EINVAL': 'guest_phys_addr, memory_size and userspace_addr must be page aligned and the slot number below KVM_CAP_NR_MEMSLOTS',
  'KVM_SET_USER_MEMORY_REGION:EEXIST': 'the region overlaps another memory slot',
  'KVM_SET_USER_MEMORY_REGION:EFAULT': 'userspace_addr is not mapped in this process',
  'KVM_SET_SREGS:EINVAL': 'a control register, EFER or segment value is not valid for this host (on PVM hosts CR4.PCIDE is refused; see docs/kvm-binding.md)',
  'KVM_SET_REGS:EINVAL': 'a register value is not valid',
  'KVM_SET_MSRS:EINVAL': 'an MSR value is invalid for this host',
  'KVM_SET_CPUID2:EINVAL': 'an entry is invalid or the vCPU has already run (CPUID must be set before the first KVM_RUN)',
  'KVM_SET_CPUID2:E2BIG': 'too many CPUID entries for this host',
  'KVM_GET_SUPPORTED_CPUID:E2BIG': 'the entry buffer is too small (the binding grows it; this is a bug if it escapes)',
  'KVM_INTERRUPT:ENXIO': 'KVM_INTERRUPT needs the userspace irqchip: do not create an in-kernel irqchip',
  'KVM_INTERRUPT:EEXIST': 'an interrupt is already pending injection; wait for the next exit with ready_for_interrupt_injection',
  'KVM_CREATE_IRQCHIP:EEXIST': 'this VM already has an in-kernel irqchip',
  'KVM_CREATE_IRQCHIP:EINVAL': 'the irqchip must be created before the first vCPU',
  'KVM_IRQFD:EINVAL': 'no in-kernel irqchip (call createIrqchip() first), or the fd is not an eventfd',
  'KVM_IRQFD:EBUSY': 'this eventfd is already bound to a GSI of this VM; unbind it first (deassign)',
  'KVM_IRQ_LINE:ENXIO': 'KVM_IRQ_LINE needs an in-kernel irqchip: call createIrqchip() first',
  'KVM_SET_GSI_ROUTING:EINVAL': 'an entry is invalid (GSI at or above KVM_CAP_IRQ_ROUTING, unknown type, irqchip pin out of range) or there is no in-kernel irqchip',
  'KVM_ENABLE_CAP:EINVAL': 'this KVM cannot enable the capability on this fd, or an argument is out of range',
  'KVM_RUN:EINTR': 'a signal interrupted KVM_RUN (the kick); clear immediate_exit before running again',
  'KVM_RUN:EFAULT': 'the guest touched a memory slot whose host memory is no longer mapped',
  'KVM_RUN:ENOEXEC': 'the vCPU state is invalid for VM entry; check CR0/CR4/EFER and segment registers',
  'KVM_RUN:ENOMEM': 'the host is out of memory',
  '*:EBADF': 'the file descriptor is closed or not a KVM fd',
  '*:ENOTTY': 'this KVM does not implement the ioctl, or it was sent to the wrong kind of fd (system, VM or vCPU)',
  '*:EFAULT': 'the kernel could not read or write the argument buffer',
};

export function hintFor(call: string, code: string): string {
  return HINTS[`${call}:${code}`] ?? HINTS[`*:${code}`] ?? '';
}

/**
 * The error for a failed KVM request.
 * @param call the request name ('KVM_SET_SREGS') or the call ('open') that failed
 * @param errno the positive errno value
 * @param detail extra context appended after the hint (e.g. the path or the MSR index)
 */
export function kvmError(call: string, errno: number, detail = ''): SysError {
  const hint = [hintFor(call, errnoName(errno)), detail].filter((s) => s !== '').join('; ');
  return new SysError(call, errno, hint);
}
