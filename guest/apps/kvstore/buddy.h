/* kvstore: a binary buddy allocator over one contiguous arena (the app's heap, per core).
 *
 * Blocks are 64 << order bytes (order 0 .. max_order), aligned to their size relative to the
 * arena start. A one-byte tag per 64-byte unit marks where free blocks start and their order,
 * so freeing merges with the buddy in O(max_order) without searching. Why buddy and not
 * memcached's slab classes: one global pool lets any freed memory serve any item size (no
 * slab-class calcification) with constant-time operations; the cost is up to 2x internal
 * fragmentation, which the LRU bound absorbs (eviction just runs a little earlier). */
#ifndef KV_BUDDY_H
#define KV_BUDDY_H
#include <stddef.h>
#include <stdint.h>

#define BUDDY_UNIT_SHIFT 6 /* 64-byte minimum block */
#define BUDDY_ORDERS 26    /* up to 64 << 25 = 2 GiB blocks */

struct buddy_free {
    struct buddy_free *next, *prev;
};

struct buddy {
    char *base;               /* arena start */
    uint64_t size;            /* arena bytes: a multiple of the top block size */
    uint8_t *tag;             /* one per unit: 0x80 | order at the first unit of a free block */
    unsigned max_order;
    struct buddy_free *free[BUDDY_ORDERS];
    uint64_t used;            /* bytes in allocated blocks */
};

/* Bytes of tag map buddy_init needs for an arena of `size` bytes. */
static inline uint64_t buddy_tag_bytes(uint64_t size) { return size >> BUDDY_UNIT_SHIFT; }
/* The smallest order whose blocks hold `bytes`, or -1 if larger than 64 << (ORDERS - 1). */
int buddy_order_for(uint64_t bytes);

/* Set up `b` over [base, base + size); size is rounded down to a multiple of the top block
 * (64 << max_order). `tag` must hold buddy_tag_bytes(size) bytes. Returns 0, or -1 if the
 * arena is smaller than one top block. */
int buddy_init(struct buddy *b, void *base, uint64_t size, uint8_t *tag, unsigned max_order);
void *buddy_alloc(struct buddy *b, unsigned order);
void buddy_free(struct buddy *b, void *p, unsigned order);

#endif
