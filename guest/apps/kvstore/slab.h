/* kvstore: slab classes over the item arena, as memcached's slab allocator.
 *
 * The arena is cut into pages of one size. Class 1 holds chunks of `min_chunk` bytes, each
 * next class chunks `factor` (percent) times larger, 8-byte aligned (memcached's -n and -f;
 * defaults 48 bytes of data after the item header and 1.25), up to the page size: the last
 * class holds one chunk per page. A page is given to a class the first time the class has no
 * free chunk, and carved into that class's chunks as they are needed; freed chunks go back
 * to their class's free list. When no page is left, a page whose chunks are all free can be
 * moved to another class (slab_page_move; the store empties one first, as memcached's slab
 * rebalancer does). An item takes the chunk of the smallest class it fits: internal waste
 * is bounded by the growth factor instead of the power of two of a buddy allocator. Not
 * thread-safe: the store's lock guards it. */
#ifndef KV_SLAB_H
#define KV_SLAB_H
#include <stdint.h>

#define SLAB_CLASSES 64 /* class ids 1 .. 63, as memcached's (0 unused) */
#define SLAB_ALIGN 8

struct slab_class {
    uint32_t size;     /* chunk bytes */
    uint32_t perslab;  /* chunks per page */
    void *free;        /* freed chunks, linked through their first word */
    uint64_t nfree;
    char *end;         /* the next never-used chunk of this class's newest page */
    uint32_t end_left; /* never-used chunks left there */
    uint32_t pad;
    uint64_t pages;    /* pages given to this class */
    uint64_t used;     /* chunks handed out and not freed */
};

struct slab {
    char *base;         /* first page (pages follow one another) */
    uint8_t *owner;     /* class id of each page, 0 while not given out */
    uint64_t page_size;
    uint64_t npages;    /* pages in the arena */
    uint64_t next_page; /* pages given out so far */
    unsigned largest;   /* highest class id */
    struct slab_class cls[SLAB_CLASSES];
};

/* Lay out classes and pages over [base, base + size): pages of page_size bytes (a multiple
 * of 8), class 1 of min_chunk bytes, growth factor_pct/100 (> 100). Returns 0, or -1 when
 * the arena has no page or the arguments make no class. */
int slab_init(struct slab *s, void *base, uint64_t size, uint64_t page_size, uint32_t min_chunk, uint32_t factor_pct);
/* The class whose chunks hold `bytes` (the smallest that fits), or 0 if none does. */
unsigned slab_class_for(const struct slab *s, uint64_t bytes);
/* A chunk of class id, or NULL when it has no free chunk and no page is left to give it. */
void *slab_alloc(struct slab *s, unsigned id);
void slab_free(struct slab *s, void *p, unsigned id);
/* Is this chunk of page `page` free (on its class's free list, or not carved yet)? */
int slab_chunk_free(const struct slab *s, uint64_t page, const void *chunk);
/* Give page `page`, all of whose chunks are free, to class `to` (which has no free chunk
 * left): its chunks leave the old class's free list and are carved anew for `to`. */
void slab_page_move(struct slab *s, uint64_t page, unsigned to);

#endif
