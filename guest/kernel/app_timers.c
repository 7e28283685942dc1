/* The app's timers (ix_timer_arm / ix_timer_cancel): DP_APP_TIMERS slots per core on the
 * stack's timer wheel. A timer that fires posts IX_EV_TIMER with the app's cookie; a handle
 * carries the slot and a generation, so a stale handle cannot cancel a reused slot. */
#include "dataplane.h"
#include "../net/stack_env.h"

static void timer_fired(struct timer *t, void *arg)
{
    struct net_core *nc = arg;
    struct app_timer *at = (struct app_timer *)t;
    at->fired = 1;
    struct ix_event *ev = net_event_reserve(nc);
    if (!ev) {
        timer_arm(nc->wheel, t, env_now_us() + 100); /* event array full: try again soon */
        return;
    }
    ev->type = IX_EV_TIMER;
    ev->cookie = at->cookie;
    at->armed = 0;
}

void dp_timers_init(struct dataplane *dp)
{
    for (int i = 0; i < DP_APP_TIMERS; i++)
        timer_init(&dp->timers[i].t, timer_fired);
}

int dp_timer_arm(struct dataplane *dp, uint64_t cookie, uint64_t delay_us, uint64_t *handle)
{
    for (uint32_t i = 0; i < DP_APP_TIMERS; i++) {
        struct app_timer *at = &dp->timers[i];
        if (at->armed)
            continue;
        at->armed = 1;
        at->fired = 0;
        at->gen++;
        at->cookie = cookie;
        timer_arm(dp->nc.wheel, &at->t, env_now_us() + delay_us);
        *handle = ((uint64_t)at->gen << 8) | i;
        return 0;
    }
    return -IX_ENOMEM;
}

int dp_timer_cancel(struct dataplane *dp, uint64_t handle)
{
    uint32_t i = handle & 0xff;
    if (i >= DP_APP_TIMERS || dp->timers[i].gen != (uint32_t)(handle >> 8) || !dp->timers[i].armed)
        return -IX_EBADH;
    timer_cancel(dp->nc.wheel, &dp->timers[i].t);
    dp->timers[i].armed = 0;
    return 0;
}

void dp_timers_cancel_all(struct dataplane *dp)
{
    for (int i = 0; i < DP_APP_TIMERS; i++)
        if (dp->timers[i].armed) {
            timer_cancel(dp->nc.wheel, &dp->timers[i].t);
            dp->timers[i].armed = 0;
        }
}
