/* Boot. Every vCPU enters here from _start with the boot info's guest-physical address and
 * its index. On PVM hosts the first phase is emulated at ~1e6 instructions/s, so it does
 * only what must precede the switch to native execution (descriptor tables, platform
 * detection, the switch). Then the BSP builds every core's page tables and app instance at
 * full speed while the others wait, and each core enters its app. */
#include <ix/bootinfo.h>
#include "app.h"
#include "console.h"
#include "cpu.h"
#include "dataplane.h"
#include "hcall.h"
#include "lapic.h"
#include "mm.h"
#include "platform.h"
#include "protection.h"
#include "runaway.h"
#include "x86.h"

extern void selftest_loop(uint64_t iterations);
static volatile int bsp_done;

static void bsp_init(struct percpu *c)
{
    struct ix_bootinfo *bi = c->bi;
    mm_init(bi->free_phys_start, bi->free_phys_end);
    if (bi->flags & (IX_BOOT_SELFTEST_LOOP | IX_BOOT_SELFTEST_SHORT)) {
        const uint64_t iters = (bi->flags & IX_BOOT_SELFTEST_LOOP) ? 1000000000ull : 100000000ull;
        uint64_t t0 = rdtsc();
        selftest_loop(iters);
        c->status->selftest_cycles = rdtsc() - t0;
        c->status->selftest_iters = iters;
    }
    if (bi->ncpus > IX_MAX_CPUS)
        panic_on(c, "boot info asks for %u cpus; at most %u", bi->ncpus, IX_MAX_CPUS);
    /* The other CPUs may not have started yet: set up their fixed fields here. */
    for (unsigned i = 0; i < bi->ncpus; i++)
        percpu_init(&percpus[i], i, bi);
    uint64_t shared_pa = 0;
    if (bi->app_shared_size) {
        if (bi->app_shared_size & (PAGE_SIZE - 1) || bi->app_shared_size > APP_RXPOOL_VA - APP_SHARED_VA)
            panic_on(c, "app shared memory of %lu bytes is not page aligned or too large", bi->app_shared_size);
        shared_pa = pages_alloc(bi->app_shared_size / PAGE_SIZE, PAGE_SIZE);
    }
    for (unsigned i = 0; i < bi->ncpus; i++) {
        app_create(&percpus[i], bi->pgd_phys, shared_pa);
        dp_create(&percpus[i]);
    }
}

_Noreturn void kmain(uint64_t bi_pa, uint64_t cpu)
{
    uint64_t t0 = rdtsc();
    struct ix_bootinfo *bi = phys_to_virt(bi_pa);
    if (cpu >= IX_MAX_CPUS || bi->magic != IX_BOOTINFO_MAGIC || bi->size != sizeof *bi) {
        /* nothing to report through: stop; the host sees the halt and the missing status */
        for (;;)
            __asm__ volatile("hlt");
    }
    struct percpu *c = &percpus[cpu];
    percpu_init(c, (unsigned)cpu, bi);
    c->status->tsc_kernel_entry = t0;
    c->status->state = IX_CPU_BOOTING;

    cpu_early_init();
    uint32_t r[4];
    cpuid(1, 0, r); /* before going native: afterwards the outer hypervisor answers */
    c->cpuid_1_ecx = r[2];
    c->cpuid_1_edx = r[3];
    cpuid(0, 0, r);
    if (r[0] >= 7) {
        cpuid(7, 0, r);
        c->cpuid_7_ebx = r[1]; /* RDSEED (entropy.c) */
    }
    plat_detect(c);
    prot_select(c); /* before going native: PVM takes some boundaries' flags in the same MSR */
    plat->go_native(c);
    c->status->tsc_native = rdtsc();
    c->log = phys_to_virt(bi->log_ring_phys + cpu * bi->log_ring_size);

    if (cpu == 0) {
        bsp_init(c);
        __atomic_store_n(&bsp_done, 1, __ATOMIC_RELEASE);
    } else {
        while (!__atomic_load_n(&bsp_done, __ATOMIC_ACQUIRE))
            cpu_relax();
    }
    cpu_late_init(c);
    lapic_init(c);
    dp_start(c);
    uint64_t khz = bi->tsc_khz ? bi->tsc_khz : 1;
    kprintf("cpu%u: platform=%s, native after %lu us, kernel ready after %lu us\n", c->id, plat->name,
            (c->status->tsc_native - t0) * 1000 / khz, (rdtsc() - t0) * 1000 / khz);
    c->status->state = IX_CPU_RUNNING;
    c->status->tsc_app_entry = rdtsc();
    runaway_arm(c);
    boundary->enter_app(c->app->entry, c->app->stack_top, APP_INFO_VA);
}
