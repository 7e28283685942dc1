/* Ethernet II input demultiplexing and output. */
#include "eth.h"

#include "arp.h"
#include "ipv4.h"
#include "wire/eth.h"

const uint8_t eth_bcast_addr[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void eth_input(struct net_core *c, struct mbuf *m)
{
    if (m->len < ETH_HLEN) {
        c->counters.drop_eth_short++;
        mbuf_free(m);
        return;
    }
    const uint8_t *h = m->data;
    /* Accept unicast to us and broadcast; multicast is not joined by anything here. */
    if (!eth_addr_eq(eth_dst(h), c->cfg.mac) && !eth_addr_is_bcast(eth_dst(h))) {
        c->counters.drop_eth_not_us++;
        mbuf_free(m);
        return;
    }
    uint16_t type = eth_type(h);
    mbuf_adj(m, ETH_HLEN);
    switch (type) {
    case ETH_TYPE_IPV4:
        ipv4_input(c, m);
        return;
    case ETH_TYPE_ARP:
        arp_input(c, m);
        return;
    default:
        c->counters.drop_eth_type++;
        mbuf_free(m);
        return;
    }
}

bool eth_prepend(struct net_core *c, struct mbuf *m, uint16_t type)
{
    uint8_t *h = mbuf_prepend(m, ETH_HLEN);
    if (h == NULL)
        return false;
    eth_set_src(h, c->cfg.mac);
    eth_set_type(h, type);
    return true;
}

int eth_xmit(struct net_core *c, struct mbuf *m, const struct net_iov *iov, int iovcnt,
             const uint8_t *dst_mac)
{
    eth_set_dst(m->data, dst_mac);
    uint64_t bytes = m->len;
    for (int i = 0; i < iovcnt; i++)
        bytes += iov[i].len;
    if (netif_tx(c, m, iov, iovcnt) != 0) {
        c->counters.drop_tx_full++;
        mbuf_free(m); /* synchronous failure: the caller learns it from the return value */
        return -IX_EAGAIN;
    }
    c->counters.tx_frames++;
    c->counters.tx_bytes += bytes;
    return 0;
}
