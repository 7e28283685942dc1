#ifndef IX_KERNEL_APP_H
#define IX_KERNEL_APP_H
#include <stdint.h>
#include <ix/abi.h>
#include "percpu.h"

#define APP_MAX_VMAS 16
#define VMA_R 1
#define VMA_W 2
#define VMA_X 4

struct vma {
    uint64_t start, end; /* [start, end) */
    uint32_t prot;
};

/* One instance of the app on one core: its address space and what the kernel keeps of it. */
struct app {
    struct vma vmas[APP_MAX_VMAS];
    int nvmas;
    uint64_t entry, stack_top;
    struct ix_event *events; /* kernel alias of the event array (the app maps it read-only) */
    uint32_t events_max;
    int exit_requested;
    int64_t exit_status;
};

/* Build CPU c's page tables (kernel and app) and its instance of the app. BSP only. */
void app_create(struct percpu *c, uint64_t boot_pgd, uint64_t shared_pa);
void app_add_vma(struct app *a, uint64_t start, uint64_t end, uint32_t prot);
/* Is [va, va+len) inside one mapping of the app with at least `prot`? */
int app_range_ok(const struct app *a, uint64_t va, uint64_t len, uint32_t prot);
/* The app on this CPU is gone (exit or fault): tell the host and idle. Never returns. */
_Noreturn void app_stopped(struct percpu *c);

#endif
