/* The callbacks both netif glues share (netif_env.h). */
#include "netif_env.h"

#include "../net/core.h"

void netif_base_init(struct netif_base *b, struct net_core *c, const struct vnet_env *env)
{
    b->env = env;
    b->c = c;
    b->rx_nomem = 0;
}

uint64_t netif_virt_to_phys(void *ctx, const void *va)
{
    struct netif_base *b = ctx;
    return b->env->virt_to_phys(b->env->ctx, va);
}

void *netif_phys_to_virt(void *ctx, uint64_t pa)
{
    struct netif_base *b = ctx;
    return b->env->phys_to_virt(b->env->ctx, pa);
}

void netif_kick(void *ctx, uint16_t queue)
{
    struct netif_base *b = ctx;
    b->env->kick(b->env->ctx, queue);
}

struct mbuf *netif_rx_mbuf(struct netif_base *b)
{
    struct mbuf *m = mbuf_alloc(b->c->pool);
    if (!m)
        b->rx_nomem++;
    return m;
}

void netif_rx_deliver(void *ctx, void *cookie, uint8_t *frame, uint32_t len)
{
    struct netif_base *b = ctx;
    struct mbuf *m = cookie;
    if (!frame || frame != m->data || len > mbuf_tailroom(m)) {
        mbuf_free(m);
        return;
    }
    m->len = len;
    net_input(b->c, m);
}

int netif_gather(struct mbuf *hdr, const struct net_iov *iov, int iovcnt, const void **bufs, uint32_t *lens)
{
    int n = 0;
    if (!hdr || hdr->len == 0 || iovcnt < 0 || iovcnt > NET_IOV_MAX)
        return -1;
    bufs[n] = hdr->data;
    lens[n++] = hdr->len;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].len == 0)
            continue;
        bufs[n] = iov[i].base;
        lens[n++] = iov[i].len;
    }
    return n;
}
