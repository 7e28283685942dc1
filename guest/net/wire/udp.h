/* UDP header view (RFC 768) at p: 8 bytes. A checksum of 0 means "none" on receive; on send
 * a computed 0 is sent as 0xffff. */
#ifndef IX_NET_WIRE_UDP_H
#define IX_NET_WIRE_UDP_H

#include "../net.h"

#define UDP_HLEN 8

static inline uint16_t udp_sport(const uint8_t *p) { return net_get16(p + 0); }
static inline uint16_t udp_dport(const uint8_t *p) { return net_get16(p + 2); }
static inline uint16_t udp_len(const uint8_t *p) { return net_get16(p + 4); }
static inline uint16_t udp_csum(const uint8_t *p) { return net_get16(p + 6); }

static inline void udp_set_csum(uint8_t *p, uint16_t v) { net_put16(p + 6, v); }
static inline void udp_write(uint8_t *p, uint16_t sport, uint16_t dport, uint16_t len)
{
    net_put16(p + 0, sport);
    net_put16(p + 2, dport);
    net_put16(p + 4, len);
    net_put16(p + 6, 0);
}

#endif
