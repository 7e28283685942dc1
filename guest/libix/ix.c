#include "ix.h"
#include <stdarg.h>
#include "../lib/fmt.h"

static const struct ix_app_info *info;

const struct ix_app_info *ix_info(void) { return info; }

int main(int argc, char **argv);

extern uint64_t ix_bpoll_fn;

_Noreturn void ix_start(const struct ix_app_info *i)
{
    info = i;
    ix_bpoll_fn = i->bpoll_direct;
    ix_exit(main((int)i->argc, (char **)i->argv));
}

int64_t ix_call1(uint16_t op, uint64_t a0, uint64_t a1, uint64_t a2, int32_t *err)
{
    struct ix_call c = {.op = op, .a0 = a0, .a1 = a1, .a2 = a2};
    /* NO_EVENTS: the caller reads no events here, and may be in the middle of reading the
     * event array of its last ix_bpoll (an ixev callback that logs or connects); the events
     * this trap finds are kept for the next ordinary ix_bpoll instead of overwriting it. */
    ix_bpoll(&c, 1 | IX_BPOLL_NO_EVENTS);
    if (err)
        *err = c.err;
    return c.err ? c.err : (int64_t)c.ret;
}

int ix_log(const char *s, size_t len)
{
    if (len > IX_LOG_MAX)
        len = IX_LOG_MAX;
    return (int)ix_call1(IX_OP_LOG, (uint64_t)s, len, 0, 0);
}

int ix_printf(const char *fmt, ...)
{
    char buf[IX_LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = ix_vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    return ix_log(buf, (size_t)n);
}

_Noreturn void ix_exit(int status)
{
    for (;;)
        ix_call1(IX_OP_EXIT, (uint64_t)(int64_t)status, 0, 0, 0);
}
