/* Linux TCP echo server for the RTT benchmark (src/bench/net.ts): the baseline the stack's
 * harness echo is compared with. Blocking sockets, TCP_NODELAY, one connection at a time,
 * echoes until the peer closes; prints "listening" when ready; exits after CONNS connections.
 *   usage: echo_srv ADDR PORT [CONNS (1)] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: echo_srv ADDR PORT [CONNS]\n");
        return 2;
    }
    int conns = argc > 3 ? atoi(argv[3]) : 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "echo_srv: '%s' is not an IPv4 address\n", argv[1]);
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 16) < 0) {
        perror("echo_srv: socket/bind/listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    static char buf[65536];
    for (int k = 0; k < conns; k++) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) {
            perror("echo_srv: accept");
            return 1;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        for (;;) {
            ssize_t n = read(c, buf, sizeof(buf));
            if (n <= 0)
                break;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(c, buf + off, (size_t)(n - off));
                if (w <= 0)
                    break;
                off += w;
            }
        }
        close(c);
    }
    return 0;
}
