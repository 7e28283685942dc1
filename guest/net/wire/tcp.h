/* TCP header view (RFC 9293 §3.1) at p, options (RFC 9293 MSS, RFC 7323 window scale and
 * timestamps, RFC 2018 SACK-permitted), and 32-bit sequence-space arithmetic.
 *
 * Fields are read and written at constant offsets with the big-endian helpers of net.h,
 * so headers need no alignment. Options parsing is bounds-checked against the header
 * length the segment claims and the bytes actually present; malformed options end the
 * parse (what was parsed before stays valid), as Linux does.
 */
#ifndef IX_NET_WIRE_TCP_H
#define IX_NET_WIRE_TCP_H

#include "../net.h"

#define TCP_HLEN_MIN 20
#define TCP_HLEN_MAX 60

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_MSS 2        /* len 4 */
#define TCP_OPT_WSCALE 3     /* len 3 */
#define TCP_OPT_SACK_OK 4    /* len 2 */
#define TCP_OPT_SACK 5
#define TCP_OPT_TS 8         /* len 10 */

#define TCP_WSCALE_MAX 14    /* RFC 7323 §2.3 */

static inline uint16_t tcp_sport(const uint8_t *p) { return net_get16(p); }
static inline uint16_t tcp_dport(const uint8_t *p) { return net_get16(p + 2); }
static inline uint32_t tcp_seq(const uint8_t *p) { return net_get32(p + 4); }
static inline uint32_t tcp_ack(const uint8_t *p) { return net_get32(p + 8); }
static inline uint32_t tcp_hlen(const uint8_t *p) { return (uint32_t)(p[12] >> 4) * 4; }
static inline uint8_t tcp_flags(const uint8_t *p) { return p[13]; }
static inline uint16_t tcp_win(const uint8_t *p) { return net_get16(p + 14); }
static inline uint16_t tcp_csum(const uint8_t *p) { return net_get16(p + 16); }
static inline uint16_t tcp_urp(const uint8_t *p) { return net_get16(p + 18); }

static inline void tcp_set_csum(uint8_t *p, uint16_t v) { net_put16(p + 16, v); }

/* Write the fixed 20-byte part; hlen includes options (multiple of 4, <= 60). */
static inline void tcp_write(uint8_t *p, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                             uint32_t hlen, uint8_t flags, uint16_t win)
{
    net_put16(p, sport);
    net_put16(p + 2, dport);
    net_put32(p + 4, seq);
    net_put32(p + 8, ack);
    p[12] = (uint8_t)((hlen / 4) << 4);
    p[13] = flags;
    net_put16(p + 14, win);
    net_put16(p + 16, 0);
    net_put16(p + 18, 0);
}

/* ---- options ------------------------------------------------------------------ */

#define TCP_SACK_MAX 4   /* blocks that fit in 40 bytes of options (3 with timestamps) */

struct tcp_opts {
    bool mss_ok, ws_ok, ts_ok, sack_ok;
    uint16_t mss;
    uint8_t ws;          /* clamped to TCP_WSCALE_MAX */
    uint32_t tsval, tsecr;
    uint8_t nsack;       /* SACK blocks present (RFC 2018 §3): [sack_l, sack_r) */
    uint32_t sack_l[TCP_SACK_MAX], sack_r[TCP_SACK_MAX];
};

/* Parse the options of the header at p (avail = bytes present from p). Unknown options
 * are skipped by their length; SACK blocks are parsed (up to TCP_SACK_MAX) but TCP does
 * not use them yet. MSS and window scale count only on SYN segments (RFC 9293 §3.7.1,
 * RFC 7323 §2.2). */
static inline void tcp_parse_opts(const uint8_t *p, uint32_t avail, struct tcp_opts *o)
{
    o->mss_ok = o->ws_ok = o->ts_ok = o->sack_ok = false;
    o->mss = 0;
    o->ws = 0;
    o->tsval = o->tsecr = 0;
    o->nsack = 0;
    uint32_t hlen = tcp_hlen(p);
    if (hlen > avail)
        hlen = avail;
    bool syn = (tcp_flags(p) & TCP_SYN) != 0;
    uint32_t i = TCP_HLEN_MIN;
    while (i < hlen) {
        uint8_t kind = p[i];
        if (kind == TCP_OPT_EOL)
            break;
        if (kind == TCP_OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= hlen)
            break;
        uint8_t len = p[i + 1];
        if (len < 2 || i + len > hlen)
            break;
        switch (kind) {
        case TCP_OPT_MSS:
            if (len == 4 && syn) {
                o->mss_ok = true;
                o->mss = net_get16(p + i + 2);
            }
            break;
        case TCP_OPT_WSCALE:
            if (len == 3 && syn) {
                o->ws_ok = true;
                o->ws = p[i + 2] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : p[i + 2];
            }
            break;
        case TCP_OPT_SACK_OK:
            if (len == 2 && syn)
                o->sack_ok = true;
            break;
        case TCP_OPT_SACK:
            if (len >= 10 && (len - 2) % 8 == 0) {
                for (uint32_t b = 0; b < (uint32_t)(len - 2) / 8 && o->nsack < TCP_SACK_MAX; b++) {
                    o->sack_l[o->nsack] = net_get32(p + i + 2 + 8 * b);
                    o->sack_r[o->nsack] = net_get32(p + i + 6 + 8 * b);
                    o->nsack++;
                }
            }
            break;
        case TCP_OPT_TS:
            if (len == 10) {
                o->ts_ok = true;
                o->tsval = net_get32(p + i + 2);
                o->tsecr = net_get32(p + i + 6);
            }
            break;
        default:
            break;
        }
        i += len;
    }
}

/* Option emitters: each writes a 4-byte-aligned block (NOP padded, as Linux lays them out)
 * and returns the bytes written. */
static inline uint32_t tcp_put_opt_mss(uint8_t *p, uint16_t mss)
{
    p[0] = TCP_OPT_MSS;
    p[1] = 4;
    net_put16(p + 2, mss);
    return 4;
}
static inline uint32_t tcp_put_opt_wscale(uint8_t *p, uint8_t ws)
{
    p[0] = TCP_OPT_NOP;
    p[1] = TCP_OPT_WSCALE;
    p[2] = 3;
    p[3] = ws;
    return 4;
}
static inline uint32_t tcp_put_opt_ts(uint8_t *p, uint32_t tsval, uint32_t tsecr)
{
    p[0] = TCP_OPT_NOP;
    p[1] = TCP_OPT_NOP;
    p[2] = TCP_OPT_TS;
    p[3] = 10;
    net_put32(p + 4, tsval);
    net_put32(p + 8, tsecr);
    return 12;
}
static inline uint32_t tcp_put_opt_sack_ok(uint8_t *p)
{
    p[0] = TCP_OPT_NOP;
    p[1] = TCP_OPT_NOP;
    p[2] = TCP_OPT_SACK_OK;
    p[3] = 2;
    return 4;
}
/* n SACK blocks [l[i], r[i]) (1 <= n <= TCP_SACK_MAX): 4 + 8n bytes. */
static inline uint32_t tcp_put_opt_sack(uint8_t *p, const uint32_t *l, const uint32_t *r, uint32_t n)
{
    p[0] = TCP_OPT_NOP;
    p[1] = TCP_OPT_NOP;
    p[2] = TCP_OPT_SACK;
    p[3] = (uint8_t)(2 + 8 * n);
    for (uint32_t i = 0; i < n; i++) {
        net_put32(p + 4 + 8 * i, l[i]);
        net_put32(p + 8 + 8 * i, r[i]);
    }
    return 4 + 8 * n;
}

/* ---- sequence arithmetic (RFC 9293 §3.4): modulo 2^32, valid for distances < 2^31 -- */

static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_leq(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_geq(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t seq_max(uint32_t a, uint32_t b) { return seq_gt(a, b) ? a : b; }
static inline uint32_t seq_min(uint32_t a, uint32_t b) { return seq_lt(a, b) ? a : b; }
/* a <= x < b */
static inline bool seq_between(uint32_t x, uint32_t a, uint32_t b) { return seq_leq(a, x) && seq_lt(x, b); }

#endif
