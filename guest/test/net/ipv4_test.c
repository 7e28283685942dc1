/* IPv4 input validation (every drop reason) and output (header, routing, limits). */
#include <string.h>

#include "testlib.h"
#include "../../net/csum.h"
#include "../../net/ipv4.h"
#include "../../net/udp.h"
#include "../../net/wire/eth.h"
#include "../../net/wire/ipv4.h"

static void refix(uint8_t *f)
{
    uint8_t *ip = f + ETH_HLEN;
    ipv4_set_csum(ip, 0);
    ipv4_set_csum(ip, csum_fold(csum_partial(ip, ipv4_hlen(ip), 0)));
}

/* A valid UDP datagram to a bound port, then a mutation, then the expected counter. */
static void test_input_drops(void)
{
    struct tl *t = tl_new();
    CHECK_EQ(udp_bind(&t->c, 7), 0);
    uint8_t f[256], g[256];
    uint32_t n = tl_udp(f, TL_PEER, TL_ADDR, 5000, 7, "abcd", 4);
    struct net_counters *k = &t->c.counters;

    tl_inject(t, f, n);
    CHECK_EQ(k->udp_rx, 1);
    CHECK_EQ(t->c.ev_len, 1);
    CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)t->ev[0].a0), 0);
    tl_events_reset(t);

    tl_inject(t, f, ETH_HLEN + 19);
    CHECK_EQ(k->drop_ip_short, 1);
    memcpy(g, f, n); g[ETH_HLEN] = 0x65; refix(g);                /* version 6 */
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_ip_bad_hdr, 1);
    memcpy(g, f, n); g[ETH_HLEN] = 0x44;                          /* ihl 4 */
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_ip_bad_hdr, 2);
    memcpy(g, f, n); net_put16(g + ETH_HLEN + 2, 300); refix(g);  /* total > frame */
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_ip_short, 2);
    memcpy(g, f, n); net_put16(g + ETH_HLEN + 2, 12); refix(g);   /* total < ihl */
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_ip_bad_hdr, 3);
    memcpy(g, f, n); g[ETH_HLEN + 8] ^= 1;                        /* checksum */
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_ip_csum, 1);
    memcpy(g, f, n); net_put16(g + ETH_HLEN + 6, IPV4_FLAG_MF); refix(g);
    tl_inject(t, g, n);
    memcpy(g, f, n); net_put16(g + ETH_HLEN + 6, 100); refix(g);
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_ip_frag, 2);
    n = tl_udp(g, TL_PEER, 0x0a000009, 5000, 7, "abcd", 4);       /* not our address */
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_ip_not_us, 1);
    n = tl_udp(g, 0x0a0000ff, TL_ADDR, 5000, 7, "abcd", 4);       /* broadcast source */
    tl_inject(t, g, n);
    n = tl_udp(g, 0xe0000001, TL_ADDR, 5000, 7, "abcd", 4);       /* multicast source */
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_ip_bad_src, 2);
    n = tl_ipv4(g, TL_PEER, TL_ADDR, 47, (const uint8_t *)"gre!", 4); /* GRE */
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_ip_proto, 1);
    n = tl_tcp(g, TL_PEER, 0x0a0000ff, 1, 2, 0, 0, 0x02, NULL, 0);   /* TCP to broadcast */
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_ip_not_us, 2);
    g[12] = 0x86; g[13] = 0xdd;                                   /* IPv6 ethertype */
    tl_inject(t, g, n);
    CHECK_EQ(k->drop_eth_type, 1);
    tl_inject(t, g, 10);
    CHECK_EQ(k->drop_eth_short, 1);
    CHECK_EQ(t->c.ev_len, 0);
    tl_free(t);
}

static void test_input_options_padding_bcast(void)
{
    struct tl *t = tl_new();
    CHECK_EQ(udp_bind(&t->c, 7), 0);
    uint8_t f[256], g[256];
    uint32_t n = tl_udp(f, TL_PEER, TL_ADDR, 5000, 7, "abcd", 4);
    /* 4 bytes of options (NOP x4) inserted after the header */
    memcpy(g, f, ETH_HLEN + 20);
    memset(g + ETH_HLEN + 20, 1, 4);
    memcpy(g + ETH_HLEN + 24, f + ETH_HLEN + 20, n - ETH_HLEN - 20);
    g[ETH_HLEN] = 0x46;
    net_put16(g + ETH_HLEN + 2, (uint16_t)(n - ETH_HLEN + 4));
    refix(g);
    tl_inject(t, g, n + 4);
    CHECK_EQ(t->c.counters.udp_rx, 1);
    CHECK_EQ(t->c.ev_len, 1);
    CHECK_EQ(t->ev[0].a1, 4);
    CHECK(memcmp((const void *)(uintptr_t)t->ev[0].a0, "abcd", 4) == 0);
    CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)t->ev[0].a0), 0);
    tl_events_reset(t);
    /* Ethernet padding after the IP packet is ignored (minimum frame 60 bytes) */
    memcpy(g, f, n);
    memset(g + n, 0xee, 20);
    tl_inject(t, g, n + 20);
    CHECK_EQ(t->c.counters.udp_rx, 2);
    CHECK_EQ(t->ev[0].a1, 4);
    CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)t->ev[0].a0), 0);
    tl_events_reset(t);
    /* subnet and limited broadcast are accepted for UDP */
    n = tl_udp(g, TL_PEER, 0x0a0000ff, 5000, 7, "b", 1);
    memcpy(g, (const uint8_t[6]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 6);
    tl_inject(t, g, n);
    n = tl_udp(g, TL_PEER, 0xffffffff, 5000, 7, "b", 1);
    tl_inject(t, g, n);
    CHECK_EQ(t->c.ev_len, 2);
    for (uint32_t i = 0; i < t->c.ev_len; i++)
        CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)t->ev[i].a0), 0);
    tl_free(t);
}

static void test_output(void)
{
    struct tl *t = tl_new();
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    tl_tx_clear(t);
    static uint8_t big[1500];
    struct net_iov iov = {big, 1472};
    CHECK_EQ(udp_send(&t->c, &iov, 1, TL_PEER, 9, 1000, 1), 0);
    CHECK_EQ(t->ntx, 1);
    uint8_t proto;
    uint32_t src, dst, l4len;
    const uint8_t *l4 = tl_parse_ipv4(&t->tx[0], &proto, &src, &dst, &l4len);
    CHECK(l4 != NULL);
    CHECK_EQ(proto, NET_PROTO_UDP);
    CHECK_EQ(src, TL_ADDR);
    CHECK_EQ(dst, TL_PEER);
    CHECK_EQ(l4len, 1480);
    CHECK_EQ(t->tx[0].len, 1514);
    const uint8_t *ip = t->tx[0].buf + ETH_HLEN;
    CHECK_EQ(ipv4_ttl(ip), 64);
    CHECK_EQ(ipv4_frag(ip), IPV4_FLAG_DF);
    /* one byte more than the MTU is refused, never fragmented */
    iov.len = 1473;
    CHECK_EQ(udp_send(&t->c, &iov, 1, TL_PEER, 9, 1000, 1), -IX_EINVAL);
    /* no route: off-link without a gateway; and our own address */
    t->c.cfg.gateway = 0;
    iov.len = 10;
    CHECK_EQ(udp_send(&t->c, &iov, 1, TL_OFFLINK, 9, 1000, 1), -IX_EHOSTUNREACH);
    CHECK_EQ(udp_send(&t->c, &iov, 1, TL_ADDR, 9, 1000, 1), -IX_EHOSTUNREACH);
    CHECK_EQ(t->c.counters.drop_no_route, 2);
    /* broadcast needs no ARP */
    tl_tx_clear(t);
    CHECK_EQ(udp_send(&t->c, &iov, 1, 0x0a0000ff, 9, 1000, 1), 0);
    CHECK_EQ(t->ntx, 1);
    CHECK(eth_addr_is_bcast(eth_dst(t->tx[0].buf)));
    /* TX queue full: the frame is dropped, the caller told */
    t->tx_full = 1;
    CHECK_EQ(udp_send(&t->c, &iov, 1, TL_PEER, 9, 1000, 1), -IX_EAGAIN);
    CHECK_EQ(t->c.counters.drop_tx_full, 1);
    t->tx_full = 0;
    /* bad iov counts */
    struct mbuf *m = mbuf_alloc(&t->pool);
    mbuf_append(m, 8);
    CHECK_EQ(ipv4_output(&t->c, m, &iov, NET_IOV_MAX + 1, TL_PEER, NET_PROTO_UDP), -IX_EINVAL);
    tl_free(t);
}

static void test_init_validation(void)
{
    static _Alignas(64) uint8_t mem[TL_MEM];
    static uint8_t pm[4 * MBUF_SIZE + 64];
    struct mbuf_pool p;
    mbuf_pool_init(&p, pm, sizeof(pm));
    struct net_core c;
    struct net_config cfg = {.addr = TL_ADDR, .netmask = 0xffffff00u};
    CHECK_EQ(net_init(&c, 0, &cfg, &p, mem, sizeof(mem), 4), 0);
    cfg.netmask = 0xff00ff00u;
    CHECK_EQ(net_init(&c, 0, &cfg, &p, mem, sizeof(mem), 4), -IX_EINVAL);
    cfg.netmask = 0xffffff00u;
    cfg.addr = 0x0a0000ff; /* the subnet broadcast */
    CHECK_EQ(net_init(&c, 0, &cfg, &p, mem, sizeof(mem), 4), -IX_EINVAL);
    cfg.addr = TL_ADDR;
    CHECK_EQ(net_init(&c, 0, &cfg, &p, mem, 100, 4), -IX_ENOMEM);
    CHECK_EQ(net_init(&c, 0, &cfg, &p, mem + 1, sizeof(mem) - 1, 4), -IX_EINVAL);
}

int main(void)
{
    CHECK_RUN(test_input_drops);
    CHECK_RUN(test_input_options_padding_bcast);
    CHECK_RUN(test_output);
    CHECK_RUN(test_init_validation);
    return check_summary("ipv4_test");
}
