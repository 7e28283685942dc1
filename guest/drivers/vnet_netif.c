/* netif for the guest kernel: the stack's frames over a virtio-net queue pair. */
#include "vnet_netif.h"

#include "../net/core.h"

static uint64_t v2p(void *ctx, const void *va)
{
    struct vnet_port *p = ctx;
    return p->env->virt_to_phys(p->env->ctx, va);
}

static void *p2v(void *ctx, uint64_t pa)
{
    struct vnet_port *p = ctx;
    return p->env->phys_to_virt(p->env->ctx, pa);
}

static void kick(void *ctx, uint16_t q)
{
    struct vnet_port *p = ctx;
    p->env->kick(p->env->ctx, q);
}

static int rx_alloc(void *ctx, void **cookie, void **buf, uint32_t *len)
{
    struct vnet_port *p = ctx;
    struct mbuf *m = mbuf_alloc(p->c->pool);
    if (!m) {
        p->rx_nomem++;
        return -1;
    }
    /* header in the headroom, frame at m->data */
    *cookie = m;
    *buf = m->data - VNET_HDR_LEN;
    *len = VNET_HDR_LEN + mbuf_tailroom(m);
    return 0;
}

static void rx_deliver(void *ctx, void *cookie, uint8_t *frame, uint32_t len)
{
    struct vnet_port *p = ctx;
    struct mbuf *m = cookie;
    if (!frame || frame != m->data || len > mbuf_tailroom(m)) {
        mbuf_free(m);
        return;
    }
    m->len = len;
    net_input(p->c, m);
}

static void tx_done(void *ctx, void *cookie)
{
    struct vnet_port *p = ctx;
    net_tx_complete(p->c, cookie);
}

int vnet_port_init(struct vnet_port *p, struct net_core *c, const struct ix_nic_info *info, uint16_t queue,
                   const struct vnet_env *env)
{
    _Static_assert(MBUF_HEADROOM >= VNET_HDR_LEN, "the virtio-net header must fit in the headroom");
    p->env = env;
    p->c = c;
    p->rx_nomem = 0;
    p->alt = 0;
    p->ops = (struct vnet_ops){ p, v2p, p2v, rx_alloc, rx_deliver, tx_done, kick };
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
    int n = 0;
    if (p && p->alt)
        return p->alt->tx(p->alt->ctx, hdr, iov, iovcnt);
    if (!p || !hdr || hdr->len == 0 || iovcnt < 0 || iovcnt > NET_IOV_MAX)
        return -1;
    bufs[n] = hdr->data;
    lens[n++] = hdr->len;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].len == 0)
            continue;
        bufs[n] = iov[i].base;
        lens[n++] = iov[i].len;
    }
    return vnet_tx(&p->q, hdr, bufs, lens, n) < 0 ? -1 : 0;
}
