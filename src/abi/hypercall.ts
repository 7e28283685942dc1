/**
 * guest/include/ix/hypercall.h: a hypercall is a 4-byte OUT to HC_PORT whose value is the
 * guest-physical address of a struct ix_hcall; the vCPU worker reads it (bounds-checked)
 * and acts on it.
 */
import { array, defineStruct, nested, u32, u64 } from './struct.js';

export const HC_PORT = 0x1e0;
export const HC = { appExit: 1, appFault: 2, panic: 3, logKick: 4, idle: 5, refuse: 6 } as const;

export const FAULT_KINDS: Record<number, string> = {
  1: 'page fault',
  2: 'invalid instruction',
  3: 'general protection fault',
  4: 'bad call array',
  5: 'exception',
  6: 'divide error',
  7: 'bad event report',
  8: 'runaway app',
};
/** ix_fault.kind of an app stopped by the runaway watchdog (error_code: the ms it ran) */
export const FAULT_RUNAWAY = 8;

/** enum ix_reg: the order of ix_fault.regs (not kvm_regs' order) */
export const FAULT_REG_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const;

export const Fault = defineStruct('ix_fault', 176, {
  kind: u32(0), vector: u32(4), errorCode: u64(8), addr: u64(16), regs: array('u64', 24, FAULT_REG_NAMES.length), tsc: u64(168),
});

export const Hcall = defineStruct('ix_hcall', 200, {
  nr: u32(0), cpu: u32(4), a0: u64(8), a1: u64(16), fault: nested(24, Fault),
});
