/* ix_bpoll: the one trap (docs/abi.md). The app hands an array of calls; each is checked
 * and executed in order, and its outcome written back into its own slot. A bad argument
 * fails that call alone (err = -IX_E*); only a call array the app does not own stops it. */
#include <ix/abi.h>
#include "app.h"
#include "console.h"
#include "hcall.h"
#include "platform.h"
#include "runaway.h"
#include "trap.h"
#include "dataplane.h"
#include "netcalls.h"

static void do_log(struct percpu *c, struct app *a, struct ix_call *k)
{
    uint64_t va = k->a0, len = k->a1;
    if (len > IX_LOG_MAX) {
        k->err = -IX_EINVAL;
        return;
    }
    if (!app_range_ok(a, va, len, VMA_R)) {
        k->err = -IX_EFAULT;
        return;
    }
    const char *s = (const char *)va; /* the app is mapped in this CPU's kernel page table */
    console_write(c, "\x01", 1);     /* marks the line as the app's output, not the kernel's */
    console_write(c, s, len);
    if (len == 0 || s[len - 1] != '\n')
        console_write(c, "\n", 1);
    k->ret = len;
}

static void do_call(struct percpu *c, struct app *a, struct ix_call *k)
{
    k->err = 0;
    k->ret = 0;
    if (k->flags) {
        k->err = -IX_EINVAL;
        return;
    }
    switch (k->op) {
    case IX_OP_NOP:
        break;
    case IX_OP_GETCPU:
        k->ret = c->id;
        break;
    case IX_OP_LOG:
        do_log(c, a, k);
        break;
    case IX_OP_EXIT:
        a->exit_requested = 1;
        a->exit_status = (int64_t)k->a0;
        break;
    default:
        k->err = netcall(c, a, k);
    }
}

/* protection = "none": the app runs in ring 0 and calls this directly (libix) instead of
 * trapping; everything else is the same, so the difference is the cost of the boundary. */
long ix_syscall_dispatch(uint64_t calls, uint64_t n);
long ix_bpoll_direct(uint64_t calls, uint64_t n)
{
    return ix_syscall_dispatch(calls, n);
}

long ix_syscall_dispatch(uint64_t calls, uint64_t n)
{
    struct percpu *c = this_cpu();
    struct app *a = c->app;
    runaway_disarm(c);
    c->status->bpoll_calls++;
    int no_events = (n & IX_BPOLL_NO_EVENTS) != 0;
    int wait = (n & IX_BPOLL_WAIT) != 0;
    n &= ~(IX_BPOLL_NO_EVENTS | IX_BPOLL_WAIT);
    /* The array must be 8-byte aligned (docs/abi.md): its u64 fields are accessed in place. */
    if (n > IX_BATCH_MAX || calls % 8 != 0 || !app_range_ok(a, calls, n * sizeof(struct ix_call), VMA_R | VMA_W))
        app_fault_bad_calls(c, calls, n);
    dp_begin(c, no_events);
    struct ix_call *k = (struct ix_call *)calls;
    for (uint64_t i = 0; i < n && !a->exit_requested; i++)
        do_call(c, a, &k[i]);
    c->status->calls_executed += n;
    c->stats->bpolls++;
    c->stats->calls += n;
    if (a->exit_requested) {
        hcall(c, IX_HC_APP_EXIT, (uint64_t)a->exit_status, 0);
        app_stopped(c);
    }
    long r = no_events ? dp_flush(c) : dp_run(c, n, wait);
    runaway_arm(c);
    return r;
}
