/* Choosing the boundary (docs/protection.md). Which modes a platform can enforce:
 *
 *   page-tables        both  two page tables per core, the kernel switches CR3 on each crossing
 *   pvm-host-switch    PVM   the same two tables, but the host switches CR3 on SYSCALL/SYSRET
 *                            (MSR_PVM_CTL flags 0x15) and events reach user-level stubs
 *   shared-page-table  native one table, the U/S bit protects, SMEP and SMAP on (needs
 *                            both in CPUID). On PVM U/S cannot protect: a present U=0 page
 *                            can never be accessed, by the kernel either (docs/pvm.md), so
 *                            every kernel page would have to be U=1, open to the app.
 *   none               both  no boundary
 *   auto               the fastest mode that isolates memory and availability: page-tables
 *                      on PVM (pvm-host-switch lets an app crash its core), shared-page-table
 *                      natively (page-tables if the CPU lacks SMEP or SMAP).
 */
#include "protection.h"
#include "cpu.h"
#include "hcall.h"
#include "mm.h"
#include "platform.h"
#include "x86.h"
#include "../lib/string.h"

const struct boundary *boundary;

extern char __entry_text_start[], __entry_text_end[], __idt_page[], __idt_end[];

void map_entry_text(uint64_t upml4, uint64_t pte_user)
{
    for (char *p = __entry_text_start; p < __entry_text_end; p += PAGE_SIZE)
        map_page(upml4, (uint64_t)p, virt_to_phys(p), pte_user);
}

void map_idt_pages(uint64_t upml4, uint64_t pte_user)
{
    for (char *p = __idt_page; p < __idt_end; p += PAGE_SIZE)
        map_page(upml4, (uint64_t)p, virt_to_phys(p), pte_user | PTE_NX);
}

static _Noreturn void refuse(struct percpu *c, const char *why)
{
    /* Emulated on PVM: one exit, a constant string, no formatting. */
    hcall(c, IX_HC_REFUSE, virt_to_phys(why), strlen(why));
    for (;;)
        __asm__ volatile("hlt");
}

static int has_smep_smap(const struct percpu *c)
{
    uint32_t need = CPUID7_EBX_SMEP | CPUID7_EBX_SMAP;
    return (c->cpuid_7_ebx & need) == need;
}

void prot_select(struct percpu *c)
{
    int pvm = plat->id == IX_PLATFORM_PVM;
    switch (c->bi->protection) {
    case IX_PROT_AUTO:
        /* the fastest boundary that isolates memory and availability on this platform */
        boundary = !pvm && has_smep_smap(c) ? &boundary_shared_page_table : &boundary_page_tables;
        break;
    case IX_PROT_PAGE_TABLES:
        boundary = &boundary_page_tables;
        break;
    case IX_PROT_NONE:
        boundary = &boundary_none;
        break;
    case IX_PROT_PVM_HOST_SWITCH:
        if (!pvm)
            refuse(c, "protection \"pvm-host-switch\" needs a kvm_pvm host (the host switches CR3 on "
                      "SYSCALL/SYSRET there); this guest runs under hardware virtualization (native): "
                      "use \"shared-page-table\", \"page-tables\" or \"auto\"");
        boundary = &boundary_pvm_host_switch;
        break;
    case IX_PROT_SHARED_PAGE_TABLE:
        if (pvm)
            refuse(c, "protection \"shared-page-table\" cannot protect on a kvm_pvm host: the U/S bit "
                      "does not separate app from kernel there (the PVM guest kernel itself runs in "
                      "hardware ring 3, a present U=0 page can never be accessed, so every kernel page "
                      "would be open to the app); use \"page-tables\", \"pvm-host-switch\" or \"auto\"");
        if (!has_smep_smap(c))
            refuse(c, "protection \"shared-page-table\" needs SMEP and SMAP, which this vCPU's CPUID "
                      "does not offer (without them the kernel could be made to run or read app pages): "
                      "use \"page-tables\" or \"auto\"");
        boundary = &boundary_shared_page_table;
        break;
    default:
        refuse(c, "unknown protection mode in boot info: the host and the guest kernel disagree "
                  "(rebuild both with `npm run build`)");
    }
    c->status->protection = boundary->id;
}
