/* Exceptions and interrupts. From the kernel: a #GP/#PF at an instruction listed in
 * .ex_table resumes at its fixup, an interrupt is acknowledged, anything else is a panic.
 * From an app: the app is stopped and the host gets a report (kind, RIP, address,
 * registers); the dataplane keeps running. */
#include "trap.h"
#include "app.h"
#include "console.h"
#include "hcall.h"
#include "lapic.h"
#include "platform.h"
#include "runaway.h"
#include "x86.h"
#include "../lib/string.h"

extern const uint64_t __ex_table_start[], __ex_table_end[];

static const char *const vector_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound",
    "#UD invalid opcode", "#NM no FPU", "#DF double fault", "coprocessor overrun", "#TS invalid TSS",
    "#NP segment not present", "#SS stack fault", "#GP general protection", "#PF page fault", "reserved",
    "#MF x87 error", "#AC alignment check", "#MC machine check", "#XM SIMD error", "#VE virtualization",
    "#CP control protection", "reserved", "reserved", "reserved", "reserved", "reserved", "reserved",
    "#HV", "#VC", "#SX", "reserved"};

static int fixup(struct trap_frame *f)
{
    for (const uint64_t *e = __ex_table_start; e < __ex_table_end; e += 2) {
        if (e[0] == f->rip) {
            f->rip = e[1];
            return 1;
        }
    }
    return 0;
}

static void fill_regs(struct ix_fault *r, const struct trap_frame *f)
{
    r->regs[IX_REG_RAX] = f->rax;
    r->regs[IX_REG_RBX] = f->rbx;
    r->regs[IX_REG_RCX] = f->rcx;
    r->regs[IX_REG_RDX] = f->rdx;
    r->regs[IX_REG_RSI] = f->rsi;
    r->regs[IX_REG_RDI] = f->rdi;
    r->regs[IX_REG_RBP] = f->rbp;
    r->regs[IX_REG_RSP] = f->rsp;
    r->regs[IX_REG_R8] = f->r8;
    r->regs[IX_REG_R9] = f->r9;
    r->regs[IX_REG_R10] = f->r10;
    r->regs[IX_REG_R11] = f->r11;
    r->regs[IX_REG_R12] = f->r12;
    r->regs[IX_REG_R13] = f->r13;
    r->regs[IX_REG_R14] = f->r14;
    r->regs[IX_REG_R15] = f->r15;
    r->regs[IX_REG_RIP] = f->rip;
    r->regs[IX_REG_RFLAGS] = f->rflags;
}

static _Noreturn void report_app_fault(struct percpu *c)
{
    hcall(c, IX_HC_APP_FAULT, 0, 0);
    app_stopped(c);
}

_Noreturn void app_fault_bad_calls(struct percpu *c, uint64_t calls, uint64_t n)
{
    struct ix_fault *r = &c->hc.fault;
    memset(r, 0, sizeof *r);
    r->kind = IX_FAULT_BAD_CALLS;
    r->vector = 0xffffffff;
    r->addr = calls;
    r->error_code = n;
    /* the app's RIP and RSP were saved by the syscall entry on the kernel stack */
    uint64_t *top = (uint64_t *)c->kstack_top;
    r->regs[IX_REG_RSP] = top[-1];
    r->regs[IX_REG_RIP] = top[-2];
    r->regs[IX_REG_RDI] = calls;
    r->regs[IX_REG_RSI] = n;
    report_app_fault(c);
}

_Noreturn void app_fault_bad_report(struct percpu *c, uint64_t frame)
{
    struct ix_fault *r = &c->hc.fault;
    memset(r, 0, sizeof *r);
    r->kind = IX_FAULT_BAD_REPORT;
    r->vector = 0xffffffff;
    r->addr = frame;
    uint64_t *top = (uint64_t *)c->kstack_top;
    r->regs[IX_REG_RSP] = top[-1];
    r->regs[IX_REG_RIP] = top[-2];
    r->regs[IX_REG_RDI] = frame;
    report_app_fault(c);
}

_Noreturn void app_fault(struct percpu *c, const struct trap_frame *f)
{
    uint64_t tsc = rdtsc();
    struct ix_fault *r = &c->hc.fault;
    memset(r, 0, sizeof *r);
    r->tsc = tsc;
    r->vector = (uint32_t)f->vector;
    r->error_code = f->error;
    switch (f->vector) {
    case 14:
        r->kind = IX_FAULT_PAGE;
        r->addr = plat->read_cr2(c);
        break;
    case 6:
        r->kind = IX_FAULT_INVALID_OP;
        break;
    case 13:
        r->kind = IX_FAULT_GP;
        break;
    case 0:
        r->kind = IX_FAULT_DIVIDE;
        break;
    default:
        r->kind = IX_FAULT_OTHER;
    }
    fill_regs(r, f);
    report_app_fault(c);
}

_Noreturn void app_fault_runaway(struct percpu *c, const struct trap_frame *f, uint64_t ms)
{
    struct ix_fault *r = &c->hc.fault;
    memset(r, 0, sizeof *r);
    r->tsc = rdtsc();
    r->kind = IX_FAULT_RUNAWAY;
    r->vector = (uint32_t)f->vector;
    r->error_code = ms;
    fill_regs(r, f);
    report_app_fault(c);
}

void trap_dispatch(struct trap_frame *f)
{
    if (f->cs & 3)
        smap_close(this_cpu()); /* the app may have set AC before it trapped */
    if (f->vector >= 32) {
        struct percpu *c = this_cpu();
        if (c->lapic && f->vector != IX_VECTOR_SPURIOUS)
            lapic_eoi(c); /* before anything that may not return */
        if (f->vector == IX_VECTOR_WAKE_NIC)
            c->status->irq_nic++;
        else if (f->vector == IX_VECTOR_WAKE_TIMER)
            c->status->irq_timer++;
        /* In the app: the host's runaway interrupt (or a late one: then the app goes on).
         * In the kernel: a wake-up, whose work is picked up by the loop that halted. */
        if (f->cs & 3) {
            runaway_check(this_cpu(), f);
            resume_app_pvm(this_cpu(), f);
        }
        return;
    }
    if (f->cs & 3) {
        app_fault(this_cpu(), f); /* does not return */
    }
    if ((f->vector == 13 || f->vector == 14) && fixup(f))
        return;
    struct percpu *c = this_cpu();
    uint64_t cr2 = f->vector == 14 ? plat->read_cr2(c) : 0;
    panic_on(c,
             "kernel %s (vector %lu) error %lx at rip %lx cr2 %lx\n"
             " rax %lx rbx %lx rcx %lx rdx %lx rsi %lx rdi %lx rbp %lx rsp %lx",
             vector_names[f->vector], f->vector, f->error, f->rip, cr2, f->rax, f->rbx, f->rcx, f->rdx,
             f->rsi, f->rdi, f->rbp, f->rsp);
}
