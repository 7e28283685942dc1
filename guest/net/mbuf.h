/* Packet buffers.
 *
 * An mbuf is one fixed 2 KiB chunk: this header followed by the buffer. Pools are arrays of
 * such chunks carved from memory handed in at init (no malloc), with a LIFO free list so the
 * most recently used (cache-hot) buffer is reused first. Chunks are MBUF_SIZE-aligned
 * relative to the pool base, which lets mbuf_from_addr() map any address inside a buffer
 * (e.g. the payload address an app hands back in udp_recv_done) to its mbuf in O(1).
 *
 * Ownership: exactly one owner at a time (a queue, a PCB, the netif, the app through an
 * event). Whoever owns it frees it, once. mbuf_free() of a buffer that is not allocated
 * is detected and ignored (and counted in pool->double_frees) instead of corrupting the list.
 */
#ifndef IX_NET_MBUF_H
#define IX_NET_MBUF_H

#include "net.h"

#define MBUF_SIZE 2048     /* whole buffer incl. the struct */
#define MBUF_HEADROOM 128  /* room to prepend eth+ip+tcp headers */

/* flags */
#define MBUF_F_INUSE 0x1u     /* allocated (pool bookkeeping) */
#define MBUF_F_UDP_HELD 0x2u  /* payload lent to the app by an IX_EV_UDP_RECV event */
#define MBUF_F_TX_NOTIFY 0x4u /* on release after transmit post IX_EV_UDP_SENT(aux) */

struct mbuf {
    struct mbuf *next;      /* link for whichever queue owns the mbuf */
    uint8_t *data;          /* first valid byte */
    uint32_t len;           /* valid bytes from data */
    uint32_t flags;
    uint64_t aux;           /* owner's scratch (e.g. TCP: sequence number of data[0]) */
    struct mbuf_pool *pool;
    uint64_t aux2;          /* second scratch word (UDP: cookie of a send) */
    /* buffer follows the struct */
};

struct mbuf_pool {
    uint8_t *base;          /* first chunk */
    uint32_t count;         /* chunks */
    uint32_t in_use;
    struct mbuf *free_list;
    uint64_t alloc_failures;
    uint64_t double_frees;
};

/* Carve a pool out of [mem, mem+len). Returns the number of mbufs (0 if len is too small). */
uint32_t mbuf_pool_init(struct mbuf_pool *p, void *mem, size_t len);

struct mbuf *mbuf_alloc(struct mbuf_pool *p);    /* NULL when exhausted; data = buf+MBUF_HEADROOM, len 0 */
void mbuf_free(struct mbuf *m);
uint8_t *mbuf_prepend(struct mbuf *m, uint32_t n);   /* NULL if no headroom */
void mbuf_adj(struct mbuf *m, uint32_t n);           /* drop n bytes from the front */
uint32_t mbuf_pool_in_use(const struct mbuf_pool *p); /* for leak checks */

/* Extend the valid region by n bytes at the tail; returns the old end, NULL if no room. */
uint8_t *mbuf_append(struct mbuf *m, uint32_t n);
/* Drop bytes at the tail so that len == n (no-op if len <= n). */
void mbuf_trim(struct mbuf *m, uint32_t n);

static inline uint8_t *mbuf_buf(struct mbuf *m) { return (uint8_t *)(m + 1); }
static inline uint8_t *mbuf_end(struct mbuf *m) { return (uint8_t *)m + MBUF_SIZE; }
static inline uint32_t mbuf_headroom(struct mbuf *m) { return (uint32_t)(m->data - mbuf_buf(m)); }
static inline uint32_t mbuf_tailroom(struct mbuf *m)
{
    return (uint32_t)(mbuf_end(m) - (m->data + m->len));
}
/* Largest frame a fresh mbuf holds after MBUF_HEADROOM. */
#define MBUF_DATA_MAX (MBUF_SIZE - (uint32_t)sizeof(struct mbuf) - MBUF_HEADROOM)

/* The allocated mbuf whose chunk contains addr, or NULL if addr is outside the pool or the
 * chunk is free. Used to validate addresses handed back by (untrusted) apps. */
struct mbuf *mbuf_from_addr(struct mbuf_pool *p, uintptr_t addr);

#endif
