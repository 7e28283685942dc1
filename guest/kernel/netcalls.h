#ifndef IX_KERNEL_NETCALLS_H
#define IX_KERNEL_NETCALLS_H
#include <ix/abi.h>
#include "percpu.h"
struct app;
/* Execute one network call; returns 0 or -IX_E* (the call's err); may set k->ret. */
int netcall(struct percpu *c, struct app *a, struct ix_call *k);
#endif
