/* Stopping an app that ran [app] max_run_ms without returning (runaway.h explains the
 * watchdog). The decision is the kernel's: the host's interrupt only says "look now". */
#include "runaway.h"
#include "trap.h"

void runaway_check(struct percpu *c, const struct trap_frame *f)
{
    uint64_t since = c->status->app_since;
    if (!c->max_run_tsc || !since)
        return;
    uint64_t ran = rdtsc() - since;
    if (ran < c->max_run_tsc)
        return;
    uint64_t khz = c->bi->tsc_khz ? c->bi->tsc_khz : 1;
    app_fault_runaway(c, f, ran / khz);
}
