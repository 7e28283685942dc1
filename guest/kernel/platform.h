/* The platform layer: the only code that knows whether this kernel runs in real ring 0 under
 * VT-x/AMD-V ("native") or under kvm_pvm ("pvm", docs/pvm.md). Everything else calls through
 * `plat`. The IDT, GDT, TSS, SYSCALL path and exception frames are the same on both. */
#ifndef IX_KERNEL_PLATFORM_H
#define IX_KERNEL_PLATFORM_H
#include <stdint.h>
#include "percpu.h"

struct platform {
    const char *name;
    uint32_t id; /* IX_PLATFORM_* */
    /* Start executing natively (PVM: write the control MSR; native: already are). Runs on
     * every CPU, in the emulated phase, right after the IDT is loaded. */
    void (*go_native)(struct percpu *c);
    /* The faulting address of the last #PF on this CPU. */
    uint64_t (*read_cr2)(struct percpu *c);
    /* Wait for an interrupt with interrupts enabled, then mask them again. */
    void (*halt)(struct percpu *c);
    /* PTE bits for the kernel's entry area in an app page table: on PVM every page the CPU
     * touches needs U=1 (the kernel runs at hardware CPL3 there, and a present U=0 page
     * hangs the vCPU); natively the entry area stays supervisor-only. */
    uint64_t entry_pte_user;
};

extern const struct platform *plat;
extern const struct platform platform_native, platform_pvm;

/* Detect the platform (CPUID cannot tell the two apart; RDMSR of the PVM signature MSR
 * under a #GP fixup can) and set `plat`. Needs the IDT. */
void plat_detect(struct percpu *c);

#define MSR_PVM_CTL 0x4b564d10u
#define MSR_PVM_SIGNATURE 0x4b564d11u
#define MSR_PVM_TSC_KHZ 0x4b564d13u
#define PVM_SIGNATURE 0x4d5650u
#define PVM_CTL_CR2_CELL (1u << 4)

#endif
