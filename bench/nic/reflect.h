/* reflect.h: what the NIC bench's reflectors (reflector.c on a TAP, veth_reflector.c on an
 * AF_PACKET socket) share: turning a frame into its reply in place, and the spin loop. */
#ifndef IX_BENCH_REFLECT_H
#define IX_BENCH_REFLECT_H
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static inline void reflect_swap(uint8_t *a, uint8_t *b, int n)
{
    for (int i = 0; i < n; i++) {
        uint8_t t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

/* Ethernet and IPv4 addresses swapped, and TCP/UDP ports (checksums stay valid: a swap keeps
 * the sum). Returns 1 when the frame is IPv4 and was turned around, 0 when it is to be left alone. */
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
static volatile sig_atomic_t reflect_stop;
static void reflect_on_term(int s) { (void)s; reflect_stop = 1; }

/* Prints "ready", then spins: turn(fd, buf, cap) reads one frame without blocking and returns
 * <0 when there was none, 0 when it is not to be answered, else the length to write back on fd.
 * Stops on SIGTERM/SIGINT or after `seconds`, then prints {"frames":N}. */
static inline int reflect_spin(int fd, int seconds, ssize_t (*turn)(int fd, uint8_t *buf, size_t cap))
{
    signal(SIGTERM, reflect_on_term);
    signal(SIGINT, reflect_on_term);
    printf("ready\n");
    fflush(stdout);
    time_t end = time(NULL) + seconds;
    uint8_t buf[2048];
    long frames = 0;
    unsigned spins = 0;
    while (!reflect_stop) {
        ssize_t n = turn(fd, buf, sizeof buf);
        if (n < 0) {
            if ((++spins & 0xfffff) == 0 && time(NULL) >= end)
                break;
            continue;
        }
        if (n > 0 && write(fd, buf, (size_t)n) == n)
            frames++;
    }
    printf("{\"frames\":%ld}\n", frames);
    return 0;
}
#endif
