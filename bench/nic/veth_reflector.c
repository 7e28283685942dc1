/* veth_reflector: the C ceiling for the NIC bench's veth configurations (the XDP backend's
 * path). An AF_PACKET socket bound to IFNAME takes every IPv4 frame addressed to ADDRESS (an
 * address Linux does not own, so its own stack only drops the copy it gets) and sends it
 * straight back on the same interface with Ethernet/IPv4 addresses and TCP/UDP ports swapped
 * (reflect.h). Non-blocking receive in a spin loop, one frame per syscall, like reflector.c
 * on its TAP. The peer needs a neighbour entry for ADDRESS (nobody answers ARP for it).
 *
 * usage: veth_reflector IFNAME ADDRESS SECONDS   prints "ready" once bound, runs at most
 * SECONDS (or until SIGTERM/SIGINT), then prints {"frames":N}.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reflect.h"

static struct in_addr want;

/* one frame for ADDRESS (our own replies come back as PACKET_OUTGOING and are skipped) */
static ssize_t turn(int fd, uint8_t *buf, size_t cap)
{
    struct sockaddr_ll from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&from, &fl);
    if (n < 0)
        return -1;
    if (from.sll_pkttype == PACKET_OUTGOING || n < 34 || memcmp(buf + 14 + 16, &want, 4) != 0 || !reflect_frame(buf, (size_t)n))
        return 0;
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: veth_reflector IFNAME ADDRESS SECONDS\n");
        return 2;
    }
    unsigned ifindex = if_nametoindex(argv[1]);
    if (ifindex == 0 || inet_pton(AF_INET, argv[2], &want) != 1) {
        fprintf(stderr, "veth_reflector: no interface %s or bad address %s\n", argv[1], argv[2]);
        return 2;
    }
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IP));
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = (int)ifindex };
    if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        perror("veth_reflector: AF_PACKET socket");
        return 1;
    }
    return reflect_spin(fd, atoi(argv[3]), turn);
}
