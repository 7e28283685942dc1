/* The runaway-app watchdog ([app] max_run_ms; docs/protection.md, "Runaway apps").
 *
 * The kernel only keeps a stamp: the TSC when it last entered the app, in this CPU's status
 * (read by the host without exits), 0 while the kernel itself runs. The host watches the
 * stamps; when one has not changed for max_run_ms it injects IX_VECTOR_RUNAWAY into that
 * vCPU while it runs the app. A behaving app costs one TSC read and two stores per crossing,
 * and nothing at all without max_run_ms. */
#ifndef IX_KERNEL_RUNAWAY_H
#define IX_KERNEL_RUNAWAY_H
#include <stdint.h>
#include "percpu.h"
#include "trap.h"
#include "x86.h"

/* Just before the kernel returns to the app. */
static inline void runaway_arm(struct percpu *c)
{
    if (c->max_run_tsc)
        c->status->app_since = rdtsc();
}

/* First thing once the app entered the kernel with ix_bpoll. */
static inline void runaway_disarm(struct percpu *c)
{
    if (c->max_run_tsc)
        c->status->app_since = 0;
}

/* An interrupt reached the app (f: its registers): stop it if it is in the run the host
 * found too long (reported as IX_FAULT_RUNAWAY, never returns); otherwise return, and the
 * app goes on (a stale interrupt that arrived after the app had returned and re-entered, or
 * one the watchdog did not send: a claimed one under pvm-host-switch). */
void runaway_check(struct percpu *c, const struct trap_frame *f);

#endif
