/* ARP: replies, learning, pending queues, retries, timeouts, expiry; static (permanent)
 * entries from the config's [[nic.arp]]: used without a request, never expiring, never
 * evicted, never overwritten by received ARP, alongside dynamic entries. */
#include <string.h>

#include "testlib.h"
#include "../../net/arp.h"
#include "../../net/ipv4.h"
#include "../../net/udp.h"
#include "../../net/wire/arp.h"
#include "../../net/wire/eth.h"
#include "../../net/wire/icmp.h"

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
    /* ARP_ENTRIES pending next hops fill the cache; one more replaces the oldest pending
     * entry (whose queued frame is dropped), never fails */
    for (uint32_t i = 0; i < ARP_ENTRIES; i++)
        CHECK_EQ(udp_send(&t->c, &iov, 1, 0x0a000010 + i, 9, 1000, i), 0);
    CHECK_EQ(udp_send(&t->c, &iov, 1, 0x0a0000f0, 9, 1000, 0), 0);
    CHECK_EQ(t->c.counters.drop_arp_no_entry, 0);
    CHECK_EQ(t->c.counters.arp_pending_evicted, 1);
    tl_free(t);
}

/* A flood of unanswerable next hops (replies to spoofed sources) keeps the resolved entry
 * of a real peer: pending entries get at most half the cache once it is full. */
static void test_pending_flood_keeps_resolved(void)
{
    struct tl *t = tl_new();
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    static const char msg[] = "f";
    struct net_iov iov = {msg, 1};
    for (uint32_t i = 0; i < 3 * ARP_ENTRIES; i++)
        CHECK_EQ(udp_send(&t->c, &iov, 1, 0x0a000010 + i, 9, 1000, 1), 0);
    uint8_t mac[6];
    CHECK(arp_lookup(&t->c, TL_PEER, mac) && memcmp(mac, TL_PEER_MAC, 6) == 0);
    CHECK(t->c.counters.arp_pending_evicted > 0);
    tl_free(t);
}


/* ---- static entries ------------------------------------------------------------------ */

static const uint8_t STATIC_MAC[6] = {0x02, 0x5a, 0, 0, 0, 0x01};   /* not TL_PEER_MAC */
static const uint8_t OTHER_MAC[6] = {0x02, 0x66, 0, 0, 0, 0x07};

/* Send one UDP datagram to ip; true if exactly one frame left and it is IPv4 to mac (so no
 * ARP request went out). Clears the capture first. */
static bool udp_goes_to(struct tl *t, uint32_t ip, const uint8_t *mac)
{
    static const char msg[] = "s";
    struct net_iov iov = {msg, 1};
    tl_tx_clear(t);
    uint64_t req_before = t->c.counters.arp_requests_tx;
    if (udp_send(&t->c, &iov, 1, ip, 9, 1000, 7) != 0)
        return false;
    return t->ntx == 1 && eth_type(t->tx[0].buf) == ETH_TYPE_IPV4 && memcmp(eth_dst(t->tx[0].buf), mac, 6) == 0 &&
           t->c.counters.arp_requests_tx == req_before;
}

static void test_static_used_without_request(void)
{
    struct tl *t = tl_new();
    CHECK_EQ(arp_add_static(&t->c, TL_PEER, STATIC_MAC), 0);
    CHECK_EQ(arp_static_count(&t->c), 1);
    CHECK(arp_is_static(&t->c, TL_PEER));
    /* on-link and via the gateway (TL_PEER is the gateway): straight to the static MAC */
    CHECK(udp_goes_to(t, TL_PEER, STATIC_MAC));
    CHECK(udp_goes_to(t, TL_OFFLINK, STATIC_MAC));
    /* an echo request from the peer is answered to the static MAC, not to the frame's
     * Ethernet source (TL_PEER_MAC), and without asking ARP */
    tl_tx_clear(t);
    uint8_t f[128];
    uint32_t n = tl_icmp_echo(f, TL_PEER, TL_ADDR, ICMP_ECHO_REQUEST, 1, 1, "ping", 4);
    tl_inject(t, f, n);
    CHECK_EQ(t->ntx, 1);
    CHECK(memcmp(eth_dst(t->tx[0].buf), STATIC_MAC, 6) == 0);
    CHECK_EQ(t->c.counters.icmp_echo_tx, 1);
    CHECK_EQ(t->c.counters.arp_requests_tx, 0);
    uint8_t mac[6];
    CHECK(arp_lookup(&t->c, TL_PEER, mac) && memcmp(mac, STATIC_MAC, 6) == 0);
    tl_free(t);
}

static void test_static_never_expires(void)
{
    struct tl *t = tl_new();
    CHECK_EQ(arp_add_static(&t->c, TL_PEER, STATIC_MAC), 0);
    /* three dynamic lifetimes, with the timers run every tick on the way */
    for (uint64_t at = 0; at < 3ull * ARP_REACHABLE_US; at += 250 * ARP_TICK_US) {
        tl_now_us += 250 * ARP_TICK_US;
        net_poll_timers(&t->c);
    }
    CHECK(udp_goes_to(t, TL_PEER, STATIC_MAC));
    CHECK_EQ(t->c.counters.arp_requests_tx, 0);
    /* arp_flush (shutdown, leak checks) drops dynamic entries only */
    arp_flush(&t->c);
    CHECK(udp_goes_to(t, TL_PEER, STATIC_MAC));
    tl_free(t);
}

static void test_static_not_overwritten(void)
{
    struct tl *t = tl_new();
    CHECK_EQ(arp_add_static(&t->c, TL_PEER, STATIC_MAC), 0);
    uint8_t f[64];
    /* an (unsolicited) reply claiming the static address with another MAC */
    uint32_t n = tl_arp(f, ARP_OP_REPLY, OTHER_MAC, TL_PEER, TL_MAC, TL_ADDR, TL_MAC);
    tl_inject(t, f, n);
    CHECK_EQ(t->c.counters.arp_replies_rx, 1);
    CHECK_EQ(arp_static_conflicts(&t->c), 1);
    CHECK(udp_goes_to(t, TL_PEER, STATIC_MAC));
    /* a request for us from that sender: answered (to the requester's MAC, as Linux does),
     * but not learned from */
    tl_tx_clear(t);
    n = tl_arp(f, ARP_OP_REQUEST, OTHER_MAC, TL_PEER, ZERO, TL_ADDR, BCAST);
    tl_inject(t, f, n);
    CHECK_EQ(t->ntx, 1);
    CHECK_EQ(arp_op(t->tx[0].buf + ETH_HLEN), ARP_OP_REPLY);
    CHECK(memcmp(eth_dst(t->tx[0].buf), OTHER_MAC, 6) == 0);
    CHECK_EQ(arp_static_conflicts(&t->c), 2);
    /* a gratuitous ARP (broadcast request for the sender's own address) */
    n = tl_arp(f, ARP_OP_REQUEST, OTHER_MAC, TL_PEER, ZERO, TL_PEER, BCAST);
    tl_inject(t, f, n);
    CHECK_EQ(arp_static_conflicts(&t->c), 3);
    /* the same MAC as configured is no conflict */
    n = tl_arp(f, ARP_OP_REPLY, STATIC_MAC, TL_PEER, TL_MAC, TL_ADDR, TL_MAC);
    tl_inject(t, f, n);
    CHECK_EQ(arp_static_conflicts(&t->c), 3);
    uint8_t mac[6];
    CHECK(arp_lookup(&t->c, TL_PEER, mac) && memcmp(mac, STATIC_MAC, 6) == 0);
    CHECK(udp_goes_to(t, TL_PEER, STATIC_MAC));
    /* and it did not sneak into the dynamic cache either: still static after a lifetime */
    tl_now_us += ARP_REACHABLE_US + ARP_TICK_US;
    net_poll_timers(&t->c);
    CHECK(udp_goes_to(t, TL_PEER, STATIC_MAC));
    tl_free(t);
}

static void test_static_with_dynamic(void)
{
    struct tl *t = tl_new();
    const uint32_t dyn = 0x0a000007u; /* 10.0.0.7, resolved by ARP */
    CHECK_EQ(arp_add_static(&t->c, TL_PEER, STATIC_MAC), 0);
    static const char msg[] = "d";
    struct net_iov iov = {msg, 1};
    tl_tx_clear(t);
    CHECK_EQ(udp_send(&t->c, &iov, 1, dyn, 9, 1000, 1), 0);
    CHECK_EQ(t->ntx, 1); /* a broadcast request, the datagram waits */
    CHECK_EQ(arp_op(t->tx[0].buf + ETH_HLEN), ARP_OP_REQUEST);
    CHECK_EQ(arp_tpa(t->tx[0].buf + ETH_HLEN), dyn);
    uint8_t f[64];
    uint32_t n = tl_arp(f, ARP_OP_REPLY, OTHER_MAC, dyn, TL_MAC, TL_ADDR, TL_MAC);
    tl_inject(t, f, n);
    CHECK_EQ(t->ntx, 2);
    CHECK(memcmp(eth_dst(t->tx[1].buf), OTHER_MAC, 6) == 0);
    CHECK(udp_goes_to(t, dyn, OTHER_MAC));
    CHECK(udp_goes_to(t, TL_PEER, STATIC_MAC));
    CHECK(!arp_is_static(&t->c, dyn));
    /* the dynamic entry expires as before, the static one stays */
    tl_now_us += ARP_REACHABLE_US + ARP_TICK_US;
    net_poll_timers(&t->c);
    uint8_t mac[6];
    CHECK(!arp_lookup(&t->c, dyn, mac));
    CHECK(arp_lookup(&t->c, TL_PEER, mac) && memcmp(mac, STATIC_MAC, 6) == 0);
    /* a cache full of pending next hops evicts nothing static and does not hide it */
    for (uint32_t i = 0; i < ARP_ENTRIES; i++)
        CHECK_EQ(udp_send(&t->c, &iov, 1, 0x0a000010 + i, 9, 1000, i), 0);
    CHECK_EQ(udp_send(&t->c, &iov, 1, 0x0a0000f0, 9, 1000, 0), 0); /* replaces the oldest */
    CHECK(udp_goes_to(t, TL_PEER, STATIC_MAC));
    /* the pending ones time out and their frames are released (checked by tl_free) */
    for (int r = 0; r < ARP_RETRIES; r++) {
        tl_now_us += ARP_RETRY_US;
        net_poll_timers(&t->c);
    }
    CHECK_EQ(t->c.counters.drop_arp_timeout, ARP_ENTRIES + 1); /* one by replacement */
    CHECK(udp_goes_to(t, TL_PEER, STATIC_MAC));
    tl_free(t);
}

static void test_static_replaces_pending(void)
{
    struct tl *t = tl_new();
    const uint32_t ip = 0x0a000009u;
    static const char msg[] = "q";
    struct net_iov iov = {msg, 1};
    CHECK_EQ(udp_send(&t->c, &iov, 1, ip, 9, 1000, 1), 0);
    CHECK_EQ(udp_send(&t->c, &iov, 1, ip, 9, 1000, 2), 0);
    CHECK_EQ(t->c.counters.arp_requests_tx, 1);
    tl_tx_clear(t);
    /* installing a static entry for a pending next hop sends what waited, to its MAC */
    CHECK_EQ(arp_add_static(&t->c, ip, STATIC_MAC), 0);
    CHECK_EQ(t->ntx, 2);
    for (unsigned i = 0; i < 2; i++)
        CHECK(memcmp(eth_dst(t->tx[i].buf), STATIC_MAC, 6) == 0);
    CHECK_EQ(count_events(t, IX_EV_UDP_SENT, 1), 2);
    /* and no retry follows: the pending entry is gone */
    tl_now_us += 5ull * ARP_RETRY_US;
    net_poll_timers(&t->c);
    CHECK_EQ(t->c.counters.arp_requests_tx, 1);
    CHECK_EQ(t->c.counters.drop_arp_timeout, 0);
    /* a resolved dynamic entry is replaced the same way */
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    CHECK(udp_goes_to(t, TL_PEER, TL_PEER_MAC));
    CHECK_EQ(arp_add_static(&t->c, TL_PEER, STATIC_MAC), 0);
    CHECK(udp_goes_to(t, TL_PEER, STATIC_MAC));
    /* adding again replaces the MAC (ip neigh replace) */
    CHECK_EQ(arp_add_static(&t->c, TL_PEER, OTHER_MAC), 0);
    CHECK_EQ(arp_static_count(&t->c), 2);
    CHECK(udp_goes_to(t, TL_PEER, OTHER_MAC));
    tl_free(t);
}

static void test_static_validation(void)
{
    struct tl *t = tl_new(); /* 10.0.0.2/24 */
    static const uint8_t MCAST[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
    CHECK_EQ(arp_add_static(&t->c, TL_ADDR, STATIC_MAC), -IX_EINVAL);      /* ourselves */
    CHECK_EQ(arp_add_static(&t->c, 0x0a000000u, STATIC_MAC), -IX_EINVAL);  /* network */
    CHECK_EQ(arp_add_static(&t->c, 0x0a0000ffu, STATIC_MAC), -IX_EINVAL);  /* broadcast */
    CHECK_EQ(arp_add_static(&t->c, TL_OFFLINK, STATIC_MAC), -IX_EINVAL);   /* off-link */
    CHECK_EQ(arp_add_static(&t->c, 0, STATIC_MAC), -IX_EINVAL);
    CHECK_EQ(arp_add_static(&t->c, 0xffffffffu, STATIC_MAC), -IX_EINVAL);
    CHECK_EQ(arp_add_static(&t->c, TL_PEER, MCAST), -IX_EINVAL);
    CHECK_EQ(arp_add_static(&t->c, TL_PEER, BCAST), -IX_EINVAL);
    CHECK_EQ(arp_add_static(&t->c, TL_PEER, ZERO), -IX_EINVAL);
    CHECK_EQ(arp_static_count(&t->c), 0);
    /* a /31 has no network or broadcast address: the other end is a valid entry */
    t->c.cfg.netmask = 0xfffffffeu; /* 10.0.0.2/31: 10.0.0.3 is the peer */
    CHECK_EQ(arp_add_static(&t->c, 0x0a000003u, STATIC_MAC), 0);
    CHECK_EQ(arp_add_static(&t->c, TL_PEER, STATIC_MAC), -IX_EINVAL); /* off-link now */

    CHECK_EQ(arp_static_count(&t->c), 1);
    tl_free(t);
}

static void test_static_capacity(void)
{
    /* a full table, more entries than the dynamic cache has slots, added in shuffled order:
     * every entry is found and used, one more is refused */
    struct tl *t = tl_new();
    t->c.cfg.netmask = 0xffff0000u; /* 10.0.0.2/16: 10.0.1.0 .. 10.0.1.255 are hosts */
    t->c.cfg.gateway = 0;
    CHECK(ARP_STATIC_MAX > ARP_ENTRIES);
    CHECK_EQ(ARP_STATIC_MAX, 256);
    for (uint32_t k = 0; k < ARP_STATIC_MAX; k++) {
        uint32_t i = (k * 97u) % 256u; /* 97 is odd: a permutation of 0..255 */
        uint8_t mac[6] = {0x02, 0x11, 0, 0, 0, (uint8_t)i};
        CHECK_EQ(arp_add_static(&t->c, 0x0a000100u + i, mac), 0);
    }
    CHECK_EQ(arp_static_count(&t->c), ARP_STATIC_MAX);
    CHECK_EQ(arp_add_static(&t->c, 0x0a000200u, STATIC_MAC), -IX_ENOMEM);
    CHECK_EQ(arp_add_static(&t->c, 0x0a000105u, OTHER_MAC), 0); /* replacing still works */
    CHECK_EQ(arp_static_count(&t->c), ARP_STATIC_MAX);
    for (uint32_t i = 0; i < 256; i++) {
        uint8_t mac[6] = {0x02, 0x11, 0, 0, 0, (uint8_t)i};
        CHECK(arp_is_static(&t->c, 0x0a000100u + i));
        CHECK(udp_goes_to(t, 0x0a000100u + i, i == 5 ? OTHER_MAC : mac));
    }
    CHECK(!arp_is_static(&t->c, 0x0a000200u));
    CHECK_EQ(t->c.counters.arp_requests_tx, 0);
    /* dynamic resolution still works next to a full static table */
    static const char msg[] = "n";
    struct net_iov iov = {msg, 1};
    tl_tx_clear(t);
    CHECK_EQ(udp_send(&t->c, &iov, 1, 0x0a000200u, 9, 1000, 1), 0);
    CHECK_EQ(t->c.counters.arp_requests_tx, 1);
    uint8_t f[64];
    uint32_t n = tl_arp(f, ARP_OP_REPLY, TL_PEER_MAC, 0x0a000200u, TL_MAC, TL_ADDR, TL_MAC);
    tl_inject(t, f, n);
    CHECK(udp_goes_to(t, 0x0a000200u, TL_PEER_MAC));
    /* leak check: once the UDP completions waiting for room in the event array are posted
     * and the dynamic entries flushed, no mbuf is held (tl_free checks again, and double
     * frees); the static table never holds any */
    for (int i = 0; i < 100 && udp_deferred(&t->c) > 0; i++)
        tl_events_reset(t);
    CHECK_EQ(udp_deferred(&t->c), 0);
    arp_flush(&t->c);
    CHECK_EQ(mbuf_pool_in_use(&t->pool), 0);
    CHECK_EQ(arp_static_count(&t->c), ARP_STATIC_MAX);
    tl_free(t);
}

int main(void)
{
    CHECK_RUN(test_reply_to_request);
    CHECK_RUN(test_ignored);
    CHECK_RUN(test_pending_then_resolved);
    CHECK_RUN(test_queue_bound_and_timeout);
    CHECK_RUN(test_expiry_and_gateway);
    CHECK_RUN(test_cache_full);
    CHECK_RUN(test_pending_flood_keeps_resolved);
    CHECK_RUN(test_static_used_without_request);
    CHECK_RUN(test_static_never_expires);
    CHECK_RUN(test_static_not_overwritten);
    CHECK_RUN(test_static_with_dynamic);
    CHECK_RUN(test_static_replaces_pending);
    CHECK_RUN(test_static_validation);
    CHECK_RUN(test_static_capacity);
    return check_summary("arp_test");
}
