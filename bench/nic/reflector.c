/* reflector: the ceiling for the NIC path. Creates a TAP device (same flags as the backend:
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 12-byte header) in the current network namespace and
 * sends every frame straight back with Ethernet/IPv4 addresses and TCP/UDP ports swapped
 * (checksums stay valid). Non-blocking read in a spin loop, one frame per syscall.
 *
 * usage: reflector TAPNAME SECONDS      prints "ready" once the device exists, runs at most
 * SECONDS, then prints {"frames":N}. The device disappears when the process exits.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "reflect.h"

/* one frame behind its 12-byte virtio-net header, sent back with a zero header */
static ssize_t turn(int fd, uint8_t *buf, size_t cap)
{
    ssize_t n = read(fd, buf, cap);
    if (n < 0)
        return -1;
    if (n < 12 || !reflect_frame(buf + 12, (size_t)(n - 12)))
        return 0;
    buf[0] = buf[1] = 0;
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: reflector TAPNAME SECONDS\n");
        return 2;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", argv[1]);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    int hdr = 12;
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
        perror("reflector: tap");
        return 1;
    }
    return reflect_spin(fd, atoi(argv[2]), turn);
}
