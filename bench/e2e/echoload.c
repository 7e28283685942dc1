/* echoload: the load client of the end-to-end echo benchmark. Opens N TCP connections to an
 * echo server, keeps exactly one SIZE-byte message in flight on each for a fixed time, checks
 * every echoed byte, and reports round trips per second and round-trip latency percentiles
 * as one JSON line. The same binary and flags drive the dataplane and the Linux server.
 *
 *   echoload -a ADDR -p PORT [-c CONNS] [-s SIZE] [-d SECONDS] [-w WARMUP] [-b] [-n]
 *     -c  connections (default 1)          -s  message bytes (default 64, 1..4096)
 *     -d  measured seconds (default 5)     -w  warm-up seconds, not counted (default 0.5)
 *     -b  busy-poll: epoll_wait with timeout 0 instead of sleeping
 *     -n  connection setup: one connection at a time, each connects, echoes one message and
 *         closes (with RST, SO_LINGER 0, so the client leaves no TIME_WAIT and never runs out
 *         of ports); "round trips" are then whole connections, the latencies connect + echo
 *
 * Exit status 0 when the run completed with every connection open and no corrupt echo. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 4096
#define MAX_CONNS 65536
/* latency histogram: 100 ns buckets up to 50 ms, then one overflow bucket */
#define HIST_NS 100
#define HIST_BUCKETS 500000

struct conn {
    int fd;
    int id;
    uint32_t seq;
    size_t got;
    uint64_t sent_ns;
    unsigned char rx[MAX_SIZE];
};

static uint32_t hist[HIST_BUCKETS + 1];
static uint64_t max_ns;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The expected bytes of message `seq` on connection `id`: a cheap pattern that differs per
 * connection and per message, so a reply delivered to the wrong connection or a stale
 * message is caught. */
static unsigned char pat(int id, uint32_t seq, size_t i)
{
    return (unsigned char)((uint32_t)id * 131u + seq * 31u + (uint32_t)i * 7u);
}

static void fill(unsigned char *b, size_t size, int id, uint32_t seq)
{
    for (size_t i = 0; i < size; i++)
        b[i] = pat(id, seq, i);
}

static double pct(uint64_t total, double p)
{
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(p * (double)total);
    if (want >= total)
        want = total - 1;
    uint64_t acc = 0;
    for (int b = 0; b <= HIST_BUCKETS; b++) {
        acc += hist[b];
        if (acc > want)
            return b == HIST_BUCKETS ? (double)max_ns / 1000.0 : (b + 0.5) * HIST_NS / 1000.0;
    }
    return (double)max_ns / 1000.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: echoload -a ADDR -p PORT [-c CONNS] [-s SIZE] [-d SECONDS] [-w WARMUP] [-b] [-n]\n");
    exit(2);
}

static void record(uint64_t d)
{
    uint64_t b = d / HIST_NS;
    hist[b < HIST_BUCKETS ? b : HIST_BUCKETS]++;
    if (d > max_ns)
        max_ns = d;
}

static void report(int nconns, size_t size, double measured, uint64_t counted, uint64_t errors, uint64_t corrupt,
                   int open_conns)
{
    printf("{\"conns\":%d,\"size\":%zu,\"seconds\":%.3f,\"round_trips\":%llu,\"rps\":%.1f,"
           "\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,"
           "\"errors\":%llu,\"corrupt\":%llu,\"open\":%d}\n",
           nconns, size, measured, (unsigned long long)counted, (double)counted / measured, pct(counted, 0.50),
           pct(counted, 0.90), pct(counted, 0.99), pct(counted, 0.999), (double)max_ns / 1000.0,
           (unsigned long long)errors, (unsigned long long)corrupt, open_conns);
}

/* -n: connect, echo one message, close, again; one connection at a time (the setup rate of
 * one client, not of a crowd). A failed connection is an error, and the run goes on. */
static int connect_mode(const struct sockaddr_in *sa, size_t size, double secs, double warm)
{
    unsigned char tx[MAX_SIZE], rx[MAX_SIZE];
    uint64_t t_count = now_ns() + (uint64_t)(warm * 1e9);
    uint64_t t_end = t_count + (uint64_t)(secs * 1e9);
    uint64_t counted = 0, corrupt = 0, errors = 0, t = now_ns();
    for (uint32_t seq = 0; t < t_end; seq++) {
        uint64_t t0 = now_ns();
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            perror("socket");
            return 1;
        }
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        size_t got = 0;
        fill(tx, size, 0, seq);
        if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 && write(fd, tx, size) == (ssize_t)size) {
            ssize_t r = 1;
            while (got < size && (r = read(fd, rx + got, size - got)) > 0)
                got += (size_t)r;
        }
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
        t = now_ns();
        if (got < size) {
            if (errors++ < 5)
                fprintf(stderr, "echoload: connection %u failed (%s)\n", seq, strerror(errno));
            continue;
        }
        if (memcmp(rx, tx, size) != 0)
            corrupt++;
        if (t0 >= t_count && t <= t_end) {
            record(t - t0);
            counted++;
        }
    }
    double measured = (double)(t - t_count) / 1e9;
    report(1, size, measured > 0 ? measured : secs, counted, errors, corrupt, 1);
    return 0;
}

int main(int argc, char **argv)
{
    const char *addr = NULL;
    int port = 0, nconns = 1, busy = 0, setup = 0;
    size_t size = 64;
    double secs = 5, warm = 0.5;
    int o;
    while ((o = getopt(argc, argv, "a:p:c:s:d:w:bn")) != -1) {
        switch (o) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 's': size = (size_t)atoi(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'b': busy = 1; break;
        case 'n': setup = 1; break;
        default: usage();
        }
    }
    if (!addr || port <= 0 || port > 65535 || nconns < 1 || nconns > MAX_CONNS || size < 1 || size > MAX_SIZE ||
        !(secs > 0 && secs <= 600) || !(warm >= 0 && warm <= 60))
        usage();
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        usage();
    if (setup)
        return connect_mode(&sa, size, secs, warm);
    int ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (ep < 0 || !conns) {
        perror("setup");
        return 1;
    }

    /* Connect one at a time (blocking connect, then non-blocking): a few hundred connections
     * take milliseconds, and the server's accept backlog never overflows. */
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->id = i;
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0) {
            perror("socket");
            return 1;
        }
        struct timeval tv = {.tv_sec = 5};
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            fprintf(stderr, "echoload: connection %d to %s:%d: %s\n", i, addr, port, strerror(errno));
            return 1;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0) {
            perror("fcntl O_NONBLOCK");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            perror("epoll_ctl");
            return 1;
        }
    }

    unsigned char tx[MAX_SIZE];
    uint64_t start = now_ns();
    uint64_t t_count = start + (uint64_t)(warm * 1e9);
    uint64_t t_end = t_count + (uint64_t)(secs * 1e9);
    uint64_t counted = 0, corrupt = 0, errors = 0;
    int open_conns = nconns;

    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        fill(tx, size, c->id, c->seq);
        c->sent_ns = now_ns();
        if (write(c->fd, tx, size) != (ssize_t)size) {
            fprintf(stderr, "echoload: first send on connection %d failed\n", i);
            return 1;
        }
    }

    struct epoll_event evs[256];
    uint64_t t = now_ns();
    while (t < t_end && open_conns > 0) {
        int n = epoll_wait(ep, evs, 256, busy ? 0 : 10);
        t = now_ns();
        for (int e = 0; e < n; e++) {
            struct conn *c = evs[e].data.ptr;
            if (c->fd < 0)
                continue;
            ssize_t r = read(c->fd, c->rx + c->got, size - c->got);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                fprintf(stderr, "echoload: connection %d closed by the server (%s)\n", c->id, r == 0 ? "EOF" : strerror(errno));
                errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                open_conns--;
                continue;
            }
            c->got += (size_t)r;
            if (c->got < size)
                continue;
            for (size_t i = 0; i < size; i++)
                if (c->rx[i] != pat(c->id, c->seq, i)) {
                    corrupt++;
                    break;
                }
            if (c->sent_ns >= t_count && t <= t_end) {
                record(t - c->sent_ns);
                counted++;
            }
            c->got = 0;
            c->seq++;
            fill(tx, size, c->id, c->seq);
            c->sent_ns = now_ns();
            ssize_t w = write(c->fd, tx, size);
            if (w != (ssize_t)size) {
                /* one small message in flight never fills a socket buffer: this is an error */
                fprintf(stderr, "echoload: send on connection %d: %s\n", c->id, w < 0 ? strerror(errno) : "short write");
                errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                open_conns--;
            }
        }
    }
    double measured = (double)(t - t_count) / 1e9;
    if (measured <= 0)
        measured = secs;
    report(nconns, size, measured, counted, errors, corrupt, open_conns);
    for (int i = 0; i < nconns; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    return errors || corrupt || open_conns != nconns ? 1 : 0;
}
