#include "hcall.h"
#include "x86.h"

void hcall(struct percpu *c, uint32_t nr, uint64_t a0, uint64_t a1)
{
    c->hc.nr = nr;
    c->hc.cpu = c->id;
    c->hc.a0 = a0;
    c->hc.a1 = a1;
    compiler_barrier();
    /* The request lives in the kernel image, loaded below 4 GiB: its GPA fits in 32 bits. */
    outl((uint16_t)c->bi->hc_port, (uint32_t)((uint64_t)&c->hc - IX_KERNEL_BASE));
}
