/* Hierarchical timer wheel: see timer.h for the scheme.
 *
 * Invariant that makes cascading exact: a timer filed at level L (L >= 1) with expiry E
 * sits in slot (E >> 8L) & 255, and at filing time E >> 8L is strictly greater than
 * cur >> 8L and less than (cur >> 8L) + 256. So its slot is never the one of the current
 * block, and it is cascaded (re-filed one or more levels down) exactly when the wheel
 * enters E's block at that level - before any tick of that block is processed.
 */
#include "timer.h"

#include <stddef.h>

#define SLOT_MASK (TIMER_SLOTS - 1u)

static void link_init(struct timer_link *h) { h->next = h->prev = h; }

static void bit_set(struct timer_wheel *w, unsigned lvl, unsigned s)
{
    w->bitmap[lvl][s >> 6] |= 1ull << (s & 63);
}

static void bit_clear_if_empty(struct timer_wheel *w, unsigned lvl, unsigned s)
{
    if (w->slot[lvl][s].next == &w->slot[lvl][s])
        w->bitmap[lvl][s >> 6] &= ~(1ull << (s & 63));
}

void timer_wheel_init(struct timer_wheel *w, uint64_t now_us, uint32_t tick_us)
{
    if (tick_us == 0)
        tick_us = 1;
    w->tick_us = tick_us;
    w->cur = now_us / tick_us;
    w->count = 0;
    for (unsigned l = 0; l < TIMER_LEVELS; l++) {
        for (unsigned i = 0; i < TIMER_SLOTS / 64; i++)
            w->bitmap[l][i] = 0;
        for (unsigned s = 0; s < TIMER_SLOTS; s++)
            link_init(&w->slot[l][s]);
    }
    link_init(&w->far);
}

void timer_init(struct timer *t, timer_fn fn)
{
    t->link.next = t->link.prev = NULL;
    t->expires = 0;
    t->fn = fn;
}

/* Which level and slot a timer expiring at tick e belongs to, given the wheel's cur. */
static void place(const struct timer_wheel *w, uint64_t e, unsigned *lvl, unsigned *slot)
{
    uint64_t cur = w->cur;
    if (e < cur)
        e = cur; /* overdue: fire on the next tick processed */
    /* Compare block numbers, not tick distances: a distance below 2^16 can still reach
     * block (cur >> 8) + 256, whose slot is the current block's own. */
    if (e - cur < TIMER_SLOTS) {
        *lvl = 0;
        *slot = (unsigned)(e & SLOT_MASK);
    } else if ((e >> 8) - (cur >> 8) < TIMER_SLOTS) {
        *lvl = 1;
        *slot = (unsigned)((e >> 8) & SLOT_MASK);
    } else if ((e >> 16) - (cur >> 16) < TIMER_SLOTS) {
        *lvl = 2;
        *slot = (unsigned)((e >> 16) & SLOT_MASK);
    } else {
        *lvl = TIMER_LEVELS; /* the overflow list */
        *slot = 0;
    }
}

static void file_timer(struct timer_wheel *w, struct timer *t)
{
    unsigned lvl, s;
    place(w, t->expires, &lvl, &s);
    struct timer_link *h = lvl == TIMER_LEVELS ? &w->far : &w->slot[lvl][s];
    t->link.next = h;
    t->link.prev = h->prev;
    h->prev->next = &t->link;
    h->prev = &t->link;
    if (lvl < TIMER_LEVELS)
        bit_set(w, lvl, s);
}

/* Unlink without touching the bitmap (the caller fixes it when it knows the slot). */
static void unlink_timer(struct timer *t)
{
    t->link.prev->next = t->link.next;
    t->link.next->prev = t->link.prev;
    t->link.next = t->link.prev = NULL;
}

/* Find the slot head a linked timer sits in, to keep the bitmap exact on cancel. We know
 * its level/slot from its expiry only if cur has not moved across a cascade since it was
 * filed, so instead we check the neighbours: a slot head lies inside w->slot[][]. */
static void fix_bitmap_after_unlink(struct timer_wheel *w, struct timer_link *neighbour)
{
    const struct timer_link *first = &w->slot[0][0];
    const struct timer_link *last = &w->slot[TIMER_LEVELS - 1][TIMER_SLOTS - 1];
    if (neighbour >= first && neighbour <= last) {
        size_t idx = (size_t)(neighbour - first);
        unsigned lvl = (unsigned)(idx / TIMER_SLOTS), s = (unsigned)(idx % TIMER_SLOTS);
        bit_clear_if_empty(w, lvl, s);
    }
}

void timer_cancel(struct timer_wheel *w, struct timer *t)
{
    if (!timer_pending(t))
        return;
    struct timer_link *nb = t->link.next;
    unlink_timer(t);
    /* If the slot became empty, next == prev == head, and our old next was the head. */
    fix_bitmap_after_unlink(w, nb);
    w->count--;
}

void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t deadline_us)
{
    timer_cancel(w, t);
    t->expires = (deadline_us + w->tick_us - 1) / w->tick_us;
    file_timer(w, t);
    w->count++;
}

/* Re-file every timer of one list (a slot, or the overflow list) where it now belongs. */
static void refile_list(struct timer_wheel *w, struct timer_link *h)
{
    struct timer_link list;
    if (h->next == h)
        return;
    /* Detach the whole list first: re-filing may land in this very list. */
    list.next = h->next;
    list.prev = h->prev;
    list.next->prev = &list;
    list.prev->next = &list;
    link_init(h);
    while (list.next != &list) {
        struct timer *t = (struct timer *)list.next;
        unlink_timer(t);
        file_timer(w, t);
    }
}

static void cascade(struct timer_wheel *w, unsigned lvl, unsigned s)
{
    w->bitmap[lvl][s >> 6] &= ~(1ull << (s & 63));
    refile_list(w, &w->slot[lvl][s]);
}

/* Process tick w->cur: cascade if a block boundary is crossed, then fire level-0 slot. */
static unsigned run_tick(struct timer_wheel *w, void *arg)
{
    uint64_t tick = w->cur;
    if ((tick & SLOT_MASK) == 0) {
        if (((tick >> 8) & SLOT_MASK) == 0) {
            /* Overflow first: what it re-files into level 2's current slot is cascaded
             * further down right after. */
            if (((tick >> 16) & SLOT_MASK) == 0)
                refile_list(w, &w->far);
            cascade(w, 2, (unsigned)((tick >> 16) & SLOT_MASK));
        }
        cascade(w, 1, (unsigned)((tick >> 8) & SLOT_MASK));
    }
    unsigned s = (unsigned)(tick & SLOT_MASK);
    struct timer_link *h = &w->slot[0][s];
    if (h->next == h) {
        w->cur = tick + 1;
        return 0;
    }
    /* Detach, then advance cur, so timers (re)armed by callbacks for "now" go to the next
     * tick instead of this list, and callbacks may cancel other timers of this list. */
    struct timer_link list;
    list.next = h->next;
    list.prev = h->prev;
    list.next->prev = &list;
    list.prev->next = &list;
    link_init(h);
    w->bitmap[0][s >> 6] &= ~(1ull << (s & 63));
    w->cur = tick + 1;
    unsigned fired = 0;
    while (list.next != &list) {
        struct timer *t = (struct timer *)list.next;
        unlink_timer(t);
        w->count--;
        fired++;
        t->fn(t, arg);
    }
    return fired;
}

/* Lowest set bit at or after `from` (circularly) in one level's bitmap, or -1. */
static int first_set(const uint64_t *bm, unsigned from)
{
    for (unsigned k = 0; k < TIMER_SLOTS; k++) {
        unsigned s = (from + k) & SLOT_MASK;
        uint64_t word = bm[s >> 6] >> (s & 63);
        if (word) {
            unsigned step = (unsigned)__builtin_ctzll(word);
            /* stay within this 64-bit word; the loop handles wrap to the next word */
            return (int)((s + step) & SLOT_MASK);
        }
        /* skip to the start of the next word */
        k += 63 - (s & 63);
    }
    return -1;
}

unsigned timer_wheel_run(struct timer_wheel *w, uint64_t now_us, void *arg)
{
    uint64_t target = now_us / w->tick_us;
    unsigned fired = 0;
    while (w->cur <= target) {
        if (w->count == 0) {
            w->cur = target + 1; /* nothing armed: jump */
            break;
        }
        /* Skip empty stretches of level 0 up to the next block boundary. */
        if (w->cur & SLOT_MASK) {
            uint64_t block_end = (w->cur | SLOT_MASK) + 1; /* next boundary (cascade tick) */
            int s = first_set(w->bitmap[0], (unsigned)(w->cur & SLOT_MASK));
            uint64_t next = block_end;
            if (s >= 0) {
                uint64_t d = ((unsigned)s - (w->cur & SLOT_MASK)) & SLOT_MASK;
                if (w->cur + d < next)
                    next = w->cur + d;
            }
            if (next > target + 1)
                next = target + 1;
            if (next > w->cur) {
                w->cur = next;
                continue;
            }
        }
        fired += run_tick(w, arg);
    }
    return fired;
}

static uint64_t slot_min(const struct timer_link *h)
{
    uint64_t m = UINT64_MAX;
    for (const struct timer_link *l = h->next; l != h; l = l->next) {
        const struct timer *t = (const struct timer *)l;
        if (t->expires < m)
            m = t->expires;
    }
    return m;
}

uint64_t timer_wheel_next_deadline(const struct timer_wheel *w)
{
    if (w->count == 0)
        return UINT64_MAX;
    uint64_t best = UINT64_MAX;
    /* Per level the first non-empty slot in time order holds that level's earliest
     * timers (see the invariant at the top); the overall minimum is among them. The scan
     * starts at the current block's own slot: it is empty except when cur sits on a block
     * boundary whose cascade has not run yet, and then it holds the earliest timers. */
    for (unsigned lvl = 0; lvl < TIMER_LEVELS; lvl++) {
        unsigned from = (unsigned)((w->cur >> (8 * lvl)) & SLOT_MASK);
        int s = first_set(w->bitmap[lvl], from);
        if (s < 0)
            continue;
        uint64_t m = slot_min(&w->slot[lvl][s]);
        if (m < best)
            best = m;
    }
    /* Overflow timers can be earlier than level-2 timers filed later: scan them (rare). */
    uint64_t m = slot_min(&w->far);
    if (m < best)
        best = m;
    if (best < w->cur)
        best = w->cur;
    return best * w->tick_us;
}
