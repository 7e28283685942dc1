#ifndef IX_KERNEL_TRAP_H
#define IX_KERNEL_TRAP_H
#include <stdint.h>
#include "percpu.h"

/* Saved by trap_common in entry.S, lowest address first. */
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

void trap_dispatch(struct trap_frame *f);
_Noreturn void app_fault_bad_calls(struct percpu *c, uint64_t calls, uint64_t n);
/* Stop the app after an exception it took (f: its registers) and report it to the host. */
_Noreturn void app_fault(struct percpu *c, const struct trap_frame *f);
/* After an interrupt the app survives: on PVM resume it through SYSRETQ (never returns);
 * natively return, and trap_common resumes it with IRETQ (prot_pagetables.c). */
void resume_app_pvm(struct percpu *c, struct trap_frame *f);
/* Stop an app that ran `ms` milliseconds without returning (runaway.c). */
_Noreturn void app_fault_runaway(struct percpu *c, const struct trap_frame *f, uint64_t ms);
/* pvm-host-switch: an event report whose frame is not the app's memory. */
_Noreturn void app_fault_bad_report(struct percpu *c, uint64_t frame);

#endif
