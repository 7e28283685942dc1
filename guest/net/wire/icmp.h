/* ICMP header view (RFC 792) at p: type, code, checksum, then for echo: id and sequence. */
#ifndef IX_NET_WIRE_ICMP_H
#define IX_NET_WIRE_ICMP_H

#include "../net.h"

#define ICMP_HLEN 8
#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO_REQUEST 8

static inline uint8_t icmp_type(const uint8_t *p) { return p[0]; }
static inline uint8_t icmp_code(const uint8_t *p) { return p[1]; }
static inline uint16_t icmp_csum(const uint8_t *p) { return net_get16(p + 2); }
static inline uint16_t icmp_echo_id(const uint8_t *p) { return net_get16(p + 4); }
static inline uint16_t icmp_echo_seq(const uint8_t *p) { return net_get16(p + 6); }

static inline void icmp_set_type(uint8_t *p, uint8_t t) { p[0] = t; }
static inline void icmp_set_code(uint8_t *p, uint8_t c) { p[1] = c; }
static inline void icmp_set_csum(uint8_t *p, uint16_t v) { net_put16(p + 2, v); }
static inline void icmp_set_echo(uint8_t *p, uint16_t id, uint16_t seq)
{
    net_put16(p + 4, id);
    net_put16(p + 6, seq);
}

#endif
