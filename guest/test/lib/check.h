/* The checks of every host-compiled C test of guest code (guest/test/net, guest/test/drivers,
 * guest/apps/kvstore/test). A failed check prints one line starting with "FAIL" on stderr,
 * counts, and the test goes on (after CHECK_MAX_FAILURES it stops: the rest is noise). At
 * the end, main returns check_summary("name"), which prints one line the TypeScript tests
 * match ("name: all checks passed" or "name: N check(s) failed") and gives the exit status.
 * Safe to use from several threads (kvstore's store test).
 *
 *   CHECK(p->len == 4);
 *   CHECK_MSG(got == want, "seed %d: %zu bytes", seed, got);
 *   CHECK_EQ(c->counters.drop_ip_csum, 1);       (prints both values when they differ)
 *   CHECK_RUN(test_fn);                          (runs it, prints "ok   test_fn" or "FAIL test_fn")
 *   return check_summary("arp_test");
 */
#ifndef IX_TEST_LIB_CHECK_H
#define IX_TEST_LIB_CHECK_H

#include <stdio.h>

#define CHECK_MAX_FAILURES 50

/* Failed checks so far (all threads). */
extern int check_failures;

void check_fail(const char *file, int line, const char *expr);
void check_failf(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prints the summary line on stderr; returns the exit status (0: no failed check). */
int check_summary(const char *name);

#define CHECK(cond)                                    \
    do {                                               \
        if (!(cond))                                   \
            check_fail(__FILE__, __LINE__, #cond);     \
    } while (0)

#define CHECK_MSG(cond, ...)                                   \
    do {                                                       \
        if (!(cond))                                           \
            check_failf(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)

#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
        if (a_ != b_)                                                                      \
            check_failf(__FILE__, __LINE__, #a " == " #b, "%llu != %llu", a_, b_);         \
    } while (0)

#define CHECK_RUN(fn)                                                                      \
    do {                                                                                   \
        int before_ = check_failures;                                                      \
        fn();                                                                              \
        fprintf(stderr, "%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn);      \
    } while (0)

#endif
