/**
 * The FFI binding of /dev/kvm (see docs/kvm-binding.md). The only module in ix that knows
 * ioctl numbers and struct layouts.
 */
export { Kvm, Vm, type MemoryRegion } from './kvm.js';
export { Vcpu, KICK_SIGNAL, installKickHandler, removeKickHandler } from './vcpu.js';
export { kvmError, hintFor } from './errors.js';
export { msiAddress, encodeIrqfd, encodeIrqLevel, encodeEnableCap, encodeGsiRouting, type GsiRoute } from './irq.js';
export { SysError } from '../sys/errors.js';
export { RunArea, ExitDecoder, IoExit, MmioExit, InternalErrorExit, FailEntryExit, SystemEventExit, UnknownExit, type VcpuExit, type ExitReason, type HltExit, type ShutdownExit, type IntrExit, type IrqWindowOpenExit } from './exit.js';
export { REG_NAMES, SEGMENT_NAMES, StructValueError, type Regs, type RegName, type Sregs, type Segment, type SegmentName, type DTable, type CpuidEntry, type MsrEntry, type Fpu } from './structs.js';
export { LAYOUT, ARRAYS, EXIT, EXIT_IO, CAP, MEM_FLAG, IOEVENTFD_FLAG, IRQFD_FLAG, IRQ_ROUTING, IRQCHIP, MP_STATE, KVM_API_VERSION, type StructLayout } from './layout.js';
export { IOCTL, KVMIO, ioc, io, ior, iow, iowr, type IoctlName } from './ioctl.js';
export * as libc from '../sys/libc.js';
