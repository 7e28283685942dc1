#include "buddy.h"

#define TAG_FREE 0x80u

int buddy_order_for(uint64_t bytes)
{
    for (int o = 0; o < BUDDY_ORDERS; o++)
        if (((uint64_t)1 << (o + BUDDY_UNIT_SHIFT)) >= bytes)
            return o;
    return -1;
}

static void push(struct buddy *b, struct buddy_free *f, unsigned order)
{
    f->prev = 0;
    f->next = b->free[order];
    if (f->next)
        f->next->prev = f;
    b->free[order] = f;
    b->tag[((char *)f - b->base) >> BUDDY_UNIT_SHIFT] = (uint8_t)(TAG_FREE | order);
}

static void unlink_free(struct buddy *b, struct buddy_free *f, unsigned order)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        b->free[order] = f->next;
    if (f->next)
        f->next->prev = f->prev;
    b->tag[((char *)f - b->base) >> BUDDY_UNIT_SHIFT] = (uint8_t)order; /* not free any more */
}

int buddy_init(struct buddy *b, void *base, uint64_t size, uint8_t *tag, unsigned max_order)
{
    if (max_order >= BUDDY_ORDERS)
        return -1;
    uint64_t top = (uint64_t)1 << (max_order + BUDDY_UNIT_SHIFT);
    size -= size % top;
    if (size == 0)
        return -1;
    b->base = (char *)base;
    b->size = size;
    b->tag = tag;
    b->max_order = max_order;
    b->used = 0;
    for (unsigned o = 0; o < BUDDY_ORDERS; o++)
        b->free[o] = 0;
    for (uint64_t i = 0; i < buddy_tag_bytes(size); i++)
        tag[i] = 0;
    /* push in reverse so that allocation starts at the low end (nicer to read in a dump) */
    for (uint64_t off = size; off > 0; off -= top)
        push(b, (struct buddy_free *)(b->base + off - top), max_order);
    return 0;
}

void *buddy_alloc(struct buddy *b, unsigned order)
{
    unsigned o = order;
    while (o <= b->max_order && !b->free[o])
        o++;
    if (o > b->max_order)
        return 0;
    struct buddy_free *f = b->free[o];
    unlink_free(b, f, o);
    /* split down: the upper halves go back to the free lists */
    while (o > order) {
        o--;
        push(b, (struct buddy_free *)((char *)f + ((uint64_t)1 << (o + BUDDY_UNIT_SHIFT))), o);
    }
    b->tag[((char *)f - b->base) >> BUDDY_UNIT_SHIFT] = (uint8_t)order;
    b->used += (uint64_t)1 << (order + BUDDY_UNIT_SHIFT);
    return f;
}

void buddy_free(struct buddy *b, void *p, unsigned order)
{
    uint64_t off = (uint64_t)((char *)p - b->base);
    b->used -= (uint64_t)1 << (order + BUDDY_UNIT_SHIFT);
    while (order < b->max_order) {
        uint64_t bsize = (uint64_t)1 << (order + BUDDY_UNIT_SHIFT);
        uint64_t buddy = off ^ bsize;
        if (b->tag[buddy >> BUDDY_UNIT_SHIFT] != (TAG_FREE | order))
            break;
        unlink_free(b, (struct buddy_free *)(b->base + buddy), order);
        b->tag[buddy >> BUDDY_UNIT_SHIFT] = 0; /* now inside a larger block: no stale tag */
        b->tag[off >> BUDDY_UNIT_SHIFT] = 0;
        off &= ~bsize;
        order++;
    }
    push(b, (struct buddy_free *)(b->base + off), order);
}
