/* ARP packet view (RFC 826) for Ethernet/IPv4: 28 bytes at p (after the Ethernet header). */
#ifndef IX_NET_WIRE_ARP_H
#define IX_NET_WIRE_ARP_H

#include "../net.h"

#define ARP_LEN 28
#define ARP_HTYPE_ETH 1
#define ARP_PTYPE_IPV4 0x0800
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

static inline uint16_t arp_htype(const uint8_t *p) { return net_get16(p + 0); }
static inline uint16_t arp_ptype(const uint8_t *p) { return net_get16(p + 2); }
static inline uint8_t arp_hlen(const uint8_t *p) { return p[4]; }
static inline uint8_t arp_plen(const uint8_t *p) { return p[5]; }
static inline uint16_t arp_op(const uint8_t *p) { return net_get16(p + 6); }
static inline const uint8_t *arp_sha(const uint8_t *p) { return p + 8; }
static inline uint32_t arp_spa(const uint8_t *p) { return net_get32(p + 14); }
static inline const uint8_t *arp_tha(const uint8_t *p) { return p + 18; }
static inline uint32_t arp_tpa(const uint8_t *p) { return net_get32(p + 24); }

/* Is this an Ethernet/IPv4 ARP packet we can parse? */
static inline bool arp_is_eth_ipv4(const uint8_t *p)
{
    return arp_htype(p) == ARP_HTYPE_ETH && arp_ptype(p) == ARP_PTYPE_IPV4 && arp_hlen(p) == 6 &&
           arp_plen(p) == 4;
}

/* Write a whole Ethernet/IPv4 ARP packet. */
static inline void arp_write(uint8_t *p, uint16_t op, const uint8_t *sha, uint32_t spa,
                             const uint8_t *tha, uint32_t tpa)
{
    net_put16(p + 0, ARP_HTYPE_ETH);
    net_put16(p + 2, ARP_PTYPE_IPV4);
    p[4] = 6;
    p[5] = 4;
    net_put16(p + 6, op);
    __builtin_memcpy(p + 8, sha, 6);
    net_put32(p + 14, spa);
    __builtin_memcpy(p + 18, tha, 6);
    net_put32(p + 24, tpa);
}

#endif
