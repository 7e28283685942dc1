/* netif for the guest kernel: the stack's frames over AF_XDP rings (xsk_netif.h). */
#include "xsk_netif.h"

#include "../net/core.h"

_Static_assert(MBUF_DATA_MAX >= XSK_FRAME_MAX, "a received frame of XSK_FRAME_MAX bytes must fit an mbuf");

static int rx_alloc(void *ctx, void **cookie, uint8_t **frame)
{
    struct mbuf *m = netif_rx_mbuf(ctx);
    if (!m)
        return -1;
    *cookie = m;
    *frame = m->data;
    return 0;
}

static void *rx_lookup(void *ctx, uint8_t *frame)
{
    struct netif_base *b = ctx;
    struct mbuf *m = mbuf_from_addr(b->c->pool, (uintptr_t)frame);
    return m && m->data == frame && m->len == 0 ? m : 0;
}

static void complete_done(struct xsk_port *p)
{
    for (uint32_t i = 0; i < p->ndone; i++)
        net_tx_complete(p->b.c, p->done[i]);
    p->ndone = 0;
}

static int xsk_port_tx(void *ctx, struct mbuf *hdr, const struct net_iov *iov, int iovcnt)
{
    struct xsk_port *p = ctx;
    const void *bufs[1 + NET_IOV_MAX];
    uint32_t lens[1 + NET_IOV_MAX];
    if (p->ndone >= XSK_TX_SLOTS_MAX)
        return -1;
    int n = netif_gather(hdr, iov, iovcnt, bufs, lens);
    if (n < 0)
        return -1;
    if (xsk_tx(&p->q, bufs, lens, n) < 0) {
        xsk_tx_reclaim(&p->q); /* slots the kernel finished with: the caller retries later */
        return -1;
    }
    p->done[p->ndone++] = hdr; /* copied: complete it outside the stack's call */
    return 0;
}

int xsk_port_init(struct xsk_port *p, struct vnet_port *vp, struct net_core *c, const struct ix_xsk_info *info,
                  uint16_t queue, const struct vnet_env *env, uint8_t *tx_area, uint32_t tx_nslots)
{
    netif_base_init(&p->b, c, env);
    p->ndone = 0;
    p->ops = (struct xsk_ops){ &p->b, netif_virt_to_phys, netif_phys_to_virt, rx_alloc, rx_lookup, netif_rx_deliver,
                               netif_kick };
    if (xsk_queue_init(&p->q, info, queue, &p->ops, tx_area, tx_nslots) < 0)
        return -1;
    p->alt = (struct netif_alt){ p, xsk_port_tx };
    vp->alt = &p->alt;
    vp->b.c = c;
    c->netif = vp;
    xsk_rx_refill(&p->q);
    return 0;
}

int xsk_port_rx(struct xsk_port *p, int budget)
{
    xsk_tx_reclaim(&p->q);
    complete_done(p);
    int n = xsk_rx_poll(&p->q, budget);
    xsk_rx_refill(&p->q);
    return n;
}

void xsk_port_tx_flush(struct xsk_port *p)
{
    xsk_tx_flush(&p->q);
    complete_done(p);
}

bool xsk_port_prepare_halt(struct xsk_port *p) { return xsk_prepare_halt(&p->q); }
