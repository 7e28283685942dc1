/* virtio-net queue pair driver. See virtio_net.h. */
#include "virtio_net.h"

int vnet_queue_init(struct vnet_queue *q, const struct ix_nic_info *info, uint16_t index, const struct vnet_ops *ops)
{
    if (!q || !info || !ops || !info->present || info->nqueues == 0 || info->nqueues > IX_NIC_MAX_QUEUES ||
        index >= info->nqueues)
        return -1;
    const struct ix_nic_vq *rx = &info->rx[index], *tx = &info->tx[index];
    void *ctx = ops->ctx;
    __builtin_memset(q, 0, sizeof *q);
    q->ops = ops;
    q->index = index;
    q->rx_buf_min = VNET_RX_BUF_MIN(info->mtu ? info->mtu : 1500);
    if (vq_init(&q->rx, ops->phys_to_virt(ctx, rx->desc), ops->phys_to_virt(ctx, rx->avail),
                ops->phys_to_virt(ctx, rx->used), rx->size) < 0)
        return -1;
    if (vq_init(&q->tx, ops->phys_to_virt(ctx, tx->desc), ops->phys_to_virt(ctx, tx->avail),
                ops->phys_to_virt(ctx, tx->used), tx->size) < 0)
        return -1;
    return 0;
}

static void kick(struct vnet_queue *q)
{
    q->st.kicks++;
    q->ops->kick(q->ops->ctx, q->index);
}

int vnet_rx_refill(struct vnet_queue *q, int max)
{
    int n = 0;
    while (n < max && q->rx.num_free > 0) {
        void *cookie, *buf;
        uint32_t len;
        if (q->ops->rx_alloc(q->ops->ctx, &cookie, &buf, &len) < 0)
            break;
        if (len < q->rx_buf_min) {
            /* too small to hold a full frame: the device would refuse it anyway */
            q->ops->rx_deliver(q->ops->ctx, cookie, 0, 0);
            break;
        }
        struct vq_seg s = { q->ops->virt_to_phys(q->ops->ctx, buf), len };
        int head = vq_add(&q->rx, &s, 1, true, cookie);
        if (head < 0) {
            q->ops->rx_deliver(q->ops->ctx, cookie, 0, 0);
            break;
        }
        q->rx_buf[head] = buf;
        q->rx_len[head] = len;
        n++;
    }
    if (vq_publish(&q->rx))
        kick(q);
    return n;
}

int vnet_rx_poll(struct vnet_queue *q, int budget)
{
    int n = 0;
    for (; n < budget; n++) {
        uint32_t len;
        uint16_t head;
        void *cookie = vq_get_used(&q->rx, &len, &head);
        if (!cookie)
            break;
        if (len < VNET_HDR_LEN + 14u) {
            /* returned empty (or a runt): give the buffer back to its owner */
            q->st.rx_runts++;
            q->ops->rx_deliver(q->ops->ctx, cookie, 0, 0);
            continue;
        }
        uint8_t *buf = q->rx_buf[head];
        if (len > q->rx_len[head])
            len = q->rx_len[head]; /* never trust a length beyond what we posted */
        q->st.rx_frames++;
        q->st.rx_bytes += len - VNET_HDR_LEN;
        q->ops->rx_deliver(q->ops->ctx, cookie, buf + VNET_HDR_LEN, len - VNET_HDR_LEN);
    }
    return n;
}

/* Keep a frame the ring has no room for, behind the others; false if the backlog is full. */
static bool txb_push(struct vnet_queue *q, void *cookie, const struct vq_seg *segs, int n)
{
    if (q->txb_n == VNET_TX_BACKLOG || q->txb_nsegs + (uint32_t)n > VNET_TX_BACKLOG_SEGS)
        return false;
    struct vnet_txb *b = &q->txb[(q->txb_first + q->txb_n) % VNET_TX_BACKLOG];
    b->cookie = cookie;
    b->seg = (uint16_t)((q->txb_seg_first + q->txb_nsegs) % VNET_TX_BACKLOG_SEGS);
    b->nsegs = (uint16_t)n;
    for (int i = 0; i < n; i++)
        q->txb_seg[(b->seg + (uint32_t)i) % VNET_TX_BACKLOG_SEGS] = segs[i];
    q->txb_n++;
    q->txb_nsegs += (uint32_t)n;
    return true;
}

/* Move backlogged frames, oldest first, into the ring while it has descriptors for them. */
static void txb_drain(struct vnet_queue *q)
{
    struct vq_seg segs[VNET_TX_SEGS_MAX + 1];
    while (q->txb_n > 0) {
        const struct vnet_txb *b = &q->txb[q->txb_first];
        if (q->tx.num_free < b->nsegs)
            return;
        for (uint32_t i = 0; i < b->nsegs; i++)
            segs[i] = q->txb_seg[(b->seg + i) % VNET_TX_BACKLOG_SEGS];
        if (vq_add(&q->tx, segs, b->nsegs, false, b->cookie) < 0)
            return;
        q->txb_first = (q->txb_first + 1) % VNET_TX_BACKLOG;
        q->txb_n--;
        q->txb_seg_first = (q->txb_seg_first + b->nsegs) % VNET_TX_BACKLOG_SEGS;
        q->txb_nsegs -= b->nsegs;
    }
}

int vnet_tx(struct vnet_queue *q, void *cookie, const void *const *bufs, const uint32_t *lens, int n)
{
    if (n < 1 || n > VNET_TX_SEGS_MAX || !cookie)
        return -1; /* every piece needs at least one descriptor */
    struct vq_seg segs[VNET_TX_SEGS_MAX + 1];
    void *ctx = q->ops->ctx;
    uint32_t total = 0;
    int ns = 1;
    segs[0].addr = q->ops->virt_to_phys(ctx, &q->tx_hdr);
    segs[0].len = VNET_HDR_LEN;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = bufs[i];
        uint32_t left = lens[i];
        if (left == 0)
            return -1;
        total += left;
        while (left > 0) {
            /* one page at a time; merge with the previous segment when physically adjacent */
            uint32_t in_page = VNET_PAGE_SIZE - (uint32_t)((uintptr_t)p & (VNET_PAGE_SIZE - 1));
            uint32_t k = left < in_page ? left : in_page;
            uint64_t pa = q->ops->virt_to_phys(ctx, p);
            struct vq_seg *last = &segs[ns - 1];
            if (ns > 1 && last->addr + last->len == pa)
                last->len += k;
            else {
                if (ns == VNET_TX_SEGS_MAX + 1)
                    return -1;
                segs[ns].addr = pa;
                segs[ns].len = k;
                ns++;
            }
            p += k;
            left -= k;
        }
    }
    if (q->txb_n > 0)
        txb_drain(q); /* older frames first */
    if (q->txb_n > 0 || vq_add(&q->tx, segs, ns, false, cookie) < 0) {
        if (!txb_push(q, cookie, segs, ns)) {
            q->st.tx_full++;
            return -1;
        }
        /* let the device start on what the ring holds: it frees the descriptors we wait for */
        vnet_tx_flush(q);
        q->st.tx_backlogged++;
    }
    q->st.tx_frames++;
    q->st.tx_bytes += total;
    return 0;
}

void vnet_tx_flush(struct vnet_queue *q)
{
    if (vq_publish(&q->tx))
        kick(q);
}

int vnet_tx_reclaim(struct vnet_queue *q, int budget)
{
    int n = 0;
    for (; n < budget; n++) {
        void *cookie = vq_get_used(&q->tx, 0, 0);
        if (!cookie)
            break;
        q->ops->tx_done(q->ops->ctx, cookie);
    }
    txb_drain(q);
    return n;
}

bool vnet_prepare_halt(struct vnet_queue *q)
{
    return vq_arm_interrupt(&q->rx) || q->txb_n > 0;
}
