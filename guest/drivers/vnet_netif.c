/* netif for the guest kernel: the stack's frames over a virtio-net queue pair. */
#include "vnet_netif.h"

#include "../net/core.h"

static int rx_alloc(void *ctx, void **cookie, void **buf, uint32_t *len)
{
    struct mbuf *m = netif_rx_mbuf(ctx);
    if (!m)
        return -1;
    /* header in the headroom, frame at m->data */
    *cookie = m;
    *buf = m->data - VNET_HDR_LEN;
    *len = VNET_HDR_LEN + mbuf_tailroom(m);
    return 0;
}

static void tx_done(void *ctx, void *cookie)
{
    struct netif_base *b = ctx;
    net_tx_complete(b->c, cookie);
}

int vnet_port_init(struct vnet_port *p, struct net_core *c, const struct ix_nic_info *info, uint16_t queue,
                   const struct vnet_env *env)
{
    _Static_assert(MBUF_HEADROOM >= VNET_HDR_LEN, "the virtio-net header must fit in the headroom");
    netif_base_init(&p->b, c, env);
    p->alt = 0;
    p->ops = (struct vnet_ops){ &p->b, netif_virt_to_phys, netif_phys_to_virt, rx_alloc, netif_rx_deliver, tx_done,
                                netif_kick };
    if (vnet_queue_init(&p->q, info, queue, &p->ops) < 0)
        return -1;
    c->netif = p;
    vnet_rx_refill(&p->q, p->q.rx.size);
    return 0;
}

int vnet_port_rx(struct vnet_port *p, int budget)
{
    vnet_tx_reclaim(&p->q, p->q.tx.size);
    int n = vnet_rx_poll(&p->q, budget);
    vnet_rx_refill(&p->q, p->q.rx.size);
    return n;
}

void vnet_port_tx_flush(struct vnet_port *p) { vnet_tx_flush(&p->q); }

bool vnet_port_prepare_halt(struct vnet_port *p) { return vnet_prepare_halt(&p->q); }

int netif_tx(struct net_core *c, struct mbuf *hdr, const struct net_iov *iov, int iovcnt)
{
    struct vnet_port *p = c->netif;
    const void *bufs[1 + NET_IOV_MAX];
    uint32_t lens[1 + NET_IOV_MAX];
    if (p && p->alt)
        return p->alt->tx(p->alt->ctx, hdr, iov, iovcnt);
    int n = p ? netif_gather(hdr, iov, iovcnt, bufs, lens) : -1;
    if (n < 0)
        return -1;
    return vnet_tx(&p->q, hdr, bufs, lens, n) < 0 ? -1 : 0;
}
