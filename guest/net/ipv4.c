/* IPv4 input validation/demultiplexing and output with next-hop routing. */
#include "ipv4.h"

#include "arp.h"
#include "csum.h"
#include "eth.h"
#include "icmp.h"
#include "udp.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

#define IPV4_TTL 64

static bool ipv4_is_bcast(const struct net_core *c, uint32_t addr)
{
    if (addr == 0xffffffffu)
        return true;
    uint32_t mask = c->cfg.netmask;
    return mask != 0 && mask != 0xffffffffu && (addr & mask) == (c->cfg.addr & mask) &&
           (addr | mask) == 0xffffffffu;
}

bool ipv4_is_local(const struct net_core *c, uint32_t addr)
{
    return addr == c->cfg.addr || ipv4_is_bcast(c, addr);
}

uint32_t ipv4_next_hop(const struct net_core *c, uint32_t dst)
{
    if (dst == 0 || dst == c->cfg.addr)
        return 0; /* no loopback through the NIC */
    if ((dst & c->cfg.netmask) == (c->cfg.addr & c->cfg.netmask))
        return dst;
    return c->cfg.gateway;
}

void ipv4_input(struct net_core *c, struct mbuf *m)
{
    if (m->len < IPV4_HLEN_MIN) {
        c->counters.drop_ip_short++;
        mbuf_free(m);
        return;
    }
    const uint8_t *h = m->data;
    uint32_t hlen = ipv4_hlen(h);
    uint32_t tot = ipv4_total_len(h);
    if (ipv4_version(h) != 4 || hlen < IPV4_HLEN_MIN || tot < hlen) {
        c->counters.drop_ip_bad_hdr++;
        mbuf_free(m);
        return;
    }
    if (hlen > m->len || tot > m->len) {
        c->counters.drop_ip_short++;
        mbuf_free(m);
        return;
    }
    if (csum_fold(csum_partial(h, hlen, 0)) != 0) {
        c->counters.drop_ip_csum++;
        mbuf_free(m);
        return;
    }
    /* No reassembly: the stack serves TCP (which never fragments thanks to MSS) and small
     * UDP requests; fragments are counted and dropped. */
    if (ipv4_is_fragment(h)) {
        c->counters.drop_ip_frag++;
        mbuf_free(m);
        return;
    }
    uint32_t src = ipv4_src(h), dst = ipv4_dst(h);
    if (!ipv4_is_local(c, dst)) {
        c->counters.drop_ip_not_us++;
        mbuf_free(m);
        return;
    }
    /* Never answer to a broadcast, multicast (224/4, 240/4) or zero source. */
    if (src == 0 || src >= 0xe0000000u || ipv4_is_bcast(c, src)) {
        c->counters.drop_ip_bad_src++;
        mbuf_free(m);
        return;
    }
    uint8_t proto = ipv4_proto(h);
    mbuf_trim(m, tot);   /* drop Ethernet padding */
    mbuf_adj(m, hlen);   /* now at the L4 header, len = IP payload length */
    switch (proto) {
    case NET_PROTO_TCP:
        if (dst != c->cfg.addr) { /* TCP is unicast only */
            c->counters.drop_ip_not_us++;
            mbuf_free(m);
            return;
        }
        tcp_input(c, m, src, dst);
        return;
    case NET_PROTO_UDP:
        udp_input(c, m, src, dst);
        return;
    case NET_PROTO_ICMP:
        icmp_input(c, m, src, dst);
        return;
    default:
        c->counters.drop_ip_proto++;
        mbuf_free(m);
        return;
    }
}

int ipv4_output(struct net_core *c, struct mbuf *m, const struct net_iov *iov, int iovcnt,
                uint32_t dst, uint8_t proto)
{
    if (iovcnt < 0 || iovcnt > NET_IOV_MAX || (iovcnt > 0 && iov == NULL)) {
        mbuf_free(m);
        return -IX_EINVAL;
    }
    uint64_t l4 = m->len;
    for (int i = 0; i < iovcnt; i++)
        l4 += iov[i].len;
    if (l4 + NET_IP_HLEN > NET_MTU) {
        c->counters.drop_tx_too_big++;
        mbuf_free(m);
        return -IX_EINVAL;
    }
    bool bcast = ipv4_is_bcast(c, dst);
    uint32_t nh = bcast ? dst : ipv4_next_hop(c, dst);
    if (nh == 0) {
        c->counters.drop_no_route++;
        mbuf_free(m);
        return -IX_EHOSTUNREACH;
    }
    uint8_t *h = mbuf_prepend(m, NET_IP_HLEN);
    if (h == NULL) {
        c->counters.drop_tx_too_big++; /* no headroom: a caller bug, not a network event */
        mbuf_free(m);
        return -IX_EINVAL;
    }
    /* DF is set and we never fragment, so the ID carries no meaning (RFC 6864 §4.1). */
    ipv4_write(h, (uint16_t)(l4 + NET_IP_HLEN), 0, IPV4_TTL, proto, c->cfg.addr, dst);
    ipv4_set_csum(h, csum_fold(csum_partial(h, NET_IP_HLEN, 0)));
    if (!eth_prepend(c, m, ETH_TYPE_IPV4)) {
        c->counters.drop_tx_too_big++;
        mbuf_free(m);
        return -IX_EINVAL;
    }
    if (bcast)
        return eth_xmit(c, m, iov, iovcnt, eth_bcast_addr);
    return arp_output(c, m, iov, iovcnt, nh);
}
