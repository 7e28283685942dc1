/* What an app finds at start: %rdi points to this read-only page (docs/abi.md).
 * Each dataplane core runs its own instance of the app, in its own address space. */
#ifndef IX_APP_H
#define IX_APP_H
#include <stdint.h>

struct ix_app_info {
    uint32_t cpu;          /* this instance's dataplane core */
    uint32_t ncpus;
    uint64_t calls;        /* a call array the app may use (RW), calls_max entries */
    uint32_t calls_max;
    uint32_t events_max;   /* capacity of the event array */
    uint64_t events;       /* the event array (read-only to the app) */
    uint64_t heap;         /* heap_size bytes of zeroed RW memory */
    uint64_t heap_size;
    uint64_t tsc_khz;
    uint32_t argc;
    uint32_t pad;
    uint64_t argv;         /* char *argv[argc + 1], strings in this page */
    uint64_t bpoll_direct; /* protection = "none": the kernel's ix_bpoll as a plain function
                              (the app runs in ring 0 on the kernel's page table); else 0 */
    uint64_t shared;       /* memory mapped at the same address in every core's instance
                              (zeroed at boot; the app synchronizes its own use), or 0 */
    uint64_t shared_size;
    uint64_t unix_ms;      /* the host's Unix time in ms at boot (0: unknown), which held at */
    uint64_t unix_tsc;     /* this TSC value: now = unix_ms + (rdtsc - unix_tsc) / tsc_khz */
};

#define IX_EVENTS_MAX 8192

#endif
