/* TAP device setup for the harness: open (non-persistent: the interface disappears when
 * the fd is closed, so a crashed harness leaves nothing behind) and configure Linux's side. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static void die(const char *what, const char *hint)
{
    fprintf(stderr, "harness: %s: %s%s%s\n", what, strerror(errno), hint ? "; " : "", hint ? hint : "");
    exit(1);
}

int h_tap_open(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        die("open /dev/net/tun", "needs CAP_NET_ADMIN (root) and the tun module");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (strlen(name) >= IFNAMSIZ) {
        fprintf(stderr, "harness: TAP name '%s' longer than %d characters\n", name, IFNAMSIZ - 1);
        exit(2);
    }
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        die("TUNSETIFF", "is the name in use by a persistent device? (ip link del NAME)");
    return fd;
}

void h_tap_config_peer(const char *name, uint32_t addr, uint32_t netmask)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("socket", NULL);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(addr);
    if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
        die("SIOCSIFADDR (peer address on the TAP)", NULL);
    sin->sin_addr.s_addr = htonl(netmask);
    if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
        die("SIOCSIFNETMASK", NULL);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        die("SIOCGIFFLAGS", NULL);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        die("SIOCSIFFLAGS (link up)", NULL);
    close(s);
}
