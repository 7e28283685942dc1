/* Internet checksum (RFC 1071). Words are summed as big-endian 16-bit values into a 32-bit
 * accumulator; carries are folded in csum_fold. Lengths here are at most 64 KiB per slice,
 * so 32 bits plus an intermediate fold per slice cannot overflow. */
#include "csum.h"

static uint32_t fold32(uint64_t s)
{
    while (s >> 32)
        s = (s & 0xffffffffu) + (s >> 32);
    return (uint32_t)s;
}

uint32_t csum_partial(const void *buf, uint32_t len, uint32_t sum)
{
    const uint8_t *p = buf;
    uint64_t s = sum;
    while (len >= 2) {
        s += (uint32_t)((p[0] << 8) | p[1]);
        p += 2;
        len -= 2;
    }
    if (len)
        s += (uint32_t)p[0] << 8;
    return fold32(s);
}

uint32_t csum_partial_at(const void *buf, uint32_t len, uint32_t sum, uint32_t off)
{
    if (!(off & 1))
        return csum_partial(buf, len, sum);
    /* A slice starting at an odd offset: its first byte is the low half of a word. Summing
     * it as if aligned and byte-swapping the result is equivalent (RFC 1071 §2(B)). */
    uint32_t s = csum_partial(buf, len, 0);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    uint32_t swapped = ((s & 0xff) << 8) | ((s >> 8) & 0xff);
    return fold32((uint64_t)sum + swapped);
}

uint16_t csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

uint32_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len)
{
    uint64_t s = (uint64_t)(src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto +
                 (len >> 16) + (len & 0xffff);
    return fold32(s);
}
