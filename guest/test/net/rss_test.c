/* The guest's Toeplitz hash against the Microsoft RSS verification vectors (the same ones
 * test/nic-toeplitz.test.ts checks the host with), and flow ownership through a table. */
#include <stdio.h>
#include "rss.h"
#include "check.h"

static const uint8_t ms_key[NET_RSS_KEY_LEN] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

static uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) { return (a << 24) | (b << 16) | (c << 8) | d; }

int main(void)
{
    /* destination 161.142.100.80:1766, source 66.9.149.187:2794 -> 0x51ccc178 (with ports) */
    struct { uint32_t src, dst; uint16_t sport, dport; uint32_t want; } v[] = {
        {ip(66, 9, 149, 187), ip(161, 142, 100, 80), 2794, 1766, 0x51ccc178},
        {ip(199, 92, 111, 2), ip(65, 69, 140, 83), 14230, 4739, 0xc626b0ea},
        {ip(24, 19, 198, 95), ip(12, 22, 207, 184), 12898, 38024, 0x5c2b394a},
        {ip(38, 27, 205, 30), ip(209, 142, 163, 6), 48228, 2217, 0xafc7327f},
        {ip(153, 39, 163, 191), ip(202, 188, 127, 2), 44251, 1303, 0x10e828a2},
    };
    for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint32_t h = rss_hash(ms_key, v[i].src, v[i].dst, v[i].sport, v[i].dport);
        CHECK_MSG(h == v[i].want, "vector %u: got %08x want %08x", i, h, v[i].want);
    }
    /* ownership: with 2 queues alternating in the table, about half the ports are ours,
     * and the answer agrees with the hash */
    struct net_rss r = {.reta_size = 128, .queue = 1};
    for (int i = 0; i < 40; i++)
        r.key[i] = ms_key[i];
    for (int i = 0; i < 128; i++)
        r.reta[i] = (uint16_t)(i & 1);
    unsigned mine = 0;
    for (uint16_t port = 40000; port < 41000; port++) {
        bool m = rss_flow_is_mine(&r, ip(10, 10, 0, 2), port, ip(10, 10, 0, 1), 80);
        uint32_t h = rss_hash(ms_key, ip(10, 10, 0, 1), ip(10, 10, 0, 2), 80, port);
        CHECK(m == ((h & 127) % 2 == 1));
        mine += m;
    }
    CHECK(mine > 350 && mine < 650);
    r.reta_size = 0; /* no table: every flow is ours */
    CHECK(rss_flow_is_mine(&r, 1, 2, 3, 4));
    fprintf(stderr, "rss_test: %u of 1000 ports on queue 1\n", mine);
    return check_summary("rss_test");
}
