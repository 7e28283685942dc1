/* Ethernet II header view: 14 bytes at p. Constant-offset accessors over a byte buffer, no
 * structs cast over (unaligned) packet memory. The caller checks the length first. */
#ifndef IX_NET_WIRE_ETH_H
#define IX_NET_WIRE_ETH_H

#include "../net.h"

#define ETH_HLEN 14
#define ETH_ALEN 6
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_ARP 0x0806

static inline const uint8_t *eth_dst(const uint8_t *p) { return p + 0; }
static inline const uint8_t *eth_src(const uint8_t *p) { return p + 6; }
static inline uint16_t eth_type(const uint8_t *p) { return net_get16(p + 12); }

static inline void eth_set_dst(uint8_t *p, const uint8_t *mac) { __builtin_memcpy(p + 0, mac, 6); }
static inline void eth_set_src(uint8_t *p, const uint8_t *mac) { __builtin_memcpy(p + 6, mac, 6); }
static inline void eth_set_type(uint8_t *p, uint16_t t) { net_put16(p + 12, t); }

static inline bool eth_addr_eq(const uint8_t *a, const uint8_t *b)
{
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}
static inline bool eth_addr_is_bcast(const uint8_t *a)
{
    return (a[0] & a[1] & a[2] & a[3] & a[4] & a[5]) == 0xff;
}
static inline bool eth_addr_is_mcast(const uint8_t *a) { return (a[0] & 1) != 0; }

#endif
