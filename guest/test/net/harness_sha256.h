/* SHA-256 (FIPS 180-4) for the harness's TCP sink: hashes each received stream so tests can
 * compare it with what Linux sent. Host-side test code only (not part of the stack). */
#ifndef IX_TEST_NET_HARNESS_SHA256_H
#define IX_TEST_NET_HARNESS_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct h_sha256 {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t buf[64];
    uint32_t nbuf;
};

void h_sha256_init(struct h_sha256 *s);
void h_sha256_update(struct h_sha256 *s, const void *data, size_t len);
void h_sha256_final(struct h_sha256 *s, char hex[65]); /* lowercase hex, NUL-terminated */

#endif
