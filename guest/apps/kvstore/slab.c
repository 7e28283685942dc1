#include "slab.h"
#include "list.h"

/* A free chunk: the free list is doubly linked (a page moved to another class takes its
 * chunks out of the list wherever they are); `magic` tells a free chunk from an item, whose
 * second word is a pointer or 0. */
struct slab_chunk {
    struct slab_chunk *next;
    uint64_t magic;
    struct slab_chunk *prev;
};
#define CHUNK_FREE 0xf4eef4eef4eef4eeull
#define NO_TAIL ((struct slab_chunk **)0) /* the free lists are used from the head only */

static uint64_t align_up(uint64_t v) { return (v + SLAB_ALIGN - 1) & ~(uint64_t)(SLAB_ALIGN - 1); }

int slab_init(struct slab *s, void *base, uint64_t size, uint64_t page_size, uint32_t min_chunk, uint32_t factor_pct)
{
    __builtin_memset(s, 0, sizeof(*s));
    if (page_size == 0 || page_size % SLAB_ALIGN || factor_pct <= 100 || min_chunk == 0 || min_chunk > page_size)
        return -1;
    /* the owner map (a byte per page), then the pages, 64-aligned */
    uint64_t n = size / page_size;
    while (n && 63 + n + n * page_size > size)
        n--;
    if (n == 0)
        return -1;
    s->owner = (uint8_t *)base;
    s->base = (char *)(((uint64_t)base + n + 63) & ~63ull);
    s->page_size = page_size;
    s->npages = n;
    for (uint64_t i = 0; i < n; i++)
        s->owner[i] = 0;
    /* as memcached's slabs_init: grow while the next size stays below the largest chunk
     * divided by the factor; the last class is the whole page */
    uint64_t sz = align_up(min_chunk);
    unsigned id = 1;
    while (id < SLAB_CLASSES - 1 && sz * factor_pct < page_size * 100) {
        s->cls[id].size = (uint32_t)sz;
        s->cls[id].perslab = (uint32_t)(page_size / sz);
        id++;
        uint64_t next = align_up(sz * factor_pct / 100);
        sz = next > sz ? next : sz + SLAB_ALIGN;
    }
    s->cls[id].size = (uint32_t)page_size;
    s->cls[id].perslab = 1;
    s->largest = id;
    return 0;
}

unsigned slab_class_for(const struct slab *s, uint64_t bytes)
{
    if (bytes == 0 || bytes > s->page_size)
        return 0;
    unsigned lo = 1, hi = s->largest; /* sizes ascend: the first class of size >= bytes */
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (s->cls[mid].size >= bytes)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void *slab_alloc(struct slab *s, unsigned id)
{
    if (id == 0 || id > s->largest)
        return 0;
    struct slab_class *c = &s->cls[id];
    void *p;
    if (c->free) {
        struct slab_chunk *f = c->free;
        KV_LIST_REMOVE(&c->free, NO_TAIL, f);
        f->magic = 0;
        p = f;
        c->nfree--;
    } else {
        if (c->end_left == 0) {
            if (s->next_page == s->npages)
                return 0;
            c->end = s->base + s->next_page * s->page_size;
            c->end_left = c->perslab;
            s->owner[s->next_page] = (uint8_t)id;
            s->next_page++;
            c->pages++;
        }
        p = c->end;
        c->end += c->size;
        c->end_left--;
    }
    c->used++;
    return p;
}

void slab_free(struct slab *s, void *p, unsigned id)
{
    struct slab_class *c = &s->cls[id];
    struct slab_chunk *f = p;
    f->magic = CHUNK_FREE;
    KV_LIST_PUSH(&c->free, NO_TAIL, f);
    c->nfree++;
    c->used--;
}

int slab_chunk_free(const struct slab *s, uint64_t page, const void *chunk)
{
    const struct slab_class *c = &s->cls[s->owner[page]];
    const char *start = s->base + page * s->page_size;
    if (c->end_left && c->end >= start && c->end < start + s->page_size && (const char *)chunk >= c->end)
        return 1; /* not carved yet (only the class's newest page has such chunks) */
    return ((const struct slab_chunk *)chunk)->magic == CHUNK_FREE;
}

void slab_page_move(struct slab *s, uint64_t page, unsigned to)
{
    unsigned from = s->owner[page];
    struct slab_class *c = &s->cls[from];
    char *start = s->base + page * s->page_size;
    int newest = c->end_left && c->end >= start && c->end < start + s->page_size;
    char *stop = newest ? c->end : start + (uint64_t)c->perslab * c->size;
    for (char *p = start; p < stop; p += c->size) {
        struct slab_chunk *f = (struct slab_chunk *)p;
        KV_LIST_REMOVE(&c->free, NO_TAIL, f);
        f->magic = 0;
        c->nfree--;
    }
    if (newest)
        c->end_left = 0;
    c->pages--;
    struct slab_class *t = &s->cls[to];
    s->owner[page] = (uint8_t)to;
    t->pages++;
    t->end = start;
    t->end_left = t->perslab;
}
