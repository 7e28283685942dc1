/* Stopping an app that ran [app] max_run_ms without returning (runaway.h explains the
 * watchdog). The decision is the kernel's: the host's interrupt only says "look now". */
#include "runaway.h"
#include "trap.h"

void runaway_check(struct percpu *c, const struct trap_frame *f)
{
    uint64_t since = c->status->app_since;
    if (!c->max_run_tsc || !since)
        return;
    /* The host measured max_run_ms on its own clock before it sent this; the kernel only
     * refuses a stale interrupt, one that arrives in a younger run (the app returned and was
     * entered again meanwhile). Half the limit leaves room for the two clocks to disagree. */
    uint64_t ran = rdtsc() - since;
    if (ran < c->max_run_tsc / 2)
        return;
    uint64_t khz = c->bi->tsc_khz ? c->bi->tsc_khz : 1;
    app_fault_runaway(c, f, ran / khz);
}
