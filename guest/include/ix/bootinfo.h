/* The boot info page: everything the host tells the guest kernel at boot, and the small
 * status area the guest writes back (read by the host without exits).
 *
 * The host fills it before the first KVM_RUN and passes its guest-physical address in %rdi
 * to every vCPU (%rsi = the vCPU's index). Mirrored in src/vmm/bootinfo.ts; the test
 * test/bootinfo-layout.test.ts compiles this header and compares every offset.
 *
 * All fields are little-endian, naturally aligned, no implicit padding.
 */
#ifndef IX_BOOTINFO_H
#define IX_BOOTINFO_H

#include "migrate.h"
#include <stdint.h>
#include "nic.h"
#include "xsk.h"
#include "stats.h"

#define IX_BOOTINFO_MAGIC 0x4f464e49544f4f42ull /* "BOOTINFO" */
#define IX_BOOTINFO_VERSION 1

#define IX_MAX_CPUS 16
#define IX_MAX_APP_SEGS 8
#define IX_APP_ARGS_MAX 1024

/* Guest virtual layout (docs/guest-kernel.md). The kernel direct-maps all guest-physical memory at
 * IX_KERNEL_BASE (PML4 slot 128, lower canonical half: PVM hosts only run guests there). */
#define IX_KERNEL_BASE 0x0000400000000000ull
#define IX_KERNEL_PHYS 0x100000ull /* the kernel image is loaded at 1 MiB */
#define IX_APP_VA_LIMIT 0x0000008000000000ull /* the app lives below this address (PML4 slot 0) */

/* platform reported by the guest */
#define IX_PLATFORM_UNKNOWN 0
#define IX_PLATFORM_NATIVE 1 /* VT-x / AMD-V: real ring 0 */
#define IX_PLATFORM_PVM 2    /* kvm_pvm: the guest switched itself to native execution */

/* boot flags */
#define IX_BOOT_SELFTEST_LOOP (1u << 0)  /* run a 1e9-iteration loop at boot and time it */
#define IX_BOOT_SELFTEST_SHORT (1u << 1) /* the same with 1e8 iterations (ix check's probe) */

/* protection boundaries between the app and the dataplane (docs/protection.md). The host
 * writes the configured one into bootinfo.protection; each CPU writes the one it enforces
 * (never AUTO) into its status. */
#define IX_PROT_PAGE_TABLES 0     /* separate page tables, the kernel switches CR3 ("ring3") */
#define IX_PROT_NONE 1            /* the app in ring 0 on the kernel's page table */
#define IX_PROT_PVM_HOST_SWITCH 2 /* PVM only: the host switches CR3 on SYSCALL/SYSRET */
#define IX_PROT_SHARED_PAGE_TABLE 3 /* native only: one page table, the U/S bit protects */
#define IX_PROT_AUTO 4            /* the fastest that isolates memory and availability here */

/* The interrupt vector the host injects to stop an app that ran max_run_ms without
 * returning to the dataplane (docs/protection.md, "Runaway apps"). */
#define IX_VECTOR_RUNAWAY 32

/* How an idle core is woken (bootinfo.wake, docs/wake.md). USER: its HLT exits to the
 * host's vCPU thread, which sleeps until the NIC backend has a frame or halt_timeout_us
 * passes. KERNEL: the host created an in-kernel LAPIC; the core enables it (x2APIC), halts
 * inside KVM_RUN and is woken by an MSI on IX_VECTOR_WAKE_NIC (an irqfd the NIC backend
 * writes) or by its own LAPIC timer on IX_VECTOR_WAKE_TIMER. */
#define IX_WAKE_USER 0
#define IX_WAKE_KERNEL 1
#define IX_VECTOR_WAKE_NIC 33
#define IX_VECTOR_WAKE_TIMER 34
#define IX_VECTOR_SPURIOUS 47 /* the LAPIC's spurious vector (last one in the kernel's IDT) */

/* One loadable segment of the app, placed by the host in guest-physical memory. */
struct ix_app_seg {
    uint64_t vaddr;  /* where the app expects it (page aligned by the loader) */
    uint64_t paddr;  /* where the host put the file bytes (page aligned) */
    uint64_t filesz;
    uint64_t memsz;
    uint32_t flags;  /* ELF PF_X=1, PF_W=2, PF_R=4 */
    uint32_t pad;
};

/* Per-CPU status the guest writes for the host (polled; no exits). */
struct ix_cpu_status {
    uint32_t state;           /* IX_CPU_* */
    uint32_t platform;        /* IX_PLATFORM_* as this CPU detected it */
    uint64_t tsc_kernel_entry;/* TSC at the first instruction of the kernel on this CPU */
    uint64_t tsc_native;      /* TSC right after the switch to native execution */
    uint64_t tsc_app_entry;   /* TSC just before the first return to the app */
    uint64_t selftest_cycles; /* TSC cycles of the boot self-test loop (0 if not run) */
    uint64_t selftest_iters;
    uint64_t bpoll_calls;     /* counters: traps taken and calls executed */
    uint64_t calls_executed;
    uint64_t log_dropped;     /* bytes dropped because the log ring was full */
    uint64_t halt_timeout_us; /* set before each idle HLT: wake the CPU after this long at the latest */
    uint64_t halts;           /* idle halts taken */
    uint32_t protection;      /* IX_PROT_* this CPU enforces (the resolution of AUTO) */
    uint32_t pad1;
    uint64_t app_since;       /* with max_run_ms: the TSC when the kernel last entered the app,
                                 0 while the kernel runs (the host's runaway watchdog) */
    uint64_t irq_nic;         /* interrupts taken on IX_VECTOR_WAKE_NIC (in-kernel wake-ups) */
    uint64_t irq_timer;       /* interrupts taken on IX_VECTOR_WAKE_TIMER (the core's LAPIC timer) */
};

#define IX_CPU_OFF 0
#define IX_CPU_BOOTING 1
#define IX_CPU_RUNNING 2   /* app running */
#define IX_CPU_APP_DONE 3  /* app exited or was stopped; core idle */
#define IX_CPU_PANIC 4

struct ix_bootinfo {
    uint64_t magic;
    uint32_t version;
    uint32_t size;            /* sizeof(struct ix_bootinfo) */

    uint64_t mem_size;        /* bytes of guest-physical memory, from 0 */
    uint64_t kernel_phys_end; /* end of the kernel image (page aligned) */
    uint64_t free_phys_start; /* the kernel's page allocator owns [start, end) */
    uint64_t free_phys_end;
    uint64_t pgd_phys;        /* the host-built boot page table (direct map) */
    uint64_t tsc_khz;         /* host's TSC frequency */

    uint32_t ncpus;
    uint32_t flags;           /* IX_BOOT_* */
    uint32_t batch;           /* RX batch bound */
    uint32_t idle_poll_us;
    uint32_t protection;      /* IX_PROT_* as configured */
    uint32_t hc_port;         /* I/O port of hypercalls */

    /* the app */
    uint64_t app_entry;
    uint32_t app_nsegs;
    uint32_t app_argc;
    struct ix_app_seg app_segs[IX_MAX_APP_SEGS];
    uint64_t app_stack_size;
    uint64_t app_heap_size;
    uint32_t app_args_len;    /* bytes used in app_args: argc NUL-terminated strings */
    uint32_t max_run_ms;      /* [app] max_run_ms: stop an app that runs this long without
                                 returning to the dataplane (0: never) */
    char app_args[IX_APP_ARGS_MAX];

    /* log rings: one per CPU, each log_ring_size bytes, at log_ring_phys + cpu*size */
    uint64_t log_ring_phys;
    uint64_t log_ring_size;

    /* written by the guest */
    struct ix_cpu_status cpu[IX_MAX_CPUS];

    struct ix_nic_info nic;

    /* written by the guest: per-core dataplane counters (ix/stats.h) */
    struct ix_core_stats stats[IX_MAX_CPUS];

    /* bytes of memory shared by every core's app instance (0: none), see ix/app.h */
    uint64_t app_shared_size;

    /* 32 bytes from the host's CSPRNG (node:crypto), new for every boot: the seed of the
     * guest's secrets (TCP ISNs and SYN cookies) where the CPU has no RDSEED/RDRAND, and
     * mixed in where it has (guest/kernel/entropy.c) */
    uint64_t entropy[4];

    /* the host's Unix time in milliseconds when it wrote this page, just before the first
     * vCPU runs: the wall clock at about cpu[0].tsc_kernel_entry (handed to apps in
     * ix_app_info; 0 from a host that does not fill it) */
    uint64_t unix_ms;

    /* TCP connections each dataplane core holds at most (config `[net] max_connections`);
     * the guest sizes its control blocks, lookup table and send records from it. 0: the
     * guest's default (DP_TCP_CONNS_DEFAULT). Checked by the guest (DP_TCP_CONNS_MAX). */
    uint32_t tcp_max_conns;
    uint32_t wake;            /* IX_WAKE_*: how an idle core waits (chosen by the host) */

    /* elastic cores: one control cell per CPU (ix/migrate.h) */
    struct ix_migrate_cell migrate[IX_MAX_CPUS];

    /* guest-physical address of struct ix_xsk_info (ix/xsk.h): the guest polls AF_XDP rings
     * mapped into its memory instead of the virtio rings of `nic`; 0 = virtio rings */
    uint64_t xsk_info_phys;
};

#endif
