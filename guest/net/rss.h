/* Receive-side scaling, seen from the guest: the host steers every received IPv4 TCP/UDP
 * frame to queue reta[toeplitz(key, src addr, dst addr, src port, dst port) % reta_size]
 * (src/net/toeplitz.ts). A core that opens a connection must pick a local port whose replies
 * hash back to its own queue, or they would land on another core, which has no such
 * connection (IX's flow groups do the same). The key and table come from boot info. */
#ifndef IX_NET_RSS_H
#define IX_NET_RSS_H
#include <stdbool.h>
#include <stdint.h>

#define NET_RSS_KEY_LEN 40
#define NET_RSS_RETA_MAX 512

struct net_rss {
    uint8_t key[NET_RSS_KEY_LEN];
    uint16_t reta[NET_RSS_RETA_MAX];
    uint32_t reta_size; /* a power of two */
    uint16_t queue;     /* this core's queue */
};

/* Toeplitz hash of an IPv4 4-tuple as it appears in a received frame (addresses and ports
 * in host byte order; hashed in network order). */
uint32_t rss_hash(const uint8_t key[NET_RSS_KEY_LEN], uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport);

/* Would the replies of a connection from (laddr, lport) to (raddr, rport) reach this core? */
bool rss_flow_is_mine(const struct net_rss *r, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport);

#endif
