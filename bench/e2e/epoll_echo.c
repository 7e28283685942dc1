/* epoll_echo: the Linux baseline for the end-to-end echo benchmark. A small, ordinary TCP
 * echo server: non-blocking sockets, edge-free (level-triggered) epoll, one event loop per
 * thread, each thread with its own SO_REUSEPORT listener so the kernel spreads connections
 * across threads the way RSS spreads them across dataplane cores.
 *
 *   epoll_echo [-b] PORT [THREADS]
 *     -b        busy-poll: epoll_wait with timeout 0 (spin) instead of sleeping
 *     THREADS   event loops (default 1); pin the process with taskset to choose the CPUs
 *
 * Prints "ready" on stdout once every listener is bound, then serves until killed. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define BUF_SIZE 65536

/* Bytes read but not yet written back (only when the peer stops reading). */
struct conn {
    int fd;
    size_t pend_off, pend_len;
    char *pend;
};

static int port;
static int busy;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int listener(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        die("SO_REUSEPORT");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind");
    if (listen(fd, 4096) < 0)
        die("listen");
    return fd;
}

static void close_conn(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pend);
    free(c);
}

/* Write what is pending; returns 0 when all is out, 1 when the socket is full, -1 on error. */
static int flush_pending(struct conn *c)
{
    while (c->pend_len) {
        ssize_t w = write(c->fd, c->pend + c->pend_off, c->pend_len);
        if (w < 0)
            return errno == EAGAIN ? 1 : -1;
        c->pend_off += (size_t)w;
        c->pend_len -= (size_t)w;
    }
    return 0;
}

static void on_readable(int ep, struct conn *c, char *buf)
{
    if (c->pend_len)
        return; /* the peer is not reading our replies: stop reading until it does */
    for (;;) {
        ssize_t n = read(c->fd, buf, BUF_SIZE);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            close_conn(ep, c);
            return;
        }
        if (n < 0)
            return;
        ssize_t w = write(c->fd, buf, (size_t)n);
        if (w < 0 && errno != EAGAIN) {
            close_conn(ep, c);
            return;
        }
        if (w < 0)
            w = 0;
        if (w < n) {
            /* keep the rest and wait for EPOLLOUT instead of EPOLLIN */
            c->pend = malloc((size_t)(n - w));
            if (!c->pend) {
                close_conn(ep, c);
                return;
            }
            memcpy(c->pend, buf + w, (size_t)(n - w));
            c->pend_off = 0;
            c->pend_len = (size_t)(n - w);
            struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
        if (n < BUF_SIZE)
            return; /* drained (level-triggered: epoll tells us if more arrived) */
    }
}

static void on_writable(int ep, struct conn *c)
{
    int r = flush_pending(c);
    if (r < 0) {
        close_conn(ep, c);
    } else if (r == 0) {
        free(c->pend);
        c->pend = NULL;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static void *loop(void *arg)
{
    int lfd = (int)(long)arg;
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL}; /* NULL marks the listener */
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
        die("epoll_ctl listener");
    char *buf = malloc(BUF_SIZE);
    if (!buf)
        die("malloc");
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, busy ? 0 : -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = calloc(1, sizeof *nc);
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        close(fd);
                        free(nc);
                    }
                }
            } else if (evs[i].events & EPOLLOUT) {
                on_writable(ep, c);
            } else {
                on_readable(ep, c, buf);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int a = 1;
    if (a < argc && strcmp(argv[a], "-b") == 0) {
        busy = 1;
        a++;
    }
    if (a >= argc) {
        fprintf(stderr, "usage: epoll_echo [-b] PORT [THREADS]\n");
        return 2;
    }
    port = atoi(argv[a]);
    int threads = a + 1 < argc ? atoi(argv[a + 1]) : 1;
    if (port <= 0 || port > 65535 || threads < 1 || threads > 64) {
        fprintf(stderr, "epoll_echo: bad port or thread count\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int lfds[64];
    for (int t = 0; t < threads; t++)
        lfds[t] = listener(); /* all bound before "ready", so no connection is refused */
    printf("ready\n");
    fflush(stdout);
    for (int t = 1; t < threads; t++) {
        pthread_t th;
        if (pthread_create(&th, NULL, loop, (void *)(long)lfds[t]) != 0)
            die("pthread_create");
    }
    loop((void *)(long)lfds[0]);
    return 0;
}
