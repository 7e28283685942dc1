/* protection = "page-tables" (alias "ring3"): the app runs in ring 3 on its own page table,
 * which maps nothing of the kernel but the entry area (read-only but for the RSP0 stack).
 * SYSCALL arrives on the app's table; the entry stub writes CR3 to reach the kernel and
 * again before SYSRETQ (entry.S). Exceptions from ring 3 switch to TSS.RSP0 in the entry
 * block and the stub writes CR3 (trap_common). On PVM each CR3 write traps to the host
 * (~2.5 us) and SYSRETQ is emulated: ~8.6 us per crossing there.
 *
 * protection = "none" keeps the same page tables but never uses the app's: the app runs in
 * ring 0 on the kernel's table (which maps the app) and ix_bpoll is a function call. */
#include "protection.h"
#include "app.h"
#include "mm.h"
#include "platform.h"
#include "trap.h"

extern void ix_syscall_entry(void);
extern _Noreturn void ix_enter_app(uint64_t rip, uint64_t rsp, uint64_t arg);
extern _Noreturn void ix_enter_app_ring0(uint64_t rip, uint64_t rsp, uint64_t arg);
extern _Noreturn void ix_resume_app_sysret(struct trap_frame *f);

void resume_app_pvm(struct percpu *c, struct trap_frame *f)
{
    if (plat->id != IX_PLATFORM_PVM)
        return; /* natively trap_common returns with IRETQ */
    /* RIP, RCX, R11, RFLAGS (the trampoline's pop order reversed) below the red zone */
    uint64_t sp = f->rsp - RESUME_RED_ZONE - 4 * 8;
    if (f->rsp < RESUME_RED_ZONE + 4 * 8 || !app_range_ok(c->app, sp, 4 * 8, VMA_R | VMA_W))
        app_fault(c, f); /* no stack to resume on: stopped, reported with the interrupt's vector */
    uint64_t *s = (uint64_t *)sp; /* the kernel's table maps the app */
    s[0] = f->rflags;
    s[1] = f->r11;
    s[2] = f->rcx;
    s[3] = f->rip;
    f->rsp = sp;
    ix_resume_app_sysret(f);
}

static void map_kernel_part(struct percpu *c, uint64_t upml4)
{
    uint64_t ublock = plat->entry_pte_user;
    uint64_t eb_pa = virt_to_phys(c->eb);
    /* page 0 (header, GDT, TSS) is read-only to the app; the RSP0 stack is not */
    for (uint64_t off = 0; off < ENTRY_BLOCK_SIZE; off += PAGE_SIZE)
        map_page(upml4, ENTRY_VA + off, eb_pa + off, (off ? PTE_W : 0) | ublock | PTE_NX);
    map_entry_text(upml4, ublock);
    map_idt_pages(upml4, ublock);
}

const struct boundary boundary_page_tables = {
    .name = "page-tables",
    .id = IX_PROT_PAGE_TABLES,
    .pvm_ctl_flags = 0,
    .syscall_entry = ix_syscall_entry,
    .cpu_init = 0,
    .map_kernel_part = map_kernel_part,
    .enter_app = ix_enter_app,
};

const struct boundary boundary_none = {
    .name = "none",
    .id = IX_PROT_NONE,
    .pvm_ctl_flags = 0,
    .syscall_entry = ix_syscall_entry,
    .cpu_init = 0,
    .map_kernel_part = map_kernel_part,
    .enter_app = ix_enter_app_ring0,
};
