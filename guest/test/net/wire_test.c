/* Wire views and checksum helpers: round trips, known vectors, unaligned access. */
#include <string.h>

#include "testlib.h"
#include "../../net/csum.h"
#include "../../net/wire/arp.h"
#include "../../net/wire/eth.h"
#include "../../net/wire/icmp.h"
#include "../../net/wire/ipv4.h"
#include "../../net/wire/udp.h"

static void test_eth(void)
{
    uint8_t raw[32] = {0};
    uint8_t *p = raw + 1; /* odd address: views must not assume alignment */
    const uint8_t d[6] = {1, 2, 3, 4, 5, 6}, s[6] = {7, 8, 9, 10, 11, 12};
    eth_set_dst(p, d);
    eth_set_src(p, s);
    eth_set_type(p, ETH_TYPE_ARP);
    CHECK(memcmp(eth_dst(p), d, 6) == 0);
    CHECK(memcmp(eth_src(p), s, 6) == 0);
    CHECK_EQ(eth_type(p), 0x0806);
    CHECK_EQ(p[12], 0x08);
    CHECK_EQ(p[13], 0x06);
    CHECK(eth_addr_is_bcast((const uint8_t[6]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
    CHECK(!eth_addr_is_bcast(d));
    CHECK(eth_addr_is_mcast(d));  /* 01:... has the group bit */
    CHECK(!eth_addr_is_mcast(TL_MAC));
    CHECK(eth_addr_eq(d, d) && !eth_addr_eq(d, s));
}

static void test_arp(void)
{
    uint8_t raw[40];
    uint8_t *p = raw + 3;
    const uint8_t sha[6] = {0x02, 1, 2, 3, 4, 5}, tha[6] = {0};
    arp_write(p, ARP_OP_REQUEST, sha, 0x0a000001, tha, 0x0a000002);
    /* RFC 826 layout, checked byte by byte */
    const uint8_t want[28] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 1, 2, 3, 4, 5, 10, 0, 0, 1,
                              0, 0, 0, 0, 0, 0, 10, 0, 0, 2};
    CHECK(memcmp(p, want, 28) == 0);
    CHECK(arp_is_eth_ipv4(p));
    CHECK_EQ(arp_op(p), ARP_OP_REQUEST);
    CHECK_EQ(arp_spa(p), 0x0a000001);
    CHECK_EQ(arp_tpa(p), 0x0a000002);
    CHECK(memcmp(arp_sha(p), sha, 6) == 0);
    CHECK(memcmp(arp_tha(p), tha, 6) == 0);
    p[5] = 16; /* IPv6-sized protocol address: not ours */
    CHECK(!arp_is_eth_ipv4(p));
}

static void test_ipv4(void)
{
    uint8_t raw[64] = {0};
    uint8_t *p = raw + 1;
    ipv4_write(p, 84, 0x1234, 64, 1, 0xc0a80001, 0xc0a800c7);
    ipv4_set_csum(p, csum_fold(csum_partial(p, 20, 0)));
    CHECK_EQ(ipv4_version(p), 4);
    CHECK_EQ(ipv4_hlen(p), 20);
    CHECK_EQ(ipv4_total_len(p), 84);
    CHECK_EQ(ipv4_id(p), 0x1234);
    CHECK_EQ(ipv4_ttl(p), 64);
    CHECK_EQ(ipv4_proto(p), 1);
    CHECK_EQ(ipv4_src(p), 0xc0a80001);
    CHECK_EQ(ipv4_dst(p), 0xc0a800c7);
    CHECK(!ipv4_is_fragment(p)); /* DF only */
    CHECK_EQ(ipv4_frag(p), IPV4_FLAG_DF);
    CHECK_EQ(csum_fold(csum_partial(p, 20, 0)), 0); /* a correct header sums to 0 */
    /* Known header (Wikipedia's IPv4 checksum example): checksum 0xb861 */
    const uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                           0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    CHECK_EQ(csum_fold(csum_partial(h, 20, 0)), 0xb861);
    net_put16(p + 6, IPV4_FLAG_MF);
    CHECK(ipv4_is_fragment(p));
    net_put16(p + 6, 185); /* offset only */
    CHECK(ipv4_is_fragment(p));
    p[0] = 0x46;
    CHECK_EQ(ipv4_hlen(p), 24);
}

static void test_icmp_udp(void)
{
    uint8_t raw[32] = {0};
    uint8_t *p = raw + 1;
    icmp_set_type(p, ICMP_ECHO_REQUEST);
    icmp_set_code(p, 0);
    icmp_set_echo(p, 0xbeef, 7);
    icmp_set_csum(p, 0xabcd);
    CHECK_EQ(icmp_type(p), 8);
    CHECK_EQ(icmp_code(p), 0);
    CHECK_EQ(icmp_echo_id(p), 0xbeef);
    CHECK_EQ(icmp_echo_seq(p), 7);
    CHECK_EQ(icmp_csum(p), 0xabcd);
    udp_write(p, 1234, 53, 20);
    CHECK_EQ(udp_sport(p), 1234);
    CHECK_EQ(udp_dport(p), 53);
    CHECK_EQ(udp_len(p), 20);
    CHECK_EQ(udp_csum(p), 0);
    udp_set_csum(p, 0xffff);
    CHECK_EQ(udp_csum(p), 0xffff);
    CHECK_EQ(p[6], 0xff);
}

static void test_csum(void)
{
    /* RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 */
    const uint8_t v[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    uint32_t s = csum_partial(v, 8, 0);
    CHECK_EQ((uint16_t)~csum_fold(s), 0xddf2);
    /* odd length: the tail byte is the high half of a word */
    const uint8_t o[3] = {0x12, 0x34, 0x56};
    CHECK_EQ((uint16_t)~csum_fold(csum_partial(o, 3, 0)), 0x1234 + 0x5600);
    /* Summing random slices at any split equals summing the whole. */
    uint8_t buf[1500];
    uint32_t seed = 12345;
    for (int round = 0; round < 2000; round++) {
        uint32_t len = 0;
        seed = seed * 1103515245 + 12345;
        len = seed % sizeof(buf);
        for (uint32_t i = 0; i < len; i++) {
            seed = seed * 1103515245 + 12345;
            buf[i] = (uint8_t)(seed >> 16);
        }
        uint16_t whole = csum_fold(csum_partial(buf, len, 0));
        uint32_t acc = 0, off = 0;
        while (off < len) {
            seed = seed * 1103515245 + 12345;
            uint32_t n = 1 + (seed >> 8) % 97;
            if (n > len - off)
                n = len - off;
            acc = csum_partial_at(buf + off, n, acc, off);
            off += n;
        }
        CHECK_EQ(csum_fold(acc), whole);
    }
    /* pseudo header: sum of the 16-bit halves, protocol and length */
    CHECK_EQ(csum_pseudo(0x0a000001, 0x0a000002, 17, 28), 0x0a00 + 1 + 0x0a00 + 2 + 17 + 28);
}

int main(void)
{
    CHECK_RUN(test_eth);
    CHECK_RUN(test_arp);
    CHECK_RUN(test_ipv4);
    CHECK_RUN(test_icmp_udp);
    CHECK_RUN(test_csum);
    return check_summary("wire_test");
}
