/* Hierarchical timer wheel (Varghese & Lauck, scheme 7), one per dataplane core.
 *
 * Three levels of 256 slots each. Time is counted in ticks of `tick_us` microseconds.
 * Level 0 holds timers due within 256 ticks, level 1 within 2^16 ticks, level 2 within
 * 2^24 ticks; a timer further out than that waits on an overflow list that is re-filed
 * each time level 2 wraps (every 2^24 ticks; rare: 28 min at 100 us ticks). Arm and cancel are O(1)
 * (intrusive doubly linked lists); running is O(1) per tick plus O(1) per expired or
 * cascaded timer. Timers never fire early: a deadline is rounded up to the next tick.
 *
 * Like IX, the wheel is per core and lock-free by construction: only its core touches it.
 * Callbacks may arm or cancel any timer, including the one being run.
 */
#ifndef IX_NET_TIMER_H
#define IX_NET_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define TIMER_LEVELS 3
#define TIMER_SLOT_BITS 8
#define TIMER_SLOTS (1u << TIMER_SLOT_BITS)

struct timer;
/* `arg` is whatever was passed to timer_wheel_run (the stack passes its struct net_core). */
typedef void (*timer_fn)(struct timer *t, void *arg);

struct timer_link {
    struct timer_link *next, *prev;
};

struct timer {
    struct timer_link link;   /* first: a slot head is a bare link */
    uint64_t expires;         /* in ticks */
    timer_fn fn;
};

struct timer_wheel {
    uint64_t cur;             /* next tick to process */
    uint32_t tick_us;
    uint32_t count;           /* armed timers */
    uint64_t bitmap[TIMER_LEVELS][TIMER_SLOTS / 64]; /* non-empty slots, for the deadline query */
    struct timer_link slot[TIMER_LEVELS][TIMER_SLOTS];
    struct timer_link far;    /* beyond level 2's span */
};

/* Start the wheel at time now_us with the given resolution (tick_us >= 1). */
void timer_wheel_init(struct timer_wheel *w, uint64_t now_us, uint32_t tick_us);

/* Prepare a timer (not armed). Must be called once before arming. */
void timer_init(struct timer *t, timer_fn fn);

/* Arm (or re-arm: an armed timer is moved) to fire at or after deadline_us. */
void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t deadline_us);

/* Disarm; no-op if not armed. */
void timer_cancel(struct timer_wheel *w, struct timer *t);

static inline bool timer_pending(const struct timer *t) { return t->link.next != 0; }

/* Run every timer due at now_us (calls fn(t, arg) with t already disarmed). Returns how
 * many fired. now_us earlier than the wheel's time is treated as "nothing due". */
unsigned timer_wheel_run(struct timer_wheel *w, uint64_t now_us, void *arg);

/* Earliest deadline of any armed timer, in microseconds (a multiple of tick_us), or
 * UINT64_MAX when none is armed. Lets an idle core sleep exactly until then. */
uint64_t timer_wheel_next_deadline(const struct timer_wheel *w);

/* The wheel's current time in microseconds (start of the next tick to process). */
static inline uint64_t timer_wheel_now_us(const struct timer_wheel *w)
{
    return w->cur * w->tick_us;
}

#endif
