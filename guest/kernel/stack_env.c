/* What the network stack and the virtio-net driver need from the kernel that hosts them:
 * the stack's clock and log (net/stack_env.h), and the driver's address translation and kick
 * (struct vnet_env, drivers/vnet_netif.h). The host test harnesses under guest/test
 * provide the same services with host calls instead. */
#include "dataplane.h"
#include "console.h"
#include "mm.h"
#include "x86.h"
#include "../net/stack_env.h"
#include <stdarg.h>

/* ---- the stack's clock and log (net/stack_env.h) ------------------------------------ */

/* The TSC rate the host reports in the boot info: one value for every core. */
static uint64_t tsc_khz = 1;

void stack_env_init(const struct ix_bootinfo *bi)
{
    tsc_khz = bi->tsc_khz ? bi->tsc_khz : 1;
}

uint64_t env_now_us(void)
{
    uint64_t t = rdtsc();
    return (t / tsc_khz) * 1000 + (t % tsc_khz) * 1000 / tsc_khz;
}

void env_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    console_vprintf(this_cpu(), true, fmt, ap);
    va_end(ap);
}

/* ---- the driver's address translation and kick ------------------------------------- */

static uint64_t dp_v2p(void *ctx, const void *p)
{
    struct percpu *c = ctx;
    uint64_t va = (uint64_t)p;
    if (va >= IX_KERNEL_BASE)
        return va - IX_KERNEL_BASE;
    /* app memory (sendv payloads): checked by the caller, translated through its tables */
    uint64_t pte = lookup_pte(c->kcr3, va);
    return (pte & PTE_ADDR) | (va & (PAGE_SIZE - 1));
}

static void *dp_p2v(void *ctx, uint64_t pa)
{
    (void)ctx;
    return phys_to_virt(pa);
}

static void dp_kick(void *ctx, uint16_t queue)
{
    struct percpu *c = ctx;
    outl(c->dp->notify_port, queue);
}

struct vnet_env dp_vnet_env(struct percpu *c)
{
    return (struct vnet_env){.ctx = c, .virt_to_phys = dp_v2p, .phys_to_virt = dp_p2v, .kick = dp_kick};
}
