/* Bounded mutation fuzzing of net_input (sanitizers on, fixed seed).
 *
 * Seeds are valid frames of every kind the stack parses (ARP request/reply, ICMP echo, UDP
 * to bound and unbound ports, TCP SYN/ACK/data/FIN/RST, IPv4 with options, broadcast).
 * Each round picks a seed and applies 1-4 mutations: random byte overwrites, bit flips,
 * truncation, extension with garbage, and targeted writes of length/header fields (IP
 * ihl/total length/flags, UDP length) with and without fixing the IP checksum, so the
 * fuzzer gets past the header checksum. The "app" answers events like a real one (returns
 * UDP buffers, echoes some datagrams, rejects TCP knocks), the TX queue is sometimes full,
 * and the clock advances so ARP/TCP timers run. The run must not crash (ASan/UBSan abort),
 * and after draining timers no mbuf may be left in use.
 *
 * usage: fuzz_test [frames] (default 1000000)
 */
#include <string.h>

#include "testlib.h"
#include "../../net/csum.h"
#include "../../net/eth.h"
#include "../../net/udp.h"
#include "../../net/wire/arp.h"
#include "../../net/wire/eth.h"
#include "../../net/wire/icmp.h"
#include "../../net/wire/ipv4.h"

int tcp_reject(struct net_core *c, uint64_t handle);
int tcp_recv_done(struct net_core *c, uint64_t handle, uint32_t bytes);
unsigned tcp_conns_in_use(struct net_core *c);

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define NSEEDS 16
static uint8_t seeds[NSEEDS][1600];
static uint32_t seed_len[NSEEDS];
static unsigned nseeds;

static void add_seed(const uint8_t *f, uint32_t n)
{
    memcpy(seeds[nseeds], f, n);
    seed_len[nseeds++] = n;
}

static void make_seeds(void)
{
    uint8_t f[1600], pl[1400];
    static const uint8_t zero[6];
    for (unsigned i = 0; i < sizeof(pl); i++)
        pl[i] = (uint8_t)i;
    add_seed(f, tl_arp(f, ARP_OP_REQUEST, TL_PEER_MAC, TL_PEER, zero, TL_ADDR, eth_bcast_addr));
    add_seed(f, tl_arp(f, ARP_OP_REPLY, TL_PEER_MAC, TL_PEER, TL_MAC, TL_ADDR, TL_MAC));
    add_seed(f, tl_arp(f, ARP_OP_REPLY, (const uint8_t[6]){2, 9, 9, 9, 9, 9}, 0x0a000033, TL_MAC, TL_ADDR, TL_MAC));
    add_seed(f, tl_icmp_echo(f, TL_PEER, TL_ADDR, ICMP_ECHO_REQUEST, 1, 2, pl, 56));
    add_seed(f, tl_icmp_echo(f, TL_OFFLINK, TL_ADDR, ICMP_ECHO_REQUEST, 1, 2, pl, 1000));
    add_seed(f, tl_udp(f, TL_PEER, TL_ADDR, 5000, 7, pl, 32));
    add_seed(f, tl_udp(f, TL_PEER, TL_ADDR, 5000, 9, pl, 1400));
    add_seed(f, tl_udp(f, TL_PEER, TL_ADDR, 5000, 1234, pl, 8));
    add_seed(f, tl_udp(f, 0x0a000044, 0x0a0000ff, 5000, 7, pl, 16));
    add_seed(f, tl_tcp(f, TL_PEER, TL_ADDR, 40000, 80, 1000, 0, 0x02, NULL, 0));        /* SYN */
    add_seed(f, tl_tcp(f, TL_PEER, TL_ADDR, 40000, 80, 1001, 5, 0x10, NULL, 0));        /* ACK */
    add_seed(f, tl_tcp(f, TL_PEER, TL_ADDR, 40000, 80, 1001, 5, 0x18, pl, 500));        /* data */
    add_seed(f, tl_tcp(f, TL_PEER, TL_ADDR, 40000, 80, 1501, 5, 0x11, NULL, 0));        /* FIN */
    add_seed(f, tl_tcp(f, TL_PEER, TL_ADDR, 40000, 80, 1501, 5, 0x04, NULL, 0));        /* RST */
    /* IPv4 with 8 bytes of options (NOPs + EOL) in front of a UDP datagram */
    uint32_t n = tl_udp(f, TL_PEER, TL_ADDR, 5000, 7, pl, 20);
    memmove(f + ETH_HLEN + 28, f + ETH_HLEN + 20, n - ETH_HLEN - 20);
    memset(f + ETH_HLEN + 20, 1, 7);
    f[ETH_HLEN + 27] = 0;
    f[ETH_HLEN] = 0x47;
    net_put16(f + ETH_HLEN + 2, (uint16_t)(n - ETH_HLEN + 8));
    ipv4_set_csum(f + ETH_HLEN, 0);
    ipv4_set_csum(f + ETH_HLEN, csum_fold(csum_partial(f + ETH_HLEN, 28, 0)));
    add_seed(f, n + 8);
    add_seed(f, tl_ipv4(f, TL_PEER, TL_ADDR, 99, pl, 40));
}

static void fix_ip_csum(uint8_t *f, uint32_t len)
{
    if (len < ETH_HLEN + 20)
        return;
    uint8_t *ip = f + ETH_HLEN;
    uint32_t hl = ipv4_hlen(ip);
    if (hl < 20 || ETH_HLEN + hl > len)
        return;
    ipv4_set_csum(ip, 0);
    ipv4_set_csum(ip, csum_fold(csum_partial(ip, hl, 0)));
}

static uint32_t mutate(uint8_t *f, uint32_t len)
{
    unsigned k = 1 + rnd() % 4;
    int fix = rnd() % 4 != 0;
    for (unsigned i = 0; i < k; i++) {
        uint64_t r = rnd();
        switch (r % 9) {
        case 0: case 1: /* random byte */
            if (len)
                f[(r >> 8) % len] = (uint8_t)(r >> 32);
            break;
        case 2: /* bit flip */
            if (len)
                f[(r >> 8) % len] ^= (uint8_t)(1u << ((r >> 40) % 8));
            break;
        case 3: /* truncate */
            len = len ? (uint32_t)((r >> 8) % (len + 1)) : 0;
            break;
        case 4: { /* extend with garbage */
            uint32_t add = (uint32_t)((r >> 8) % 200);
            if (len + add > 1600)
                add = 1600 - len;
            for (uint32_t j = 0; j < add; j++)
                f[len + j] = (uint8_t)rnd();
            len += add;
            break;
        }
        case 5: /* IP version/ihl */
            if (len > ETH_HLEN)
                f[ETH_HLEN] = (uint8_t)(r >> 8);
            break;
        case 6: /* IP total length */
            if (len > ETH_HLEN + 4)
                net_put16(f + ETH_HLEN + 2, (uint16_t)(r >> 8));
            break;
        case 7: /* IP flags/fragment offset, protocol */
            if (len > ETH_HLEN + 10) {
                net_put16(f + ETH_HLEN + 6, (uint16_t)(r >> 8));
                if ((r >> 30) & 1)
                    f[ETH_HLEN + 9] = (uint8_t)(r >> 40);
            }
            break;
        case 8: /* L4 length/ports (UDP length, TCP data offset ...) */
            if (len > ETH_HLEN + 28)
                net_put16(f + ETH_HLEN + 20 + ((r >> 8) % 8) * 2 % 16, (uint16_t)(r >> 24));
            break;
        }
    }
    if (fix)
        fix_ip_csum(f, len);
    return len;
}

static void app(struct tl *t, int from_inject)
{
    struct net_core *c = &t->c;
    for (uint32_t i = 0; i < c->ev_len; i++) {
        struct ix_event e = t->ev[i];
        switch (e.type) {
        case IX_EV_UDP_RECV:
        case IX_EV_TCP_RECV:
            /* A payload handed to the app must lie inside the bytes that were received:
             * sanitizers cannot see over-reads that stay inside one 2 KiB mbuf. (Not for
             * TCP: data queued out of order is delivered from older frames.) */
            if (from_inject && e.a1 > 0 && e.type == IX_EV_UDP_RECV)
                CHECK(e.a0 >= t->rx_lo && e.a0 + e.a1 <= t->rx_hi);
            if (e.type == IX_EV_TCP_RECV) {
                tcp_recv_done(c, e.a2, (uint32_t)e.a1);
                break;
            }
            if (ix_tuple_lport(e.a2) == 7 && rnd() % 2) {
                struct net_iov iov = {(const void *)(uintptr_t)e.a0, (uint32_t)e.a1};
                if (udp_send(c, &iov, 1, ix_tuple_raddr(e.a2), ix_tuple_rport(e.a2) ? ix_tuple_rport(e.a2) : 1,
                             7, e.a0) == 0)
                    break;
            }
            CHECK_EQ(udp_recv_done(c, (uintptr_t)e.a0), 0);
            break;
        case IX_EV_UDP_SENT:
            CHECK_EQ(udp_recv_done(c, (uintptr_t)e.cookie), 0);
            break;
        case IX_EV_TCP_KNOCK:
            tcp_reject(c, e.a0);
            break;
        default:
            break;
        }
    }
}

int main(int argc, char **argv)
{
    unsigned long frames = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000ul;
    make_seeds();
    struct tl *t = tl_new();
    CHECK_EQ(udp_bind(&t->c, 7), 0);
    CHECK_EQ(udp_bind(&t->c, 9), 0);
    uint8_t f[1600];
    for (unsigned long i = 0; i < frames; i++) {
        unsigned s = (unsigned)(rnd() % nseeds);
        memcpy(f, seeds[s], seed_len[s]);
        uint32_t len = seed_len[s];
        if (rnd() % 16) /* 1 in 16 goes through unmutated: keeps valid state moving */
            len = mutate(f, len);
        t->tx_full = rnd() % 64 == 0;
        tl_events_reset(t);
        tl_inject(t, f, len);
        app(t, 1);
        if (i % 1000 == 0) {
            tl_now_us += rnd() % 2000000; /* up to 2 s: ARP retries/expiry, TCP timers */
            tl_events_reset(t);
            net_poll_timers(&t->c);
            app(t, 0);
        }
        if (mbuf_pool_in_use(&t->pool) > TL_POOL_MBUFS / 2) {
            fprintf(stderr, "FAIL: %u mbufs in use after %lu frames (leak)\n",
                    mbuf_pool_in_use(&t->pool), i);
            return 1;
        }
    }
    /* Drain: let every timer expire (ARP, TCP retransmission/TIME_WAIT). */
    t->tx_full = 0;
    for (int i = 0; i < 2000; i++) {
        tl_now_us += 1000000;
        tl_events_reset(t);
        net_poll_timers(&t->c);
        app(t, 0);
    }
    CHECK_EQ(tcp_conns_in_use(&t->c), 0);
    fprintf(stderr, "fuzz: %lu frames, rx %llu, tx %llu, udp_rx %llu, icmp %llu, arp replies %llu\n",
            frames, (unsigned long long)t->c.counters.rx_frames, (unsigned long long)t->ntx_total,
            (unsigned long long)t->c.counters.udp_rx, (unsigned long long)t->c.counters.icmp_echo_tx,
            (unsigned long long)t->c.counters.arp_replies_tx);
    tl_free(t);
    return tl_done();
}
