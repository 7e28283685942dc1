/* AF_XDP ring driver: see xsk.h. */
#include "xsk.h"

static inline uint32_t load_acquire(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store_release(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void full_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

static void *memcopy(void *d, const void *s, uint32_t n)
{
    uint8_t *a = d;
    const uint8_t *b = s;
    for (uint32_t i = 0; i < n; i++)
        a[i] = b[i];
    return d;
}

static int ring_init(struct xsk_ring *r, const struct ix_xsk_ring *d, const struct xsk_ops *ops)
{
    if (d->size == 0 || (d->size & (d->size - 1)) || !d->producer || !d->consumer || !d->desc)
        return -1;
    r->producer = ops->phys_to_virt(ops->ctx, d->producer);
    r->consumer = ops->phys_to_virt(ops->ctx, d->consumer);
    r->desc = ops->phys_to_virt(ops->ctx, d->desc);
    r->size = d->size;
    r->mask = d->size - 1;
    return 0;
}

int xsk_queue_init(struct xsk_queue *q, const struct ix_xsk_info *info, uint16_t index, const struct xsk_ops *ops,
                   uint8_t *tx_area, uint32_t tx_nslots)
{
    if (!info->present || index >= info->nqueues || info->nqueues > IX_XSK_MAX_QUEUES || info->chunk != IX_XSK_CHUNK ||
        info->headroom != IX_XSK_HEADROOM || !tx_area || tx_nslots == 0 || tx_nslots > XSK_TX_SLOTS_MAX)
        return -1;
    const struct ix_xsk_queue *d = &info->q[index];
    q->ops = ops;
    q->index = index;
    if (ring_init(&q->rx, &d->rx, ops) || ring_init(&q->tx, &d->tx, ops) || ring_init(&q->fill, &d->fill, ops) ||
        ring_init(&q->comp, &d->comp, ops))
        return -1;
    q->ctl = (struct ix_xsk_ctl *)&info->ctl[index];
    /* the kernel hands at most RX-ring-size frames back before we consume; keep FILL full */
    q->fill_target = q->fill.size < q->rx.size ? q->fill.size : q->rx.size;
    q->fill_held = 0;
    q->tx_prod = load_acquire(q->tx.producer);
    q->tx_area = tx_area;
    q->tx_area_pa = ops->virt_to_phys(ops->ctx, tx_area);
    q->tx_nslots = tx_nslots < q->tx.size ? tx_nslots : q->tx.size;
    q->tx_nfree = q->tx_nslots;
    for (uint32_t i = 0; i < q->tx_nslots; i++)
        q->tx_free[i] = (uint16_t)(q->tx_nslots - 1 - i);
    q->st = (struct xsk_stats){ 0 };
    return 0;
}

int xsk_rx_refill(struct xsk_queue *q)
{
    uint32_t prod = *q->fill.producer; /* only we write it */
    uint32_t room = q->fill.size - (prod - load_acquire(q->fill.consumer));
    uint64_t *ent = q->fill.desc;
    int n = 0;
    while (room > 0 && q->fill_held < q->fill_target) {
        void *cookie;
        uint8_t *frame;
        if (q->ops->rx_alloc(q->ops->ctx, &cookie, &frame) < 0)
            break;
        ent[prod & q->fill.mask] = q->ops->virt_to_phys(q->ops->ctx, frame) - IX_XSK_HEADROOM;
        prod++;
        room--;
        q->fill_held++;
        n++;
    }
    if (n)
        store_release(q->fill.producer, prod);
    return n;
}

int xsk_rx_poll(struct xsk_queue *q, int budget)
{
    uint32_t cons = *q->rx.consumer;
    uint32_t avail = load_acquire(q->rx.producer) - cons;
    if (avail == 0)
        return 0;
    if (avail > (uint32_t)budget)
        avail = (uint32_t)budget;
    const struct ix_xdp_desc *ring = q->rx.desc;
    for (uint32_t i = 0; i < avail; i++) {
        struct ix_xdp_desc d = ring[(cons + i) & q->rx.mask];
        uint64_t pa = (d.addr & IX_XSK_ADDR_MASK) + (d.addr >> 48);
        uint8_t *frame = q->ops->phys_to_virt(q->ops->ctx, pa);
        void *cookie = q->ops->rx_lookup(q->ops->ctx, frame);
        if (q->fill_held)
            q->fill_held--;
        if (!cookie || d.len > XSK_FRAME_MAX) {
            q->st.rx_bad++;
            if (cookie)
                q->ops->rx_deliver(q->ops->ctx, cookie, 0, 0);
            continue;
        }
        q->st.rx_frames++;
        q->st.rx_bytes += d.len;
        q->ops->rx_deliver(q->ops->ctx, cookie, frame, d.len);
    }
    store_release(q->rx.consumer, cons + avail);
    return (int)avail;
}

int xsk_tx(struct xsk_queue *q, const void *const *bufs, const uint32_t *lens, int n)
{
    uint32_t total = 0;
    for (int i = 0; i < n; i++)
        total += lens[i];
    if (n < 1 || total == 0 || total > XSK_FRAME_MAX)
        return -1;
    if (q->tx_nfree == 0 || q->tx_prod - load_acquire(q->tx.consumer) >= q->tx.size) {
        q->st.tx_full++;
        return -1;
    }
    uint16_t slot = q->tx_free[--q->tx_nfree];
    uint8_t *at = q->tx_area + (uint64_t)slot * IX_XSK_CHUNK;
    for (int i = 0, off = 0; i < n; off += (int)lens[i], i++)
        memcopy(at + off, bufs[i], lens[i]);
    struct ix_xdp_desc *ring = q->tx.desc;
    ring[q->tx_prod & q->tx.mask] = (struct ix_xdp_desc){ q->tx_area_pa + (uint64_t)slot * IX_XSK_CHUNK, total, 0 };
    q->tx_prod++;
    q->st.tx_frames++;
    q->st.tx_bytes += total;
    return 0;
}

void xsk_tx_flush(struct xsk_queue *q)
{
    if (*q->tx.producer == q->tx_prod)
        return;
    store_release(q->tx.producer, q->tx_prod);
    full_fence(); /* the producer store before the load of kick_wanted */
    if (__atomic_load_n(&q->ctl->kick_wanted, __ATOMIC_RELAXED)) {
        q->st.doorbells++;
        q->ops->doorbell(q->ops->ctx, q->index);
    }
}

int xsk_tx_reclaim(struct xsk_queue *q)
{
    uint32_t cons = *q->comp.consumer;
    uint32_t n = load_acquire(q->comp.producer) - cons;
    const uint64_t *ent = q->comp.desc;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t off = ent[(cons + i) & q->comp.mask] - q->tx_area_pa;
        /* only slots of ours, each at most once (the free list cannot overflow) */
        if (off % IX_XSK_CHUNK == 0 && off / IX_XSK_CHUNK < q->tx_nslots && q->tx_nfree < q->tx_nslots)
            q->tx_free[q->tx_nfree++] = (uint16_t)(off / IX_XSK_CHUNK);
    }
    if (n)
        store_release(q->comp.consumer, cons + n);
    return (int)n;
}

bool xsk_prepare_halt(struct xsk_queue *q)
{
    __atomic_store_n(&q->ctl->halt_seq, q->ctl->halt_seq + 1, __ATOMIC_RELAXED);
    full_fence(); /* halt_seq before the loads of kick_wanted and the RX producer */
    if (__atomic_load_n(&q->ctl->kick_wanted, __ATOMIC_RELAXED)) {
        q->st.doorbells++;
        q->ops->doorbell(q->ops->ctx, q->index);
    }
    return load_acquire(q->rx.producer) != *q->rx.consumer;
}
