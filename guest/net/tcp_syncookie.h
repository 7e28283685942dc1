/* SYN cookies (RFC 4987 §3.6): when a listener's half-open bound is reached, the SYN-ACK's
 * sequence number carries what the connection needs and the SYN is forgotten; the peer's
 * ACK (ack - 1 = our ISS) brings it back. Pure functions of (key, 4-tuple, peer ISN, time),
 * no stack state, so they are unit-tested alone.
 *
 * The 32-bit cookie:
 *   bits 31..10  22-bit MAC: SipHash-2-4(key, 4-tuple, peer ISN, full time slot, bits 7..0)
 *   bits  9..8   time slot mod 4 (a slot is 64 s; a cookie is valid in its slot and the next)
 *   bits  7..5   MSS index into tcp_cookie_mss[] (the largest entry <= the peer's MSS)
 *   bits  4..1   the peer's window scale shift 0..14; 15 = the peer sent no window scale
 *   bit   0      the peer sent SACK-permitted
 * Timestamps need no bit: we echo the option in the SYN-ACK only when the SYN had it, and a
 * peer sends timestamps afterwards only when both SYNs did (RFC 7323 §3.2), so the ACK itself
 * says whether they are on. A forged ACK guesses 22 MAC bits: 1 in 4 million per try. */
#ifndef IX_NET_TCP_SYNCOOKIE_H
#define IX_NET_TCP_SYNCOOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "siphash.h"

#define TCP_COOKIE_SLOT_US (64ull * 1000000ull)
#define TCP_COOKIE_NO_WS 15u

/* What a cookie carries: the peer's SYN options that shape the connection. */
struct tcp_cookie_opts {
    uint16_t mss;     /* encoded: rounded down to an entry of the MSS table */
    uint8_t ws;       /* peer's shift, or TCP_COOKIE_NO_WS */
    bool sack;
};

struct tcp_cookie_tuple {
    uint32_t laddr, raddr;
    uint16_t lport, rport;
};

/* The cookie (our ISS) for a SYN with peer ISN irs, at time now_us. peer_mss = 0 when the
 * SYN had no MSS option (536 assumed, RFC 9293 §3.7.1). */
uint32_t tcp_cookie_make(const struct siphash_key *key, const struct tcp_cookie_tuple *t, uint32_t irs,
                         const struct tcp_cookie_opts *o, uint64_t now_us);

/* Check an ACK's cookie (= ack - 1; irs = seq - 1). True and *o filled when the MAC matches
 * and the cookie is from the current or the previous time slot. */
bool tcp_cookie_check(const struct siphash_key *key, const struct tcp_cookie_tuple *t, uint32_t irs,
                      uint32_t cookie, uint64_t now_us, struct tcp_cookie_opts *o);

#endif
