/* Hypercalls: the guest kernel's rare requests to the host (docs/guest-kernel.md).
 *
 * A hypercall is `outl %eax, $IX_HC_PORT` where %eax holds the guest-physical address of a
 * struct ix_hcall (below 4 GiB). On PVM hosts an exit costs 25-38 us, so hypercalls are
 * never on the packet path: they report faults, exits and panics. Console text does not use
 * them (see logring.h). The host treats every field as untrusted.
 */
#ifndef IX_HYPERCALL_H
#define IX_HYPERCALL_H

#include <stdint.h>

#define IX_HC_PORT 0x1e0

enum ix_hc_nr {
    IX_HC_APP_EXIT = 1,   /* a0 = exit status of the app on this CPU */
    IX_HC_APP_FAULT = 2,  /* the app on this CPU was stopped: payload = struct ix_fault */
    IX_HC_PANIC = 3,      /* the kernel cannot go on: a0 = GPA of a message, a1 = its length */
    IX_HC_LOG_KICK = 4,   /* the log ring is filling up: drain it now */
    IX_HC_IDLE = 5,       /* nothing left to do on this CPU */
    IX_HC_REFUSE = 6,     /* the configured protection cannot run on this platform:
                             a0 = GPA of the reason, a1 = its length; the CPU halts */
};

/* Why an app was stopped. */
enum ix_fault_kind {
    IX_FAULT_PAGE = 1,        /* #PF: touched memory it does not own, or wrote read-only memory */
    IX_FAULT_INVALID_OP = 2,  /* #UD */
    IX_FAULT_GP = 3,          /* #GP (privileged instruction, non-canonical address ...) */
    IX_FAULT_BAD_CALLS = 4,   /* ix_bpoll given a call array outside its memory */
    IX_FAULT_OTHER = 5,       /* any other exception: see vector */
    IX_FAULT_DIVIDE = 6,      /* #DE */
    IX_FAULT_BAD_REPORT = 7,  /* pvm-host-switch: an event report whose frame is not in the app */
    IX_FAULT_RUNAWAY = 8,     /* ran max_run_ms without returning to the dataplane: error_code =
                                 the milliseconds it ran, regs = where it was stopped */
};

/* Registers at the fault, in this order (struct ix_fault.regs). */
enum ix_reg {
    IX_REG_RAX, IX_REG_RBX, IX_REG_RCX, IX_REG_RDX, IX_REG_RSI, IX_REG_RDI, IX_REG_RBP, IX_REG_RSP,
    IX_REG_R8, IX_REG_R9, IX_REG_R10, IX_REG_R11, IX_REG_R12, IX_REG_R13, IX_REG_R14, IX_REG_R15,
    IX_REG_RIP, IX_REG_RFLAGS, IX_NREGS
};

struct ix_fault {
    uint32_t kind;      /* IX_FAULT_* */
    uint32_t vector;    /* exception vector (0-31), or 0xffffffff for a software check */
    uint64_t error_code;
    uint64_t addr;      /* faulting address (CR2 for #PF, the bad pointer for BAD_CALLS) */
    uint64_t regs[IX_NREGS];
    uint64_t tsc;       /* the kernel's TSC when it took the fault (for the boundary benchmark) */
};

struct ix_hcall {
    uint32_t nr;   /* IX_HC_* */
    uint32_t cpu;
    uint64_t a0;
    uint64_t a1;
    struct ix_fault fault; /* valid for IX_HC_APP_FAULT */
};

#endif
