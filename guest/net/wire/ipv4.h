/* IPv4 header view (RFC 791) at p. ihl is in 32-bit words; the header is 4*ihl bytes. */
#ifndef IX_NET_WIRE_IPV4_H
#define IX_NET_WIRE_IPV4_H

#include "../net.h"

#define IPV4_HLEN_MIN 20
#define IPV4_FLAG_DF 0x4000
#define IPV4_FLAG_MF 0x2000
#define IPV4_FRAG_OFF_MASK 0x1fff

static inline uint8_t ipv4_version(const uint8_t *p) { return p[0] >> 4; }
static inline uint32_t ipv4_hlen(const uint8_t *p) { return (uint32_t)(p[0] & 0x0f) * 4; }
static inline uint8_t ipv4_tos(const uint8_t *p) { return p[1]; }
static inline uint16_t ipv4_total_len(const uint8_t *p) { return net_get16(p + 2); }
static inline uint16_t ipv4_id(const uint8_t *p) { return net_get16(p + 4); }
static inline uint16_t ipv4_frag(const uint8_t *p) { return net_get16(p + 6); }  /* flags|offset */
static inline uint8_t ipv4_ttl(const uint8_t *p) { return p[8]; }
static inline uint8_t ipv4_proto(const uint8_t *p) { return p[9]; }
static inline uint16_t ipv4_csum(const uint8_t *p) { return net_get16(p + 10); }
static inline uint32_t ipv4_src(const uint8_t *p) { return net_get32(p + 12); }
static inline uint32_t ipv4_dst(const uint8_t *p) { return net_get32(p + 16); }

/* A fragment is any packet with MF set or a non-zero offset. */
static inline bool ipv4_is_fragment(const uint8_t *p)
{
    return (ipv4_frag(p) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK)) != 0;
}

static inline void ipv4_set_csum(uint8_t *p, uint16_t v) { net_put16(p + 10, v); }
static inline void ipv4_set_ttl(uint8_t *p, uint8_t v) { p[8] = v; }

/* Write a 20-byte header without options, checksum 0 (fill with ipv4_set_csum). */
static inline void ipv4_write(uint8_t *p, uint16_t total_len, uint16_t id, uint8_t ttl,
                              uint8_t proto, uint32_t src, uint32_t dst)
{
    p[0] = 0x45;
    p[1] = 0;
    net_put16(p + 2, total_len);
    net_put16(p + 4, id);
    net_put16(p + 6, IPV4_FLAG_DF);
    p[8] = ttl;
    p[9] = proto;
    net_put16(p + 10, 0);
    net_put32(p + 12, src);
    net_put32(p + 16, dst);
}

#endif
