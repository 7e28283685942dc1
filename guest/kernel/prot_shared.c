/* protection = "shared-page-table" (hardware virtualization only; docs/protection.md).
 *
 * One page table per core, as in a conventional kernel: the app's pages are user pages
 * (U=1) in slot 0, and every kernel page is supervisor-only (U=0): the direct map through
 * its PML4 entry, the entry block through its leaves. The U/S bit is the boundary; no CR3
 * is written on a crossing, so a crossing costs SYSCALL + SYSRETQ and no TLB flush. SMEP
 * keeps the kernel from ever executing an app page; SMAP from touching one except inside
 * ix_bpoll's dispatch, which works on the app's memory in place (entry_shared.S sets
 * RFLAGS.AC there; every other kernel path runs with AC clear: smap_close()).
 *
 * Not on PVM: there the kernel itself runs at hardware CPL 3, a present U=0 page can never
 * be accessed by anyone, so every kernel page would have to be U=1 and open to the app
 * (prot_select refuses it). Events from ring 3 arrive as under "page-tables": through the
 * boot IDT's DPL-0 gates onto TSS.RSP0 in the entry block. */
#include "protection.h"
#include "mm.h"
#include "platform.h"
#include "x86.h"

extern void ix_syscall_entry_shared(void);
extern _Noreturn void ix_enter_app_hs(uint64_t rip, uint64_t rsp, uint64_t arg);

static void map_kernel_part(struct percpu *c, uint64_t upml4)
{
    /* The app's own table only lends its slot 0 to the kernel's (app.c): nothing of the
     * kernel goes into it, and it is never loaded. */
    (void)c;
    (void)upml4;
}

static void cpu_init(struct percpu *c)
{
    /* Both "page tables" of the pair are the kernel's: trap_common's CR3 writes on entry
     * from and return to the app load the same table. */
    c->ucr3 = c->kcr3;
    c->eb->ucr3 = c->kcr3;
    write_cr4(read_cr4() | CR4_SMEP | CR4_SMAP);
    c->smap = 1;
}

const struct boundary boundary_shared_page_table = {
    .name = "shared-page-table",
    .id = IX_PROT_SHARED_PAGE_TABLE,
    .pvm_ctl_flags = 0,
    .syscall_entry = ix_syscall_entry_shared,
    .cpu_init = cpu_init,
    .map_kernel_part = map_kernel_part,
    /* SYSRETQ without a CR3 write: the same first entry as pvm-host-switch's */
    .enter_app = ix_enter_app_hs,
};
