/* Common definitions of the network stack (guest/net).
 *
 * Freestanding: only <stdint.h>, <stddef.h>, <stdbool.h> and compiler builtins. Every
 * piece of mutable state hangs off one struct net_core per dataplane core (core.h); there
 * are no globals with mutable state and no locks.
 */
#ifndef IX_NET_NET_H
#define IX_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ix/abi.h>

/* Byte order. The stack keeps addresses and ports in host order everywhere except inside
 * the wire views (the headers under wire/), which convert at the buffer boundary. */
static inline uint16_t net_htons(uint16_t v) { return __builtin_bswap16(v); }
static inline uint16_t net_ntohs(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t net_htonl(uint32_t v) { return __builtin_bswap32(v); }
static inline uint32_t net_ntohl(uint32_t v) { return __builtin_bswap32(v); }

/* Big-endian loads and stores at any alignment (wire formats are big endian, and frames
 * are not aligned for the 32-bit fields of IP/TCP: the Ethernet header is 14 bytes). */
static inline uint16_t net_get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t net_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void net_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void net_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

#define NET_ETH_HLEN 14
#define NET_IP_HLEN 20       /* without options; we never send options */
#define NET_UDP_HLEN 8
#define NET_MTU 1500         /* IP packet size; we never send IP fragments */
#define NET_ETH_MAX_FRAME (NET_ETH_HLEN + NET_MTU)

#define NET_PROTO_ICMP 1
#define NET_PROTO_TCP 6
#define NET_PROTO_UDP 17

struct net_core;
struct mbuf;
struct mbuf_pool;

#endif
