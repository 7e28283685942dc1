#ifndef IX_KERNEL_HCALL_H
#define IX_KERNEL_HCALL_H
#include "percpu.h"
/* Ask the host for something (ix/hypercall.h). Costs one exit: 25-38 us on PVM. */
void hcall(struct percpu *c, uint32_t nr, uint64_t a0, uint64_t a1);
#endif
