/* Platform shim: the few services the stack needs from whoever hosts it. Implemented by
 * the guest kernel (TSC-based clock, log ring to the host) and by the host test harness
 * (clock_gettime, vfprintf to stderr). */
#ifndef IX_NET_PLAT_H
#define IX_NET_PLAT_H

#include <stdint.h>

/* Monotonic microseconds since an arbitrary origin. Never goes backwards. */
uint64_t plat_now_us(void);

/* printf-like diagnostics; supports %s %d %u %x %lu %lx %p (and the l/ll variants the host
 * vsnprintf accepts). May be a no-op. Never called per packet on the fast path. */
void plat_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
