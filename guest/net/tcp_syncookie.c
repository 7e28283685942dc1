/* SYN cookie encoding and validation (layout and reasoning in tcp_syncookie.h). */
#include "tcp_syncookie.h"

/* MSS values worth telling apart: the IPv4 minimum default, common tunnel/PPPoE/VPN paths,
 * Ethernet, and jumbo frames. A peer's MSS is rounded down to one of these. */
static const uint16_t cookie_mss[8] = {536, 1200, 1360, 1400, 1440, 1460, 4312, 8960};

static uint64_t cookie_mac(const struct siphash_key *key, const struct tcp_cookie_tuple *t, uint32_t irs,
                           uint64_t slot, uint32_t low8)
{
    uint64_t w[4] = {
        ((uint64_t)t->laddr << 32) | t->raddr,
        ((uint64_t)t->lport << 48) | ((uint64_t)t->rport << 32) | irs,
        slot,
        low8,
    };
    return siphash24(key, w, 4) >> 42; /* 22 bits */
}

uint32_t tcp_cookie_make(const struct siphash_key *key, const struct tcp_cookie_tuple *t, uint32_t irs,
                         const struct tcp_cookie_opts *o, uint64_t now_us)
{
    uint32_t peer = o->mss ? o->mss : 536u;
    uint32_t mi = 0;
    for (uint32_t i = 0; i < 8; i++)
        if (cookie_mss[i] <= peer)
            mi = i;
    uint32_t ws = o->ws > 14 ? TCP_COOKIE_NO_WS : o->ws;
    uint32_t low8 = (mi << 5) | (ws << 1) | (o->sack ? 1u : 0u);
    uint64_t slot = now_us / TCP_COOKIE_SLOT_US;
    uint32_t mac = (uint32_t)cookie_mac(key, t, irs, slot, low8);
    return (mac << 10) | ((uint32_t)(slot & 3u) << 8) | low8;
}

bool tcp_cookie_check(const struct siphash_key *key, const struct tcp_cookie_tuple *t, uint32_t irs,
                      uint32_t cookie, uint64_t now_us, struct tcp_cookie_opts *o)
{
    uint64_t now_slot = now_us / TCP_COOKIE_SLOT_US;
    uint64_t age = (now_slot - ((cookie >> 8) & 3u)) & 3u; /* slots since the cookie's */
    if (age > 1 || age > now_slot)
        return false; /* older than the previous slot (or from "before boot") */
    uint64_t slot = now_slot - age;
    uint32_t low8 = cookie & 0xffu;
    if ((uint32_t)cookie_mac(key, t, irs, slot, low8) != cookie >> 10)
        return false;
    o->mss = cookie_mss[low8 >> 5];
    o->ws = (uint8_t)((low8 >> 1) & 0xfu);
    o->sack = (low8 & 1u) != 0;
    return true;
}
