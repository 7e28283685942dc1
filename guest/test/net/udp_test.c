/* UDP: bind, receive events and recv_done, send(v) with checksums over slices, completion
 * events (deferred when the event array is full), drops, and the zero-copy counter. */
#include <string.h>

#include "testlib.h"
#include "../../net/udp.h"
#include "../../net/wire/eth.h"
#include "../../net/wire/udp.h"

static void test_bind(void)
{
    struct tl *t = tl_new();
    CHECK_EQ(udp_bind(&t->c, 0), -IX_EINVAL);
    CHECK_EQ(udp_bind(&t->c, 7), 0);
    CHECK_EQ(udp_bind(&t->c, 7), -IX_EADDRINUSE);
    CHECK_EQ(udp_bind(&t->c, 65535), 0);
    CHECK_EQ(udp_unbind(&t->c, 7), 0);
    CHECK_EQ(udp_unbind(&t->c, 7), -IX_EINVAL);
    CHECK_EQ(udp_bind(&t->c, 7), 0);
    tl_free(t);
}

static void test_recv(void)
{
    struct tl *t = tl_new();
    CHECK_EQ(udp_bind(&t->c, 7), 0);
    uint8_t f[1600], payload[1472];
    for (unsigned i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i ^ 0x5a);
    uint32_t n = tl_udp(f, TL_PEER, TL_ADDR, 40000, 7, payload, 1472);
    tl_inject(t, f, n);
    CHECK_EQ(t->c.ev_len, 1);
    struct ix_event *e = &t->ev[0];
    CHECK_EQ(e->type, IX_EV_UDP_RECV);
    CHECK_EQ(e->a1, 1472);
    CHECK_EQ(ix_tuple_raddr(e->a2), TL_PEER);
    CHECK_EQ(ix_tuple_rport(e->a2), 40000);
    CHECK_EQ(ix_tuple_lport(e->a2), 7);
    CHECK(memcmp((const void *)(uintptr_t)e->a0, payload, 1472) == 0);
    CHECK_EQ(mbuf_pool_in_use(&t->pool), 1); /* lent to the app until recv_done */
    /* wrong addresses are refused: not a payload start, outside the pool, twice */
    CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)e->a0 + 1), -IX_EINVAL);
    CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)payload), -IX_EINVAL);
    CHECK_EQ(udp_recv_done(&t->c, 0), -IX_EINVAL);
    CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)e->a0), 0);
    CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)e->a0), -IX_EINVAL);
    CHECK_EQ(mbuf_pool_in_use(&t->pool), 0);
    tl_events_reset(t);

    /* checksum 0 = none: accepted; a zero-length datagram is fine */
    n = tl_udp(f, TL_PEER, TL_ADDR, 40000, 7, NULL, 0);
    net_put16(f + ETH_HLEN + 20 + 6, 0);
    tl_inject(t, f, n);
    CHECK_EQ(t->c.ev_len, 1);
    CHECK_EQ(t->ev[0].a1, 0);
    CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)t->ev[0].a0), 0);
    tl_events_reset(t);

    struct net_counters *k = &t->c.counters;
    n = tl_udp(f, TL_PEER, TL_ADDR, 40000, 7, "data", 4);
    f[n - 1] ^= 1;
    tl_inject(t, f, n);
    CHECK_EQ(k->drop_udp_csum, 1);
    n = tl_udp(f, TL_PEER, TL_ADDR, 40000, 8, "data", 4);
    tl_inject(t, f, n);
    CHECK_EQ(k->drop_udp_no_port, 1);
    n = tl_udp(f, TL_PEER, TL_ADDR, 40000, 7, "data", 4);
    net_put16(f + ETH_HLEN + 20 + 4, 100); /* UDP length beyond the IP payload */
    tl_inject(t, f, n);
    net_put16(f + ETH_HLEN + 20 + 4, 7);   /* shorter than the header */
    tl_inject(t, f, n);
    CHECK_EQ(k->drop_udp_bad, 2);
    CHECK_EQ(t->c.ev_len, 0);
    tl_free(t);
}

static void test_recv_event_full(void)
{
    struct tl *t = tl_new_ev(2);
    CHECK_EQ(udp_bind(&t->c, 7), 0);
    uint8_t f[128];
    uint32_t n = tl_udp(f, TL_PEER, TL_ADDR, 1, 7, "q", 1);
    for (int i = 0; i < 5; i++)
        tl_inject(t, f, n);
    CHECK_EQ(t->c.ev_len, 2);
    CHECK_EQ(t->c.counters.drop_udp_ev_full, 3);
    CHECK_EQ(mbuf_pool_in_use(&t->pool), 2);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)t->ev[i].a0), 0);
    tl_free(t);
}

static void test_sendv(void)
{
    struct tl *t = tl_new();
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    tl_tx_clear(t);
    /* odd-sized slices exercise the checksum across odd offsets */
    static const char a[] = "abc", b[] = "defgh", c2[] = "i", d[] = "jklmnopq";
    struct net_iov iov[4] = {{a, 3}, {b, 5}, {c2, 1}, {d, 8}};
    CHECK_EQ(udp_send(&t->c, iov, 4, TL_PEER, 53, 1234, 0xc00c1e), 0);
    CHECK_EQ(t->ntx, 1);
    uint8_t proto;
    uint32_t src, dst, len;
    const uint8_t *l4 = tl_parse_ipv4(&t->tx[0], &proto, &src, &dst, &len);
    CHECK(l4 != NULL);
    if (l4) {
        CHECK_EQ(proto, NET_PROTO_UDP);
        CHECK_EQ(len, 8 + 17);
        CHECK_EQ(udp_sport(l4), 1234);
        CHECK_EQ(udp_dport(l4), 53);
        CHECK_EQ(udp_len(l4), 25);
        CHECK(udp_csum(l4) != 0);
        CHECK(tl_l4_csum_ok(NET_PROTO_UDP, src, dst, l4, len));
        CHECK(memcmp(l4 + 8, "abcdefghijklmnopq", 17) == 0);
    }
    CHECK_EQ(t->c.ev_len, 1);
    CHECK_EQ(t->ev[0].type, IX_EV_UDP_SENT);
    CHECK_EQ(t->ev[0].cookie, 0xc00c1e);
    CHECK_EQ(t->ev[0].a0, 1);
    /* argument checks */
    CHECK_EQ(udp_send(&t->c, iov, -1, TL_PEER, 53, 1234, 0), -IX_EINVAL);
    CHECK_EQ(udp_send(&t->c, iov, NET_IOV_MAX + 1, TL_PEER, 53, 1234, 0), -IX_EINVAL);
    CHECK_EQ(udp_send(&t->c, iov, 1, TL_PEER, 0, 1234, 0), -IX_EINVAL);
    struct net_iov bad = {NULL, 4};
    CHECK_EQ(udp_send(&t->c, &bad, 1, TL_PEER, 53, 1234, 0), -IX_EFAULT);
    CHECK_EQ(udp_send(&t->c, NULL, 0, TL_PEER, 53, 1234, 7), 0); /* empty datagram */
    CHECK_EQ(t->ntx, 2);
    CHECK_EQ(t->c.ev_len, 2);
    tl_free(t);
}

static void test_sent_deferred(void)
{
    /* Completions arriving while the event array is full wait, in order, and are posted
     * by the next net_events_begin: the app always gets its memory back. */
    struct tl *t = tl_new_ev(2);
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    tl_tx_clear(t);
    t->tx_hold = 1;
    static const char p[] = "z";
    struct net_iov iov = {p, 1};
    for (uint64_t i = 1; i <= 5; i++)
        CHECK_EQ(udp_send(&t->c, &iov, 1, TL_PEER, 9, 9, i), 0);
    CHECK_EQ(t->c.ev_len, 0); /* nothing has left yet */
    tl_tx_release(t);
    CHECK_EQ(t->c.ev_len, 2);
    CHECK_EQ(udp_deferred(&t->c), 3);
    CHECK_EQ(t->ev[0].cookie, 1);
    CHECK_EQ(t->ev[1].cookie, 2);
    net_events_begin(&t->c, t->ev, 2);
    CHECK_EQ(t->c.ev_len, 2);
    CHECK_EQ(t->ev[0].cookie, 3);
    CHECK_EQ(t->ev[1].cookie, 4);
    net_events_begin(&t->c, t->ev, 2);
    CHECK_EQ(t->c.ev_len, 1);
    CHECK_EQ(t->ev[0].cookie, 5);
    CHECK_EQ(udp_deferred(&t->c), 0);
    CHECK_EQ(t->c.counters.udp_sent_deferred, 3);
    tl_free(t);
}

static void test_zero_copy_echo(void)
{
    /* An echo the way an app does it: receive, send the received payload back straight
     * from the RX mbuf, and give the RX mbuf back when UDP_SENT arrives. No path copies
     * payload bytes: the counter stays 0 on receive and on sendv. */
    struct tl *t = tl_new();
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    tl_tx_clear(t);
    CHECK_EQ(udp_bind(&t->c, 7), 0);
    uint8_t f[1600], payload[1000];
    for (unsigned i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 13);
    for (int round = 0; round < 100; round++) {
        uint32_t n = tl_udp(f, TL_PEER, TL_ADDR, 4000, 7, payload, 100 + (uint32_t)round * 9);
        tl_inject(t, f, n);
        CHECK_EQ(t->c.ev_len, 1);
        struct ix_event e = t->ev[0];
        tl_events_reset(t);
        struct net_iov iov = {(const void *)(uintptr_t)e.a0, (uint32_t)e.a1};
        CHECK_EQ(udp_send(&t->c, &iov, 1, ix_tuple_raddr(e.a2), ix_tuple_rport(e.a2),
                          ix_tuple_lport(e.a2), e.a0), 0);
        CHECK_EQ(t->c.ev_len, 1);
        CHECK_EQ(t->ev[0].type, IX_EV_UDP_SENT);
        CHECK_EQ(udp_recv_done(&t->c, (uintptr_t)t->ev[0].cookie), 0);
        tl_events_reset(t);
        uint8_t proto;
        uint32_t src, dst, len;
        const uint8_t *l4 = tl_parse_ipv4(&t->tx[(t->ntx - 1) % TL_TX_MAX], &proto, &src, &dst, &len);
        CHECK(l4 != NULL && tl_l4_csum_ok(proto, src, dst, l4, len));
        CHECK(l4 != NULL && memcmp(l4 + 8, payload, len - 8) == 0);
    }
    CHECK_EQ(t->c.counters.udp_rx, 100);
    CHECK_EQ(t->c.counters.udp_tx, 100);
    CHECK_EQ(t->c.counters.copies, 0);
    tl_free(t);
}

int main(void)
{
    CHECK_RUN(test_bind);
    CHECK_RUN(test_recv);
    CHECK_RUN(test_recv_event_full);
    CHECK_RUN(test_sendv);
    CHECK_RUN(test_sent_deferred);
    CHECK_RUN(test_zero_copy_echo);
    return check_summary("udp_test");
}
