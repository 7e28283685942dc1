/* Host unit test of the hierarchical timer wheel (guest/net/timer.c).
 *
 * Checks against a brute-force model under random arm/cancel/advance sequences spanning
 * all three levels and beyond the wheel's span: every timer fires exactly once, never
 * before its deadline, and no later than the first run whose time reaches it; the
 * next-deadline query is exact. Plus targeted cases: callbacks re-arming and cancelling.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../net/timer.h"
#include "check.h"


#define N 512
struct mt {
    struct timer t;      /* first: the callback casts back */
    int armed;
    uint64_t deadline;   /* us */
    uint64_t due;        /* when it must have fired: deadline rounded up to the tick, or the
                            wheel's next tick if that was already past when armed */
    int fired;
};
static struct mt timers[N];
static uint64_t now_us;
static uint32_t tick = 10;

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void fire(struct timer *t, void *arg)
{
    struct mt *m = (struct mt *)t;
    CHECK_MSG(arg == (void *)&timers, "arg passed through");
    CHECK_MSG(m->armed, "timer %ld fired while not armed", (long)(m - timers));
    CHECK_MSG(now_us >= m->deadline, "timer %ld fired early: now %lu deadline %lu", (long)(m - timers),
          (unsigned long)now_us, (unsigned long)m->deadline);
    m->armed = 0;
    m->fired++;
}

static uint64_t model_next(void)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < N; i++)
        if (timers[i].armed) {
            uint64_t d = timers[i].due;
            if (d < best)
                best = d;
        }
    return best;
}

static void random_test(void)
{
    static struct timer_wheel w;
    now_us = 123456789;
    timer_wheel_init(&w, now_us, tick);
    for (int i = 0; i < N; i++) {
        timer_init(&timers[i].t, fire);
        timers[i].armed = 0;
    }
    uint64_t total_fired = 0, total_armed = 0;
    for (int step = 0; step < 100000; step++) {
        uint64_t r = rnd() % 100;
        struct mt *m = &timers[rnd() % N];
        if (r < 45) {
            uint64_t delay;
            switch (rnd() % 5) {
            case 0: delay = rnd() % (300ull * tick); break;             /* level 0 */
            case 1: delay = rnd() % (70000ull * tick); break;           /* level 1 */
            case 2: delay = rnd() % ((1ull << 24) * tick); break;       /* level 2 */
            case 3: delay = rnd() % ((1ull << 26) * tick); break;       /* beyond the span */
            default: delay = 0; break;                                  /* due now */
            }
            uint64_t dl = now_us + delay;
            if (rnd() % 10 == 0 && now_us > 1000)
                dl = now_us - rnd() % 1000; /* already past */
            timer_arm(&w, &m->t, dl);
            if (!m->armed)
                total_armed++;
            else
                total_armed++, total_fired++; /* re-arm replaces: count as consumed */
            m->armed = 1;
            m->deadline = dl;
            m->due = (dl + tick - 1) / tick * tick;
            if (m->due < timer_wheel_now_us(&w))
                m->due = timer_wheel_now_us(&w);
        } else if (r < 55) {
            if (m->armed)
                total_fired++;
            timer_cancel(&w, &m->t);
            m->armed = 0;
            CHECK_MSG(!timer_pending(&m->t), "cancelled timer not pending");
        } else {
            uint64_t adv;
            switch (rnd() % 4) {
            case 0: adv = rnd() % (3ull * tick); break;
            case 1: adv = rnd() % (500ull * tick); break;
            case 2: adv = rnd() % (100000ull * tick); break;
            default: adv = (rnd() % 8 == 0) ? rnd() % ((1ull << 25) * tick) : 0; break;
            }
            now_us += adv;
            uint64_t before = 0;
            for (int i = 0; i < N; i++)
                before += (uint64_t)timers[i].fired;
            unsigned n = timer_wheel_run(&w, now_us, &timers);
            uint64_t after = 0;
            for (int i = 0; i < N; i++)
                after += (uint64_t)timers[i].fired;
            CHECK_MSG(after - before == n, "run returned %u, %lu fired", n, (unsigned long)(after - before));
            total_fired += n;
            for (int i = 0; i < N; i++)
                CHECK_MSG(!(timers[i].armed && timers[i].due <= now_us), "timer %d overdue: due %lu now %lu", i,
                      (unsigned long)timers[i].due, (unsigned long)now_us);
        }
        unsigned armed = 0;
        for (int i = 0; i < N; i++)
            armed += timers[i].armed != 0;
        CHECK_MSG(armed == w.count, "count %u model %u", w.count, armed);
        if (step % 7 == 0) {
            uint64_t got = timer_wheel_next_deadline(&w), want = model_next();
            CHECK_MSG(got == want, "next deadline %lu, model %lu (step %d)", (unsigned long)got, (unsigned long)want, step);
        }
    }
    /* Drain: everything fires eventually. */
    now_us += (1ull << 28) * tick;
    total_fired += timer_wheel_run(&w, now_us, &timers);
    CHECK_MSG(w.count == 0, "all fired, %u left", w.count);
    CHECK_MSG(total_fired == total_armed, "armed %lu consumed %lu", (unsigned long)total_armed, (unsigned long)total_fired);
    CHECK_MSG(timer_wheel_next_deadline(&w) == UINT64_MAX, "empty wheel has no deadline");
}

/* Callbacks that re-arm themselves and cancel others. */
static struct timer_wheel w2;
static struct timer a, b, c;
static int a_runs, b_runs, c_runs;
static uint64_t now2;
static void a_fn(struct timer *t, void *arg)
{
    (void)arg;
    a_runs++;
    if (a_runs < 5)
        timer_arm(&w2, t, now2 + 100); /* periodic */
    timer_cancel(&w2, &c);             /* c shares a's slot: must not run */
}
static void b_fn(struct timer *t, void *arg)
{
    (void)arg;
    b_runs++;
    if (b_runs < 3)
        timer_arm(&w2, t, now2); /* due immediately: must run on a later tick, not loop */
}
static void c_fn(struct timer *t, void *arg) { (void)t; (void)arg; c_runs++; }

static void callback_test(void)
{
    now2 = 0;
    timer_wheel_init(&w2, 0, 1);
    timer_init(&a, a_fn);
    timer_init(&b, b_fn);
    timer_init(&c, c_fn);
    timer_arm(&w2, &a, 100);
    timer_arm(&w2, &c, 100);
    timer_arm(&w2, &b, 50);
    now2 = 50;
    CHECK_MSG(timer_wheel_run(&w2, now2, NULL) == 1 && b_runs == 1, "b once at 50");
    now2 = 100;
    timer_wheel_run(&w2, now2, NULL);
    CHECK_MSG(a_runs == 1, "a ran once: %d", a_runs);
    /* b re-armed for "now" (50) at 50 runs on the next tick (51), within this run, re-arms
     * for 100 and runs once more: three runs, no loop. */
    CHECK_MSG(b_runs == 3, "b re-armed for 'now' ran on later ticks within the same run: %d", b_runs);
    CHECK_MSG(c_runs == 0, "c was cancelled by a");
    for (int i = 0; i < 10; i++) {
        now2 += 100;
        timer_wheel_run(&w2, now2, NULL);
    }
    CHECK_MSG(a_runs == 5, "a periodic 5 times: %d", a_runs);
    CHECK_MSG(b_runs == 3, "b 3 times: %d", b_runs);
    CHECK_MSG(w2.count == 0, "wheel empty");
    /* Deadlines are rounded up to the tick: never early. */
    timer_wheel_init(&w2, 1000, 64);
    timer_arm(&w2, &c, 1001);
    CHECK_MSG(timer_wheel_next_deadline(&w2) == 1024, "rounded up to tick: %lu", (unsigned long)timer_wheel_next_deadline(&w2));
    CHECK_MSG(timer_wheel_run(&w2, 1023, NULL) == 0, "not early");
    CHECK_MSG(timer_wheel_run(&w2, 1024, NULL) == 1 && c_runs == 1, "fires at the tick");
}

int main(void)
{
    callback_test();
    random_test();
    return check_summary("timer_test");
}
