/* ARP: replies, learning, pending queues, retries, timeouts, expiry. */
#include <string.h>

#include "testlib.h"
#include "../../net/arp.h"
#include "../../net/ipv4.h"
#include "../../net/udp.h"
#include "../../net/wire/arp.h"
#include "../../net/wire/eth.h"

static const uint8_t ZERO[6];
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void test_reply_to_request(void)
{
    struct tl *t = tl_new();
    uint8_t f[64];
    uint32_t n = tl_arp(f, ARP_OP_REQUEST, TL_PEER_MAC, TL_PEER, ZERO, TL_ADDR, BCAST);
    tl_inject(t, f, n);
    CHECK_EQ(t->ntx, 1);
    const uint8_t *r = t->tx[0].buf;
    CHECK_EQ(t->tx[0].len, ETH_HLEN + ARP_LEN);
    CHECK(memcmp(eth_dst(r), TL_PEER_MAC, 6) == 0);
    CHECK(memcmp(eth_src(r), TL_MAC, 6) == 0);
    CHECK_EQ(eth_type(r), ETH_TYPE_ARP);
    const uint8_t *a = r + ETH_HLEN;
    CHECK_EQ(arp_op(a), ARP_OP_REPLY);
    CHECK(memcmp(arp_sha(a), TL_MAC, 6) == 0);
    CHECK_EQ(arp_spa(a), TL_ADDR);
    CHECK(memcmp(arp_tha(a), TL_PEER_MAC, 6) == 0);
    CHECK_EQ(arp_tpa(a), TL_PEER);
    CHECK_EQ(t->c.counters.arp_replies_tx, 1);
    /* the requester was learned (RFC 826: the target adds the sender) */
    uint8_t mac[6];
    CHECK(arp_lookup(&t->c, TL_PEER, mac) && memcmp(mac, TL_PEER_MAC, 6) == 0);
    tl_free(t);
}

static void test_ignored(void)
{
    struct tl *t = tl_new();
    uint8_t f[64];
    /* request for someone else: no reply, nothing learned */
    uint32_t n = tl_arp(f, ARP_OP_REQUEST, TL_PEER_MAC, TL_PEER, ZERO, 0x0a000063, BCAST);
    tl_inject(t, f, n);
    CHECK_EQ(t->ntx, 0);
    CHECK_EQ(t->c.counters.drop_arp_not_us, 1);
    uint8_t mac[6];
    CHECK(!arp_lookup(&t->c, TL_PEER, mac));
    /* truncated */
    tl_inject(t, f, ETH_HLEN + 20);
    CHECK_EQ(t->c.counters.drop_arp_bad, 1);
    /* unknown op */
    n = tl_arp(f, 9, TL_PEER_MAC, TL_PEER, ZERO, TL_ADDR, BCAST);
    tl_inject(t, f, n);
    CHECK_EQ(t->c.counters.drop_arp_bad, 2);
    /* multicast sender hardware address */
    n = tl_arp(f, ARP_OP_REQUEST, (const uint8_t[6]){1, 0, 0x5e, 0, 0, 1}, TL_PEER, ZERO, TL_ADDR, BCAST);
    tl_inject(t, f, n);
    CHECK_EQ(t->c.counters.drop_arp_bad, 3);
    /* probe (spa 0): answered, not learned */
    n = tl_arp(f, ARP_OP_REQUEST, TL_PEER_MAC, 0, ZERO, TL_ADDR, BCAST);
    tl_inject(t, f, n);
    CHECK_EQ(t->ntx, 1);
    CHECK(!arp_lookup(&t->c, 0, mac));
    /* frame to another unicast MAC */
    n = tl_arp(f, ARP_OP_REQUEST, TL_PEER_MAC, TL_PEER, ZERO, TL_ADDR, TL_PEER_MAC);
    tl_inject(t, f, n);
    CHECK_EQ(t->c.counters.drop_eth_not_us, 1);
    tl_free(t);
}

static int count_events(struct tl *t, uint32_t type, uint64_t a0)
{
    int k = 0;
    for (uint32_t i = 0; i < t->c.ev_len; i++)
        if (t->ev[i].type == type && t->ev[i].a0 == a0)
            k++;
    return k;
}

static void test_pending_then_resolved(void)
{
    struct tl *t = tl_new();
    static const char msg[] = "hello";
    struct net_iov iov = {msg, 5};
    CHECK_EQ(udp_send(&t->c, &iov, 1, TL_PEER, 9, 1000, 111), 0);
    CHECK_EQ(udp_send(&t->c, &iov, 1, TL_PEER, 9, 1000, 222), 0);
    /* one broadcast request, the datagrams wait */
    CHECK_EQ(t->ntx, 1);
    const uint8_t *r = t->tx[0].buf;
    CHECK(memcmp(eth_dst(r), BCAST, 6) == 0);
    CHECK_EQ(arp_op(r + ETH_HLEN), ARP_OP_REQUEST);
    CHECK_EQ(arp_tpa(r + ETH_HLEN), TL_PEER);
    CHECK_EQ(t->c.counters.arp_requests_tx, 1);
    CHECK_EQ(t->c.ev_len, 0);
    /* the reply releases both, in order, to the learned MAC */
    uint8_t f[64];
    uint32_t n = tl_arp(f, ARP_OP_REPLY, TL_PEER_MAC, TL_PEER, TL_MAC, TL_ADDR, TL_MAC);
    tl_inject(t, f, n);
    CHECK_EQ(t->ntx, 3);
    for (int i = 1; i <= 2; i++) {
        CHECK(memcmp(eth_dst(t->tx[i].buf), TL_PEER_MAC, 6) == 0);
        CHECK_EQ(t->tx[i].len, ETH_HLEN + 20 + 8 + 5);
        CHECK(memcmp(t->tx[i].buf + ETH_HLEN + 28, "hello", 5) == 0);
    }
    CHECK_EQ(count_events(t, IX_EV_UDP_SENT, 1), 2);
    CHECK_EQ(t->ev[0].cookie, 111);
    CHECK_EQ(t->ev[1].cookie, 222);
    CHECK_EQ(t->c.counters.copies, 0);
    tl_free(t);
}

static void test_queue_bound_and_timeout(void)
{
    struct tl *t = tl_new();
    static const char msg[] = "x";
    struct net_iov iov = {msg, 1};
    for (int i = 0; i < ARP_PENDING_MAX; i++)
        CHECK_EQ(udp_send(&t->c, &iov, 1, TL_PEER, 9, 1000, (uint64_t)i), 0);
    CHECK_EQ(udp_send(&t->c, &iov, 1, TL_PEER, 9, 1000, 99), -IX_EAGAIN);
    CHECK_EQ(t->c.counters.drop_arp_queue_full, 1);
    /* retries every ARP_RETRY_US, then give up */
    for (int r = 1; r < ARP_RETRIES; r++) {
        tl_now_us += ARP_RETRY_US;
        net_poll_timers(&t->c);
        CHECK_EQ(t->c.counters.arp_requests_tx, (uint64_t)r + 1);
    }
    net_poll_timers(&t->c); /* not yet due */
    CHECK_EQ(t->c.counters.arp_requests_tx, ARP_RETRIES);
    tl_now_us += ARP_RETRY_US;
    net_poll_timers(&t->c);
    CHECK_EQ(t->c.counters.drop_arp_timeout, ARP_PENDING_MAX);
    CHECK_EQ(t->c.counters.arp_requests_tx, ARP_RETRIES);
    /* every queued send completes with a0 = 0 so the app gets its memory back */
    CHECK_EQ(count_events(t, IX_EV_UDP_SENT, 0), ARP_PENDING_MAX);
    CHECK_EQ(mbuf_pool_in_use(&t->pool), 0);
    tl_free(t);
}

static void test_expiry_and_gateway(void)
{
    struct tl *t = tl_new();
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    tl_tx_clear(t);
    static const char msg[] = "y";
    struct net_iov iov = {msg, 1};
    /* off-link goes to the gateway's MAC (the gateway is TL_PEER) */
    CHECK_EQ(udp_send(&t->c, &iov, 1, TL_OFFLINK, 9, 1000, 1), 0);
    CHECK_EQ(t->ntx, 1);
    CHECK(memcmp(eth_dst(t->tx[0].buf), TL_PEER_MAC, 6) == 0);
    tl_now_us += ARP_REACHABLE_US + ARP_TICK_US;
    net_poll_timers(&t->c);
    uint8_t mac[6];
    CHECK(!arp_lookup(&t->c, TL_PEER, mac));
    tl_tx_clear(t);
    CHECK_EQ(udp_send(&t->c, &iov, 1, TL_OFFLINK, 9, 1000, 2), 0);
    CHECK_EQ(t->ntx, 1); /* a new request, the datagram waits */
    CHECK_EQ(eth_type(t->tx[0].buf), ETH_TYPE_ARP);
    tl_free(t);
}

static void test_cache_full(void)
{
    struct tl *t = tl_new();
    static const char msg[] = "z";
    struct net_iov iov = {msg, 1};
    /* ARP_ENTRIES pending next hops fill the cache; pending entries are never evicted */
    for (uint32_t i = 0; i < ARP_ENTRIES; i++)
        CHECK_EQ(udp_send(&t->c, &iov, 1, 0x0a000010 + i, 9, 1000, i), 0);
    CHECK_EQ(udp_send(&t->c, &iov, 1, 0x0a0000f0, 9, 1000, 0), -IX_ENOMEM);
    CHECK_EQ(t->c.counters.drop_arp_no_entry, 1);
    tl_free(t);
}

int main(void)
{
    TL_RUN(test_reply_to_request);
    TL_RUN(test_ignored);
    TL_RUN(test_pending_then_resolved);
    TL_RUN(test_queue_bound_and_timeout);
    TL_RUN(test_expiry_and_gateway);
    TL_RUN(test_cache_full);
    return tl_done();
}
