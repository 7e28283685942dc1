/* Fixed-size mbuf pools: no heap, a LIFO free list, O(1) address-to-mbuf lookup. */
#include "mbuf.h"

uint32_t mbuf_pool_init(struct mbuf_pool *p, void *mem, size_t len)
{
    /* Align the first chunk to 64 bytes so struct mbuf never straddles cache lines. */
    uintptr_t start = ((uintptr_t)mem + 63) & ~(uintptr_t)63;
    size_t skip = start - (uintptr_t)mem;
    uint32_t n = len > skip ? (uint32_t)((len - skip) / MBUF_SIZE) : 0;

    p->base = (uint8_t *)start;
    p->count = n;
    p->in_use = 0;
    p->free_list = NULL;
    p->alloc_failures = 0;
    p->double_frees = 0;
    /* Push in reverse so the first allocation returns the lowest chunk. */
    for (uint32_t i = n; i-- > 0;) {
        struct mbuf *m = (struct mbuf *)(p->base + (size_t)i * MBUF_SIZE);
        m->pool = p;
        m->flags = 0;
        m->next = p->free_list;
        p->free_list = m;
    }
    return n;
}

struct mbuf *mbuf_alloc(struct mbuf_pool *p)
{
    struct mbuf *m = p->free_list;
    if (m == NULL) {
        p->alloc_failures++;
        return NULL;
    }
    p->free_list = m->next;
    p->in_use++;
    m->next = NULL;
    m->data = mbuf_buf(m) + MBUF_HEADROOM;
    m->len = 0;
    m->flags = MBUF_F_INUSE;
    m->aux = 0;
    m->aux2 = 0;
    return m;
}

void mbuf_free(struct mbuf *m)
{
    struct mbuf_pool *p = m->pool;
    if (!(m->flags & MBUF_F_INUSE)) {
        /* A double free would put the chunk twice on the list and hand it to two owners
         * later; refuse it and count it so tests can assert it never happens. */
        p->double_frees++;
        return;
    }
    m->flags = 0;
    m->next = p->free_list;
    p->free_list = m;
    p->in_use--;
}

uint8_t *mbuf_prepend(struct mbuf *m, uint32_t n)
{
    if (n > mbuf_headroom(m))
        return NULL;
    m->data -= n;
    m->len += n;
    return m->data;
}

void mbuf_adj(struct mbuf *m, uint32_t n)
{
    if (n > m->len)
        n = m->len;
    m->data += n;
    m->len -= n;
}

uint8_t *mbuf_append(struct mbuf *m, uint32_t n)
{
    if (n > mbuf_tailroom(m))
        return NULL;
    uint8_t *old_end = m->data + m->len;
    m->len += n;
    return old_end;
}

void mbuf_trim(struct mbuf *m, uint32_t n)
{
    if (m->len > n)
        m->len = n;
}

uint32_t mbuf_pool_in_use(const struct mbuf_pool *p) { return p->in_use; }

struct mbuf *mbuf_from_addr(struct mbuf_pool *p, uintptr_t addr)
{
    uintptr_t base = (uintptr_t)p->base;
    if (addr < base)
        return NULL;
    uintptr_t idx = (addr - base) / MBUF_SIZE;
    if (idx >= p->count)
        return NULL;
    struct mbuf *m = (struct mbuf *)(p->base + idx * MBUF_SIZE);
    /* An address inside the struct itself is not a payload address. */
    if (addr < (uintptr_t)mbuf_buf(m) || !(m->flags & MBUF_F_INUSE))
        return NULL;
    return m;
}
