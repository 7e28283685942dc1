/* Protection boundaries between an app and the dataplane (docs/protection.md).
 *
 * A boundary is what the app's page table maps of the kernel, how the app enters the kernel
 * (SYSCALL entry, IDT) and how the kernel enters the app. Each one lives in its own file
 * (prot_*.c); this header is the interface the rest of the kernel uses. The configured mode
 * (bootinfo.protection) is resolved against the detected platform once per CPU, before the
 * switch to native execution, because PVM needs some boundaries' flags in MSR_PVM_CTL. */
#ifndef IX_KERNEL_PROTECTION_H
#define IX_KERNEL_PROTECTION_H
#include <stdint.h>
#include "percpu.h"

struct boundary {
    const char *name;         /* as in the config file */
    uint32_t id;              /* IX_PROT_* */
    uint64_t pvm_ctl_flags;   /* extra MSR_PVM_CTL flag bits (PVM only) */
    void (*syscall_entry)(void); /* LSTAR */
    /* Per-CPU set-up once native, after the CPU loaded its page table (NULL: none). */
    void (*cpu_init)(struct percpu *c);
    /* Map into the app's page table (upml4) what of the kernel the CPU needs while the
     * app runs: entry code, descriptor tables, the entry block. */
    void (*map_kernel_part)(struct percpu *c, uint64_t upml4);
    /* Start the app: never returns. */
    void (*enter_app)(uint64_t rip, uint64_t rsp, uint64_t arg) __attribute__((noreturn));
};

extern const struct boundary *boundary;
extern const struct boundary boundary_page_tables, boundary_none, boundary_pvm_host_switch, boundary_shared_page_table;

/* Resolve bootinfo.protection on the detected platform (plat must be set), set `boundary`
 * and this CPU's status; a mode the platform cannot enforce is refused: the host gets the
 * reason by hypercall and the CPU halts for good. Runs in PVM's emulated phase: keep it short. */
void prot_select(struct percpu *c);

/* Shared by the boundaries that keep the app in its own page table. */
void map_entry_text(uint64_t upml4, uint64_t pte_user);
void map_idt_pages(uint64_t upml4, uint64_t pte_user);

#endif
