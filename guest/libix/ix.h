/* libix: what ring-3 apps are written against (docs/abi.md).
 *
 *   int main(int argc, char **argv)     runs once on every dataplane core
 *   ix_bpoll(calls, n)                  one trap: executes n calls, returns events posted
 *   ix_printf / ix_log                  console output (batched into one call each)
 *   ix_exit(status)                     stop the app on this core
 */
#ifndef IX_LIBIX_H
#define IX_LIBIX_H
#include <stddef.h>
#include <stdint.h>
#include <ix/abi.h>
#include <ix/app.h>

long ix_bpoll(struct ix_call *calls, unsigned long n);

const struct ix_app_info *ix_info(void);
static inline unsigned ix_cpu(void) { return ix_info()->cpu; }
static inline const struct ix_event *ix_events(void) { return (const struct ix_event *)ix_info()->events; }

/* One call, executed on its own (a whole trap): for setup and rare paths. It leaves the event
 * array alone (IX_BPOLL_NO_EVENTS), so it is safe inside an event handler. */
int64_t ix_call1(uint16_t op, uint64_t a0, uint64_t a1, uint64_t a2, int32_t *err);

int ix_log(const char *s, size_t len);
int ix_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void ix_exit(int status);

static inline uint64_t ix_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

#endif
