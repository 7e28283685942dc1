/* SipHash-2-4 over 64-bit words (see siphash.h). Written from the paper's description:
 * four 64-bit state words, two compression rounds per message word, four finalization
 * rounds; the last block carries the message length in bytes in its top byte. */
#include "siphash.h"

static inline uint64_t rotl(uint64_t x, unsigned b) { return (x << b) | (x >> (64 - b)); }

#define SIPROUND                                                                                  \
    do {                                                                                          \
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);                                  \
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                                     \
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                                     \
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);                                  \
    } while (0)

uint64_t siphash24(const struct siphash_key *key, const uint64_t *w, unsigned n)
{
    uint64_t v0 = key->k0 ^ 0x736f6d6570736575ull;
    uint64_t v1 = key->k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = key->k0 ^ 0x6c7967656e657261ull;
    uint64_t v3 = key->k1 ^ 0x7465646279746573ull;
    for (unsigned i = 0; i < n; i++) {
        v3 ^= w[i];
        SIPROUND;
        SIPROUND;
        v0 ^= w[i];
    }
    /* Whole words only: the final block is just the length byte (8n mod 256) << 56. */
    uint64_t b = (uint64_t)(8u * n & 0xffu) << 56;
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}
