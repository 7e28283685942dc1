/* Internet checksum (RFC 1071) helpers. Sums are kept as 32-bit accumulators of 16-bit
 * big-endian words and folded at the end, so slices (header mbuf + app iov slices) can be
 * summed separately: csum_partial handles odd lengths only at the END of a slice, so
 * callers summing several slices must use csum_partial_at() for slices that start at an
 * odd offset of the whole. */
#ifndef IX_NET_CSUM_H
#define IX_NET_CSUM_H

#include "net.h"

/* ones-complement sum of buf (as big-endian 16-bit words, odd tail padded with 0) + sum */
uint32_t csum_partial(const void *buf, uint32_t len, uint32_t sum);
/* Same, for a slice that starts at byte offset `off` of the checksummed whole (if off is
 * odd, the bytes are swapped into the other half of the words). */
uint32_t csum_partial_at(const void *buf, uint32_t len, uint32_t sum, uint32_t off);
/* fold to 16 bits and complement: the value to store (host order; store with net_put16) */
uint16_t csum_fold(uint32_t sum);
/* the IPv4 pseudo header sum; addresses in host order, len = L4 length */
uint32_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len);

#endif
