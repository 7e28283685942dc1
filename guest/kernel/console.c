/* Console output through the per-CPU log ring (ix/logring.h). The host drains the ring when
 * it polls; only when the ring is more than half full does the guest ask for an immediate
 * drain with a hypercall, so a chatty guest costs exits only under pressure. */
#include <stdarg.h>
#include "console.h"
#include "hcall.h"
#include "../lib/fmt.h"
#include "x86.h"

void console_write(struct percpu *c, const char *s, size_t n)
{
    struct ix_logring *r = c->log;
    if (!r || !r->size)
        return;
    uint32_t size = r->size;
    if (n > size / 2) {
        n = size / 2;
    }
    uint32_t used = r->head - r->tail;
    if (size - used < n) {
        hcall(c, IX_HC_LOG_KICK, 0, 0); /* the host drains before it resumes us */
        used = r->head - r->tail;
        if (size - used < n) {
            r->dropped += n;
            c->status->log_dropped += n;
            return;
        }
    }
    uint32_t h = r->head;
    for (size_t i = 0; i < n; i++)
        r->data[(h + i) & (size - 1)] = s[i];
    compiler_barrier(); /* data before head: x86 keeps stores in order */
    r->head = h + (uint32_t)n;
    if (r->head - r->tail > size / 2)
        hcall(c, IX_HC_LOG_KICK, 0, 0);
}

void console_vprintf(struct percpu *c, bool line, const char *fmt, va_list ap)
{
    char buf[256];
    int n = ix_vsnprintf(buf, sizeof buf, fmt, ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    console_write(c, buf, (size_t)n);
    if (line && (n == 0 || buf[n - 1] != '\n'))
        console_write(c, "\n", 1);
}

void kprintf_on(struct percpu *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    console_vprintf(c, false, fmt, ap);
    va_end(ap);
}

_Noreturn void panic_on(struct percpu *c, const char *fmt, ...)
{
    static char msg[IX_MAX_CPUS][256];
    char *buf = msg[c->id];
    va_list ap;
    va_start(ap, fmt);
    int n = ix_vsnprintf(buf, 256, fmt, ap);
    va_end(ap);
    if (n > 255)
        n = 255;
    c->status->state = IX_CPU_PANIC;
    for (;;) {
        hcall(c, IX_HC_PANIC, (uint64_t)buf - IX_KERNEL_BASE, (uint64_t)n);
        __asm__ volatile("hlt");
    }
}
