/* Per-CPU kernel state. Each dataplane core owns one struct percpu; nothing in it is shared. */
#ifndef IX_KERNEL_PERCPU_H
#define IX_KERNEL_PERCPU_H

#include <stdint.h>
#include <ix/bootinfo.h>
#include <ix/hypercall.h>
#include <ix/logring.h>
#include "layout.h"

struct app;
struct dataplane;

/* The 16 KiB entry block (layout.h): page 0 header + GDT + TSS, pages 1-3 the RSP0 stack. */
struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp0, rsp1, rsp2;
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};
_Static_assert(sizeof(struct tss64) == 104, "tss64");

struct entry_block {
    uint64_t kcr3;
    uint64_t ucr3;
    uint64_t kstack_top;
    struct percpu *percpu;
    uint64_t app_rflags;
    uint8_t pad0[ENTRY_GDT_OFF - 40];
    uint64_t gdt[GDT_ENTRIES];
    uint8_t pad1[ENTRY_TSS_OFF - ENTRY_GDT_OFF - GDT_ENTRIES * 8];
    struct tss64 tss;
    uint8_t pad2[0x1000 - ENTRY_TSS_OFF - sizeof(struct tss64)];
    uint8_t rsp0_stack[ENTRY_BLOCK_SIZE - 0x1000];
} __attribute__((aligned(ENTRY_BLOCK_SIZE)));
_Static_assert(sizeof(struct entry_block) == ENTRY_BLOCK_SIZE, "entry block");
_Static_assert(__builtin_offsetof(struct entry_block, app_rflags) == ENTRY_HDR_RFLAGS, "entry block header");

struct percpu {
    unsigned id;
    struct ix_bootinfo *bi;
    struct ix_cpu_status *status;
    struct ix_core_stats *stats; /* in boot info: read by the host for `ix stats` */
    struct ix_logring *log;
    struct entry_block *eb;     /* kernel (direct-map) address of this CPU's entry block */
    uint64_t kcr3, ucr3;        /* physical addresses of this CPU's page tables */
    uint8_t *kstack_top;
    struct app *app;
    struct dataplane *dp;       /* NULL without a NIC */
    volatile uint8_t *vif;      /* PVM: this CPU's VIF page */
    uint32_t cpuid_1_ecx, cpuid_1_edx; /* read before going native: on PVM the outer hypervisor answers CPUID afterwards */
    uint32_t cpuid_7_ebx;              /* leaf 7 subleaf 0 EBX (0 if the leaf is absent) */
    int smap;                          /* CR4.SMAP is on (shared-page-table): smap_close() clears AC */
    uint64_t max_run_tsc;              /* [app] max_run_ms in TSC cycles, 0: no runaway watchdog */
    uint8_t lapic;                     /* the LAPIC is enabled: in-kernel wake-ups (lapic.h) */
    uint8_t lapic_deadline;            /* its timer runs in TSC-deadline mode (else one-shot) */
    struct ix_hcall hc __attribute__((aligned(64))); /* hypercall request buffer */
};

extern struct percpu percpus[IX_MAX_CPUS];

/* The current CPU, valid once cpu_late_init() loaded this CPU's page table (which maps the
 * entry block at ENTRY_VA). */
static inline struct percpu *this_cpu(void)
{
    return ((struct entry_block *)ENTRY_VA)->percpu;
}

/* Kernel paths that never touch app memory run with RFLAGS.AC clear, so SMAP holds there
 * even if the app set AC before it trapped or faulted. */
static inline void smap_close(struct percpu *c)
{
    if (c->smap)
        __asm__ volatile("clac" ::: "memory");
}

#endif
