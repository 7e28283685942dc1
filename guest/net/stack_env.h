/* The stack's environment: the few services the network stack needs from whoever hosts it.
 *
 * The stack (guest/net) is one body of freestanding C that is linked into two different
 * programs: the guest kernel, and the host-compiled unit tests and TAP harness under
 * guest/test/net. It cannot call either of them by name without depending on it, so it
 * declares what it needs here (and netif_tx in netif.h) and leaves the definitions to the
 * link, like lwIP's sys_arch layer: each host program defines every function exactly once,
 * and a program that forgets one fails to link. That is why the stack's files seem to call
 * "into" the kernel: they call these declarations, which the kernel happens to define.
 *
 * The link-time callbacks and who defines them:
 *   env_now_us, env_log  guest/kernel/stack_env.c; guest/test/net/testlib.c (unit tests, fake
 *                        clock); guest/test/net/harness.c (TAP harness, real clock)
 *   netif_tx (netif.h)   guest/drivers/vnet_netif.c; guest/test/net/testlib.c (capturing
 *                        netif); guest/test/net/harness.c (TAP writev)
 * The virtio-net driver takes its own host services (address translation, the kick) as
 * function pointers instead (struct vnet_env, drivers/vnet_netif.h), because the kernel
 * needs a per-core context for them. */
#ifndef IX_NET_STACK_ENV_H
#define IX_NET_STACK_ENV_H

#include <stdint.h>

/* Monotonic microseconds since an arbitrary origin. Never goes backwards.
 * Defined by guest/kernel/stack_env.c (TSC), guest/test/net/testlib.c (tl_now_us, a fake
 * clock the tests advance) and guest/test/net/harness.c (CLOCK_MONOTONIC). */
uint64_t env_now_us(void);

/* printf-like diagnostics; supports %s %d %u %x %lu %lx %p (and the l/ll variants the host
 * vsnprintf accepts). May be a no-op. Never called per packet on the fast path.
 * Defined by guest/kernel/stack_env.c (the core's log ring to the host),
 * guest/test/net/testlib.c (stderr when TL_LOG is set) and guest/test/net/harness.c
 * (stderr with --verbose). A line starting with "warning: " is one an operator must see:
 * `ix run` logs it at warn level (others at debug). */
void env_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
