/* kvm_pvm hosts (docs/pvm.md). The kernel runs at hardware CPL3 with a virtual CPL kept by the
 * host. It starts emulated (~1e6 instructions/s) and switches itself to native execution by
 * writing the address of its VIF page to MSR_PVM_CTL; from the next instruction on it runs
 * at full speed. Virtual IF lives in the VIF page: STI/CLI trap and change nothing. */
#include "platform.h"
#include "x86.h"

#define VIF_IF 0
#define VIF_PENDING 1
#define VIF_CR2 8

static void pvm_go_native(struct percpu *c)
{
    volatile uint8_t *vif = c->vif;
    vif[VIF_IF] = 0; /* interrupts masked until the core idles */
    uint64_t gpa = (uint64_t)vif - IX_KERNEL_BASE;
    /* flag bit 4: the host writes the #PF address into the VIF page (no trapping mov %cr2).
     * Not bit 0 (KPTI): with it, events from ring 3 cannot be delivered. */
    wrmsr(MSR_PVM_CTL, gpa | PVM_CTL_CR2_CELL);
}

static uint64_t pvm_read_cr2(struct percpu *c)
{
    return *(volatile uint64_t *)(c->vif + VIF_CR2);
}

static void pvm_halt(struct percpu *c)
{
    c->vif[VIF_IF] = 1;
    compiler_barrier();
    if (c->vif[VIF_PENDING]) {
        /* An interrupt is held: any trapping instruction lets the host deliver it now. */
        (void)rdmsr(MSR_PVM_TSC_KHZ);
    } else {
        __asm__ volatile("hlt" ::: "memory");
    }
    c->vif[VIF_IF] = 0;
    compiler_barrier();
}

const struct platform platform_pvm = {
    .name = "pvm",
    .id = IX_PLATFORM_PVM,
    .go_native = pvm_go_native,
    .read_cr2 = pvm_read_cr2,
    .halt = pvm_halt,
    .entry_pte_user = 1ull << 2,
};
