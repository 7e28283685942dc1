/* ICMP echo: in-place reply, checksums, ignored types and bad messages. */
#include <string.h>

#include "testlib.h"
#include "../../net/wire/eth.h"
#include "../../net/wire/icmp.h"

static void test_echo_reply(void)
{
    struct tl *t = tl_new();
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    tl_tx_clear(t);
    uint8_t payload[1472], f[1600];
    for (unsigned i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    static const uint32_t sizes[] = {0, 1, 56, 57, 1000, 1472};
    for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        uint32_t plen = sizes[k];
        uint32_t n = tl_icmp_echo(f, TL_PEER, TL_ADDR, ICMP_ECHO_REQUEST, 0x1234, (uint16_t)k, payload, plen);
        tl_inject(t, f, n);
        CHECK_EQ(t->ntx, k + 1);
        struct tl_frame *r = &t->tx[k];
        CHECK(memcmp(eth_dst(r->buf), TL_PEER_MAC, 6) == 0);
        uint8_t proto;
        uint32_t src, dst, len;
        const uint8_t *l4 = tl_parse_ipv4(r, &proto, &src, &dst, &len);
        CHECK(l4 != NULL);
        if (l4 == NULL)
            continue;
        CHECK_EQ(proto, NET_PROTO_ICMP);
        CHECK_EQ(src, TL_ADDR);
        CHECK_EQ(dst, TL_PEER);
        CHECK_EQ(len, ICMP_HLEN + plen);
        CHECK_EQ(icmp_type(l4), ICMP_ECHO_REPLY);
        CHECK_EQ(icmp_echo_id(l4), 0x1234);
        CHECK_EQ(icmp_echo_seq(l4), k);
        CHECK(memcmp(l4 + ICMP_HLEN, payload, plen) == 0);
        CHECK(tl_l4_csum_ok(NET_PROTO_ICMP, src, dst, l4, len));
    }
    CHECK_EQ(t->c.counters.icmp_echo_rx, 6);
    CHECK_EQ(t->c.counters.icmp_echo_tx, 6);
    tl_free(t);
}

static void test_ignored(void)
{
    struct tl *t = tl_new();
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    tl_tx_clear(t);
    uint8_t f[256];
    uint32_t n = tl_icmp_echo(f, TL_PEER, TL_ADDR, ICMP_ECHO_REQUEST, 1, 1, "ping", 4);
    f[n - 1] ^= 0x40; /* payload corrupted: checksum fails */
    tl_inject(t, f, n);
    CHECK_EQ(t->c.counters.drop_icmp_bad, 1);
    n = tl_icmp_echo(f, TL_PEER, TL_ADDR, ICMP_ECHO_REPLY, 1, 1, "ping", 4);
    tl_inject(t, f, n);
    n = tl_icmp_echo(f, TL_PEER, TL_ADDR, ICMP_DEST_UNREACH, 1, 1, "ping", 4);
    tl_inject(t, f, n);
    n = tl_icmp_echo(f, TL_PEER, 0x0a0000ff, ICMP_ECHO_REQUEST, 1, 1, "ping", 4); /* bcast */
    tl_inject(t, f, n);
    CHECK_EQ(t->c.counters.drop_icmp_type, 3);
    n = tl_icmp_echo(f, TL_PEER, TL_ADDR, ICMP_ECHO_REQUEST, 1, 1, "ping", 4);
    tl_inject(t, f, n); /* valid */
    CHECK_EQ(t->ntx, 1);
    /* IP length says 4 bytes of ICMP: too short for a header */
    uint8_t g[64];
    n = tl_ipv4(g, TL_PEER, TL_ADDR, NET_PROTO_ICMP, (const uint8_t *)"\x08\x00\xf7\xff", 4);
    tl_inject(t, g, n);
    CHECK_EQ(t->c.counters.drop_icmp_bad, 2);
    CHECK_EQ(t->ntx, 1);
    tl_free(t);
}

int main(void)
{
    CHECK_RUN(test_echo_reply);
    CHECK_RUN(test_ignored);
    return check_summary("icmp_test");
}
