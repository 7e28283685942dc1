/* The host tests' checks; see check.h. */
#include "check.h"

#include <stdarg.h>
#include <stdlib.h>

int check_failures;

/* One line per failure, written with one call so lines of concurrent threads do not mix. */
static void failed(const char *line)
{
    fputs(line, stderr);
    if (__atomic_add_fetch(&check_failures, 1, __ATOMIC_RELAXED) > CHECK_MAX_FAILURES) {
        fprintf(stderr, "FAIL: more than %d failed checks, giving up\n", CHECK_MAX_FAILURES);
        exit(1);
    }
}

void check_fail(const char *file, int line, const char *expr)
{
    char buf[512];
    snprintf(buf, sizeof buf, "FAIL %s:%d: %s\n", file, line, expr);
    failed(buf);
}

void check_failf(const char *file, int line, const char *expr, const char *fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "FAIL %s:%d: %s: ", file, line, expr);
    if (n < 0 || n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n] = '\n';
    buf[n + 1] = 0;
    failed(buf);
}

int check_summary(const char *name)
{
    int n = __atomic_load_n(&check_failures, __ATOMIC_RELAXED);
    if (n) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, n);
        return 1;
    }
    fprintf(stderr, "%s: all checks passed\n", name);
    return 0;
}
