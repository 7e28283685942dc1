/* protection = "pvm-host-switch" (PVM hosts only; docs/protection.md).
 *
 * The same pair of page tables as "page-tables" (kernel PGD 8 KiB aligned, the app's at
 * kernel PGD + 0x1000), but the kernel never writes CR3 on a crossing. With MSR_PVM_CTL
 * flag bits 0 (the host treats CR3 bit 12 as "user page table") and 2 (SYSCALL from user
 * mode arrives with CR3 bit 12 cleared), the host itself switches to the kernel PGD on
 * SYSCALL and back to the app's on SYSRETQ: one exit per crossing instead of three.
 *
 * The price is event delivery. With flag bit 0 the host cannot deliver an event from user
 * mode that needs a stack switch (it reads TSS.RSP0 through the app's CR3 and raises #SS,
 * then #DF, then the vCPU triple-faults). So every gate of this mode's IDT is a *user-level*
 * gate (selector 0x33, DPL 3, no IST): an event in user mode is delivered at CPL 3, on the
 * app's stack and page table, to a stub in the entry text (entry_hostswitch.S). The stub
 * saves the registers and reports the event with SYSCALL; ix_event_report() below decides.
 * The report is the app's claim: a claimed exception stops the app (whether it is true or
 * not, stopping is the right outcome), a claimed interrupt costs the app a crossing and
 * nothing else. What the app can do that it cannot under "page-tables": crash its own vCPU
 * (a frame push to an unmapped RSP ends in a triple fault, KVM_EXIT_SHUTDOWN), and have
 * its stack below RSP overwritten by an interrupt frame (apps are built with -mno-red-zone).
 *
 * The app's page table maps, read-only: the entry text (the stubs), the IDT pages, and
 * page 0 of the entry block (GDT, TSS). No RSP0 stack: nothing is ever delivered there. */
#include "protection.h"
#include "app.h"
#include "cpu.h"
#include "mm.h"
#include "platform.h"
#include "runaway.h"
#include "trap.h"
#include "x86.h"
#include "../lib/string.h"

extern void ix_syscall_entry_hs(void);
extern _Noreturn void ix_enter_app_hs(uint64_t rip, uint64_t rsp, uint64_t arg);
extern const uint64_t hs_event_vectors[IDT_VECTORS];

/* The user-level IDT, in its own page of the IDT section (mapped read-only for the app). */
static struct idt_gate idt_user[256] __attribute__((section(".data.idt"), aligned(4096)));

_Static_assert(SYSCALL_EVENT_REPORT == IX_SYSCALL_EVENT_REPORT, "entry_hostswitch.S and ix/abi.h");

#define PVM_CTL_KPTI (1u << 0)            /* CR3 bit 12 = the user page table */
#define PVM_CTL_PREFLIP_SYSCALL (1u << 2) /* SYSCALL from user mode clears CR3 bit 12 */

static void map_kernel_part(struct percpu *c, uint64_t upml4)
{
    uint64_t u = plat->entry_pte_user;
    map_page(upml4, ENTRY_VA, virt_to_phys(c->eb), u | PTE_NX); /* GDT, TSS: read-only */
    map_entry_text(upml4, u);
    map_idt_pages(upml4, u);
}

static void cpu_init(struct percpu *c)
{
    (void)c;
    /* 64-bit interrupt gates to CPL 3 code: present, DPL 3, type 0xe. */
    idt_fill(idt_user, hs_event_vectors, SEL_UCODE | 3, 0xee);
    lidt(idt_user, IDT_VECTORS * sizeof(struct idt_gate) - 1);
}

/* SYSCALL with %rax = IX_SYSCALL_EVENT_REPORT: the stub (or the app pretending to be it)
 * says an event arrived in user mode; frame_va points at the registers it saved, in the
 * layout of struct trap_frame. Returns 0 to resume the app (a claimed interrupt); stops
 * the app otherwise. The frame is app memory: it is checked, then copied once. */
long ix_event_report(uint64_t frame_va)
{
    struct percpu *c = this_cpu();
    struct trap_frame f;
    if (!app_range_ok(c->app, frame_va, sizeof f, VMA_R | VMA_W))
        app_fault_bad_report(c, frame_va);
    memcpy(&f, (const void *)frame_va, sizeof f);
    if (f.vector >= 32) {
        runaway_check(c, &f); /* returns unless the app ran past [app] max_run_ms */
        return 0;             /* the app goes on */
    }
    app_fault(c, &f);
}

const struct boundary boundary_pvm_host_switch = {
    .name = "pvm-host-switch",
    .id = IX_PROT_PVM_HOST_SWITCH,
    .pvm_ctl_flags = PVM_CTL_KPTI | PVM_CTL_PREFLIP_SYSCALL,
    .syscall_entry = ix_syscall_entry_hs,
    .cpu_init = cpu_init,
    .map_kernel_part = map_kernel_part,
    .enter_app = ix_enter_app_hs,
};
