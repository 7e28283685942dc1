#include "rss.h"

/* The Toeplitz hash (Microsoft RSS): for every set bit of the input, XOR in the 32-bit
 * window of the key that starts at that bit position. */
static uint32_t toeplitz(const uint8_t *key, const uint8_t *in, unsigned n)
{
    uint32_t h = 0;
    uint32_t win = ((uint32_t)key[0] << 24) | ((uint32_t)key[1] << 16) | ((uint32_t)key[2] << 8) | key[3];
    for (unsigned i = 0; i < n; i++) {
        uint8_t next = i + 4 < NET_RSS_KEY_LEN ? key[i + 4] : 0;
        for (int b = 7; b >= 0; b--) {
            if (in[i] & (1u << b))
                h ^= win;
            win = (win << 1) | ((next >> b) & 1u);
        }
    }
    return h;
}

uint32_t rss_hash(const uint8_t key[NET_RSS_KEY_LEN], uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport)
{
    uint8_t in[12] = {
        (uint8_t)(saddr >> 24), (uint8_t)(saddr >> 16), (uint8_t)(saddr >> 8), (uint8_t)saddr,
        (uint8_t)(daddr >> 24), (uint8_t)(daddr >> 16), (uint8_t)(daddr >> 8), (uint8_t)daddr,
        (uint8_t)(sport >> 8),  (uint8_t)sport,         (uint8_t)(dport >> 8), (uint8_t)dport,
    };
    return toeplitz(key, in, sizeof in);
}

bool rss_flow_is_mine(const struct net_rss *r, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
    if (r->reta_size == 0)
        return true;
    /* replies travel from the peer to us: source = remote, destination = local */
    uint32_t h = rss_hash(r->key, raddr, laddr, rport, lport);
    return r->reta[h & (r->reta_size - 1)] == r->queue;
}
