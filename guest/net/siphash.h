/* SipHash-2-4 (Aumasson & Bernstein, 2012) over whole 64-bit words: the keyed hash behind
 * our initial sequence numbers (RFC 6528's F) and SYN cookies (tcp_syncookie.c). A keyed
 * PRF, unlike a multiplicative mix, does not let an observer of a few ISNs or cookies
 * recover the secret or predict the next value for another 4-tuple. */
#ifndef IX_NET_SIPHASH_H
#define IX_NET_SIPHASH_H

#include <stdint.h>

struct siphash_key {
    uint64_t k0, k1;
};

/* SipHash-2-4 of the n words w[0..n-1], each taken as 8 little-endian bytes (so the value
 * equals the reference SipHash of those 8n bytes on a little-endian machine). */
uint64_t siphash24(const struct siphash_key *key, const uint64_t *w, unsigned n);

#endif
