/* kvload: a memcached text-protocol load client for the end-to-end benchmark. Opens N
 * connections, stores KEYS items (printable keys, VALUE-byte values) split among them, then
 * keeps exactly one `get` in flight on each connection for a fixed time, each for a random key
 * among those that connection stored, checks every value, and reports gets per second and
 * latency percentiles as one JSON line. The same binary and flags drive the dataplane's
 * kvstore and Debian's memcached. A connection reads only the keys it wrote because the
 * kvstore shards its store by connection (one partition per core, RSS picks the core; see
 * docs/kvstore.md); memcached does not care.
 *
 * Why not only memaslap: it reports no percentiles (a log2 histogram only), and its run time
 * includes its own key prefill.
 *
 *   kvload -a ADDR -p PORT [-c CONNS] [-k KEYS] [-v VALUE] [-d SECONDS] [-w WARMUP] [-b]
 *     -c connections (default 32)     -k keys stored first (default 10000)
 *     -v value bytes (default 64)     -d measured seconds (default 5)   -w warm-up (0.5)
 *     -b busy-poll (epoll_wait timeout 0)
 *
 * Exit status 0 when every get hit and returned the right value on every open connection. */
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

#define MAX_VALUE 1024
#define RX_MAX (MAX_VALUE + 128)
#define HIST_NS 100
#define HIST_BUCKETS 500000

struct conn {
    int fd;
    uint32_t idx, nkeys; /* this connection's keys: idx + i * nconns, i < nkeys */
    uint32_t key;
    size_t got;
    uint64_t sent_ns;
    char rx[RX_MAX];
};

static uint32_t hist[HIST_BUCKETS + 1];
static uint64_t max_ns;
static size_t vsize = 64;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* value of key i: letters that depend on the key, so a value returned for the wrong key fails */
static void value_of(uint32_t key, char *out)
{
    for (size_t j = 0; j < vsize; j++)
        out[j] = (char)('a' + (key * 7u + (uint32_t)j) % 26u);
}

static int write_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int connect_to(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Store keys idx, idx + stride, idx + 2*stride ... below `keys` over this (still blocking)
 * connection, 64 sets per burst. */
static int preload(int fd, uint32_t idx, uint32_t stride, uint32_t keys)
{
    static char buf[64 * (MAX_VALUE + 64)];
    char val[MAX_VALUE];
    for (uint32_t k = idx; k < keys;) {
        size_t n = 0;
        uint32_t burst = 0;
        for (; burst < 64 && k < keys; burst++, k += stride) {
            value_of(k, val);
            n += (size_t)sprintf(buf + n, "set key:%08u 0 0 %zu\r\n", k, vsize);
            memcpy(buf + n, val, vsize);
            n += vsize;
            buf[n++] = '\r';
            buf[n++] = '\n';
        }
        if (write_all(fd, buf, n) < 0) {
            perror("kvload: preload send");
            return -1;
        }
        /* expect `burst` lines of STORED\r\n */
        size_t want = (size_t)burst * 8, got = 0;
        char in[64 * 8];
        while (got < want) {
            ssize_t r = read(fd, in + got, want - got);
            if (r <= 0) {
                fprintf(stderr, "kvload: preload: the server closed or timed out after %zu bytes of replies\n", got);
                return -1;
            }
            got += (size_t)r;
        }
        for (uint32_t i = 0; i < burst; i++)
            if (memcmp(in + i * 8, "STORED\r\n", 8) != 0) {
                fprintf(stderr, "kvload: preload: unexpected reply: %.*s\n", (int)(want - i * 8 > 60 ? 60 : want - i * 8), in + i * 8);
                return -1;
            }
    }
    return 0;
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

static uint32_t stride;

static int send_get(struct conn *c)
{
    char req[64];
    c->key = c->idx + stride * (rnd() % c->nkeys);
    int n = sprintf(req, "get key:%08u\r\n", c->key);
    c->got = 0;
    c->sent_ns = now_ns();
    return write(c->fd, req, (size_t)n) == n ? 0 : -1;
}

/* 1 = complete and right, 0 = incomplete, -1 = wrong (miss, bad value, or garbage). Values are
 * lower-case letters, so "END\r\n" at the end of what arrived means the reply is complete. */
static int check_reply(struct conn *c)
{
    if (c->got < 5 || memcmp(c->rx + c->got - 5, "END\r\n", 5) != 0)
        return c->got >= RX_MAX ? -1 : 0;
    char hdr[64];
    int hn = sprintf(hdr, "VALUE key:%08u 0 %zu\r\n", c->key, vsize);
    if (c->got != (size_t)hn + vsize + 2 + 5)
        return -1;
    char val[MAX_VALUE];
    value_of(c->key, val);
    if (memcmp(c->rx, hdr, (size_t)hn) != 0 || memcmp(c->rx + hn, val, vsize) != 0 || memcmp(c->rx + hn + vsize, "\r\n", 2) != 0)
        return -1;
    return 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: kvload -a ADDR -p PORT [-c CONNS] [-k KEYS] [-v VALUE] [-d SECONDS] [-w WARMUP] [-b]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *addr = NULL;
    int port = 0, nconns = 32, busy = 0;
    long keys = 10000;
    double secs = 5, warm = 0.5;
    int o;
    while ((o = getopt(argc, argv, "a:p:c:k:v:d:w:b")) != -1) {
        switch (o) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'k': keys = atol(optarg); break;
        case 'v': vsize = (size_t)atol(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'b': busy = 1; break;
        default: usage();
        }
    }
    if (!addr || port <= 0 || port > 65535 || nconns < 1 || nconns > 4096 || keys < 1 || keys > 10000000 || vsize < 1 ||
        vsize > MAX_VALUE || !(secs > 0 && secs <= 600) || !(warm >= 0 && warm <= 60))
        usage();
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        usage();
    if (keys < nconns) {
        fprintf(stderr, "kvload: -k %ld: give at least one key per connection (-c %d)\n", keys, nconns);
        return 2;
    }
    stride = (uint32_t)nconns;

    int ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (ep < 0 || !conns) {
        perror("kvload: setup");
        return 1;
    }
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->fd = connect_to(&sa);
        if (c->fd < 0) {
            fprintf(stderr, "kvload: connection %d to %s:%d: %s\n", i, addr, port, strerror(errno));
            return 1;
        }
        c->idx = (uint32_t)i;
        c->nkeys = (uint32_t)((keys - i + nconns - 1) / nconns);
        if (preload(c->fd, c->idx, stride, (uint32_t)keys) < 0)
            return 1;
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            perror("kvload: epoll_ctl");
            return 1;
        }
    }
    uint64_t t_count = now_ns() + (uint64_t)(warm * 1e9);
    uint64_t t_end = t_count + (uint64_t)(secs * 1e9);
    uint64_t counted = 0, bad = 0, errors = 0;
    int open_conns = nconns;
    for (int i = 0; i < nconns; i++)
        if (send_get(&conns[i]) < 0) {
            fprintf(stderr, "kvload: first get on connection %d failed\n", i);
            return 1;
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
            ssize_t r = read(c->fd, c->rx + c->got, RX_MAX - c->got);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            int ok = r > 0 ? (c->got += (size_t)r, check_reply(c)) : -2;
            if (ok == 0)
                continue;
            if (ok == 1 && c->sent_ns >= t_count && t <= t_end) {
                uint64_t d = t - c->sent_ns;
                uint64_t b = d / HIST_NS;
                hist[b < HIST_BUCKETS ? b : HIST_BUCKETS]++;
                if (d > max_ns)
                    max_ns = d;
                counted++;
            }
            if (ok == -1 && bad++ < 3)
                fprintf(stderr, "kvload: wrong reply to get key:%08u: %.*s\n", c->key, (int)(c->got > 80 ? 80 : c->got), c->rx);
            if (ok < -1 || send_get(c) < 0) {
                if (ok < -1)
                    fprintf(stderr, "kvload: connection %ld closed by the server\n", (long)(c - conns));
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
    printf("{\"conns\":%d,\"size\":%zu,\"keys\":%ld,\"seconds\":%.3f,\"round_trips\":%llu,\"rps\":%.1f,"
           "\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,"
           "\"errors\":%llu,\"corrupt\":%llu,\"open\":%d}\n",
           nconns, vsize, keys, measured, (unsigned long long)counted, (double)counted / measured, pct(counted, 0.50),
           pct(counted, 0.90), pct(counted, 0.99), pct(counted, 0.999), (double)max_ns / 1000.0,
           (unsigned long long)errors, (unsigned long long)bad, open_conns);
    for (int i = 0; i < nconns; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    return errors || bad || open_conns != nconns ? 1 : 0;
}
