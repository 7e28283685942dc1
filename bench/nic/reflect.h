/* reflect.h: turn a received Ethernet frame into its reply in place, for the NIC bench's
 * reflectors (reflector.c on a TAP, veth_reflector.c on an AF_PACKET socket): Ethernet and
 * IPv4 addresses swapped, and TCP/UDP ports (checksums stay valid: a swap keeps the sum).
 * Returns 1 when the frame is IPv4 and was turned around, 0 when it is to be left alone. */
#ifndef IX_BENCH_REFLECT_H
#define IX_BENCH_REFLECT_H
#include <stddef.h>
#include <stdint.h>

static inline void reflect_swap(uint8_t *a, uint8_t *b, int n)
{
    for (int i = 0; i < n; i++) {
        uint8_t t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

static inline int reflect_frame(uint8_t *f, size_t len)
{
    if (len < 34 || f[12] != 0x08 || f[13] != 0x00)
        return 0;
    reflect_swap(f, f + 6, 6);
    uint8_t *ip = f + 14;
    reflect_swap(ip + 12, ip + 16, 4);
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    if ((ip[9] == 6 || ip[9] == 17) && 14 + ihl + 4 <= len)
        reflect_swap(ip + ihl, ip + ihl + 2, 2);
    return 1;
}
#endif
