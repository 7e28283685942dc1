/* Host test library for the network stack: a fake clock, a capturing netif, frame builders
 * and leak checks. Linked into every unit test binary (the files named _test.c) (not into the harness).
 *
 * Usage:
 *   struct tl *t = tl_new();               // stack at 10.0.0.2/24, gw 10.0.0.1, mac TL_MAC
 *   tl_inject(t, frame, len);              // copies a frame into an mbuf, calls net_input
 *   t->ntx, t->tx[i].buf / .len            // frames the stack sent (headers + iov slices)
 *   tl_free(t);                            // asserts no mbuf leaked, frees
 */
#ifndef IX_TEST_NET_TESTLIB_H
#define IX_TEST_NET_TESTLIB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../net/core.h"
#include "check.h"

#define TL_POOL_MBUFS 512
#define TL_TX_MAX 64
#define TL_EV_MAX 64
#define TL_MEM (4u << 20)

#define TL_ADDR 0x0a000002u      /* 10.0.0.2 */
#define TL_PEER 0x0a000001u      /* 10.0.0.1, also the gateway */
#define TL_OFFLINK 0xc0a80105u   /* 192.168.1.5 */
extern const uint8_t TL_MAC[6];
extern const uint8_t TL_PEER_MAC[6];

struct tl_frame {
    uint8_t buf[2048];
    uint32_t len;
};

struct tl {
    struct net_core c;
    struct mbuf_pool pool;
    void *pool_mem;
    void *mem;
    struct ix_event ev[TL_EV_MAX];
    struct tl_frame tx[TL_TX_MAX];
    unsigned ntx;          /* captured frames (wraps: only the last TL_TX_MAX are kept) */
    unsigned ntx_total;
    int tx_full;           /* netif_tx returns -1 while set */
    int tx_hold;           /* keep header mbufs instead of completing them (see tl_tx_release) */
    struct mbuf *held[TL_TX_MAX * 4];
    unsigned nheld;
    uintptr_t rx_lo, rx_hi;  /* valid bytes of the last injected frame [lo, hi) */
};

/* Fake monotonic clock used by env_now_us() in tests. */
extern uint64_t tl_now_us;

struct tl *tl_new(void);
struct tl *tl_new_ev(uint32_t ev_cap);  /* smaller event array */
void tl_free(struct tl *t);             /* checks leaks (mbufs in use == 0 after ARP flush) */
void tl_events_reset(struct tl *t);     /* net_events_begin with the full array */
void tl_inject(struct tl *t, const uint8_t *frame, uint32_t len);
void tl_tx_release(struct tl *t);       /* complete every held TX header */
void tl_tx_clear(struct tl *t);
/* Teach the stack the peer's MAC by injecting an ARP request from TL_PEER for TL_ADDR. */
void tl_learn_peer(struct tl *t, uint32_t ip, const uint8_t *mac);

/* Frame builders: write into buf, return total frame length. */
uint32_t tl_eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t type);
uint32_t tl_arp(uint8_t *buf, uint16_t op, const uint8_t *sha, uint32_t spa, const uint8_t *tha,
                uint32_t tpa, const uint8_t *eth_dst);
uint32_t tl_ipv4(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
                 uint32_t l4len);  /* eth to TL_MAC from TL_PEER_MAC; fills the IP checksum */
uint32_t tl_udp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                const void *payload, uint32_t plen);
uint32_t tl_icmp_echo(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t type, uint16_t id,
                      uint16_t seq, const void *payload, uint32_t plen);
uint32_t tl_tcp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                uint32_t seq, uint32_t ack, uint8_t flags, const void *payload, uint32_t plen);

/* Recompute the IPv4 header checksum in place (no-op when the frame has no whole header). */
void tl_fix_ip_csum(uint8_t *f, uint32_t len);

/* Parse a captured frame as Ethernet/IPv4 and verify the IP header checksum and lengths.
 * Returns a pointer to the L4 header (and its length, protocol, addresses), NULL if bad. */
const uint8_t *tl_parse_ipv4(const struct tl_frame *f, uint8_t *proto, uint32_t *src,
                             uint32_t *dst, uint32_t *l4len);
/* Does the L4 checksum (TCP/UDP with pseudo header, ICMP without) verify? */
int tl_l4_csum_ok(uint8_t proto, uint32_t src, uint32_t dst, const uint8_t *l4, uint32_t len);


#endif
