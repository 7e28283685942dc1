/* connload: many concurrent TCP connections against an echo server (docs/scale.md). Opens
 * CONNS connections from NSRC consecutive source addresses (beyond one address's ephemeral
 * ports), keeps every one of them open, and then:
 *   1. verify: every connection echoes one SIZE-byte message, each byte checked;
 *   2. load: for SECONDS, ACTIVE messages stay in flight over a subset that rotates through
 *      all connections (a reply frees its slot for the next connection in turn); round trips
 *      per second and latency percentiles are reported;
 *   3. close: every connection shuts its side, waits for the server's FIN (a clean close,
 *      not a reset) and closes, PARALLEL at a time.
 * One JSON line on stdout; progress and errors on stderr. Every phase is bounded by -t.
 * The connections are spread over worker processes of at most -W connections each (a
 * process's open file limit may be capped below CONNS and not be raisable: no
 * CAP_SYS_RESOURCE in a container); the workers run each phase together (a shared barrier)
 * and their counts and latency histograms are summed.
 *
 *   connload -a ADDR -p PORT -c CONNS -A FIRST_SRC [-k NSRC] [-s SIZE] [-d SECONDS]
 *            [-r ACTIVE] [-P PARALLEL] [-t TIMEOUT_S] [-W PER_WORKER]
 *     -A/-k  source addresses FIRST_SRC, FIRST_SRC+1, ... (NSRC of them, default 1); they
 *            must exist on the client's side (ip addr add)
 *     -s     message bytes (default 32, 1..1024)   -d  load seconds (default 3; 0: no load phase)
 *     -r     messages in flight during the load (default 256)
 *     -P     connects and verify echoes in progress at once (default 512)
 *     -t     bound of each phase in seconds (default 120)
 *     -W     connections per worker process at most (default: the open file limit - 64)
 *
 * Exit status 0 when every connection opened, echoed correctly and closed cleanly. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_SIZE 1024
#define MAX_CONNS (1 << 22)
#define MAX_WORKERS 256
/* latency histogram: 1 us buckets up to 10 ms, 100 us buckets up to 1 s, one overflow */
#define HIST_FINE 10000
#define HIST_BUCKETS (HIST_FINE + 9900)

enum { C_CONNECTING, C_IDLE, C_WAIT_ECHO, C_WAIT_FIN, C_DONE, C_FAILED };

struct conn {
    int fd;
    uint8_t state;
    uint16_t got;    /* echoed bytes of the current message so far */
    uint32_t seq;    /* messages sent on this connection */
    uint64_t sent_ns;
};

/* What every worker adds up, in memory shared with the parent. */
struct totals {
    uint64_t opened, verified, closed, rtts, errors, resets, corrupt;
    uint64_t open_ns, verify_ns, load_ns, close_ns; /* the slowest worker's */
    uint64_t hist[HIST_BUCKETS + 1];
};
struct shared {
    pthread_barrier_t barrier;
    pthread_mutex_t lock;
    struct totals t;
};

static pid_t pids[MAX_WORKERS];
static int nworkers;

/* The parent's bound on the whole run: a worker stuck at a barrier (another one failed
 * before it) must not hang the caller. */
static void on_alarm(int sig)
{
    (void)sig;
    for (int w = 0; w < nworkers; w++)
        if (pids[w] > 0)
            kill(pids[w], SIGKILL);
    static const char m[] = "connload: the run exceeded its time bound; workers killed\n";
    ssize_t r = write(2, m, sizeof(m) - 1);
    (void)r;
    _exit(1);
}

static struct conn *conns; /* this worker's: global id = base + index */
static int base, nconns, size = 32, epfd;
static uint64_t hist[HIST_BUCKETS + 1];
static uint64_t corrupt, errors, resets;

static unsigned bucket(uint64_t ns)
{
    uint64_t us = ns / 1000;
    if (us < HIST_FINE)
        return (unsigned)us;
    us = HIST_FINE + (us - HIST_FINE) / 100;
    return us < HIST_BUCKETS ? (unsigned)us : HIST_BUCKETS;
}

static double bucket_us(unsigned b) { return b < HIST_FINE ? b + 1.0 : HIST_FINE + (b - HIST_FINE + 1) * 100.0; }

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Byte i of message seq on connection id: differs per connection and message, so a reply on
 * the wrong connection or a stale one is caught. */
static unsigned char pat(int id, uint32_t seq, int i)
{
    uint32_t x = (uint32_t)id * 2654435761u ^ seq * 40503u ^ (uint32_t)i * 97u;
    return (unsigned char)(x ^ x >> 13 ^ x >> 21);
}

static void fail(int id, const char *what, int err)
{
    struct conn *c = &conns[id];
    if (c->state == C_FAILED)
        return;
    if (errors < 10)
        fprintf(stderr, "connload: connection %d: %s: %s\n", base + id, what, err ? strerror(err) : "unexpected");
    if (err == ECONNRESET)
        resets++;
    errors++;
    c->state = C_FAILED;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

static int send_msg(int id)
{
    struct conn *c = &conns[id];
    unsigned char m[MAX_SIZE];
    for (int i = 0; i < size; i++)
        m[i] = pat(base + id, c->seq, i);
    ssize_t n = send(c->fd, m, (size_t)size, MSG_NOSIGNAL);
    if (n != size) {
        fail(id, "send", n < 0 ? errno : 0);
        return -1;
    }
    c->got = 0;
    c->state = C_WAIT_ECHO;
    c->sent_ns = now_ns();
    return 0;
}

/* Read what arrived. Returns 1 when the current message is complete (checked), 0 when more is
 * due, -1 on failure, 2 on the peer's FIN in C_WAIT_FIN. */
static int on_readable(int id)
{
    struct conn *c = &conns[id];
    unsigned char b[MAX_SIZE];
    for (;;) {
        size_t want = c->state == C_WAIT_ECHO ? (size_t)(size - c->got) : sizeof(b);
        ssize_t n = recv(c->fd, b, want, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            fail(id, "recv", errno);
            return -1;
        }
        if (n == 0) {
            if (c->state == C_WAIT_FIN)
                return 2;
            fail(id, "the server closed the connection early", 0);
            return -1;
        }
        if (c->state != C_WAIT_ECHO) {
            corrupt++;
            fail(id, "bytes arrived that were not asked for", 0);
            return -1;
        }
        for (ssize_t i = 0; i < n; i++)
            if (b[i] != pat(base + id, c->seq, c->got + (int)i)) {
                corrupt++;
                fail(id, "echoed bytes differ from those sent", 0);
                return -1;
            }
        c->got = (uint16_t)(c->got + n);
        if (c->got == size) {
            c->seq++;
            c->state = C_IDLE;
            return 1;
        }
    }
}

static int open_one(int id, const struct sockaddr_in *dst, uint32_t src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (errors < 10)
            fprintf(stderr, "connload: socket: %s (raise the open file limit)\n", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in s = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src)};
    if (bind(fd, (struct sockaddr *)&s, sizeof(s)) != 0) {
        if (errors < 10)
            fprintf(stderr, "connload: bind to source address %s: %s (add it with ip addr add)\n", inet_ntoa(s.sin_addr), strerror(errno));
        close(fd);
        return -1;
    }
    conns[id].fd = fd;
    conns[id].state = C_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)id};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        fprintf(stderr, "connload: epoll_ctl: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) != 0 && errno != EINPROGRESS)
        fail(id, "connect", errno);
    return 0;
}

static double pct(const uint64_t *h, uint64_t total, double p)
{
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(p * (double)total), seen = 0;
    if (want >= total)
        want = total - 1;
    for (unsigned i = 0; i <= HIST_BUCKETS; i++) {
        seen += h[i];
        if (seen > want)
            return bucket_us(i);
    }
    return bucket_us(HIST_BUCKETS);
}

static double secs(uint64_t ns) { return (double)ns / 1e9; }

/* The open wave's target and source addresses (set by worker() before the wave). */
static const struct sockaddr_in *open_dst;
static uint32_t open_src0;
static int open_nsrc;

/* A wave's two steps. start(id) begins connection id's step: 1 if it is now in flight, 0 if
 * there was nothing to do. finish(id) handles an event on it: -1 not this wave's, 0 still
 * waiting, 1 step over (failed), 2 step over and it counts. */
struct wave_ops {
    int (*start)(int id);
    int (*finish)(int id);
};

static int open_start(int id)
{
    if (open_one(id, open_dst, open_src0 + (uint32_t)((base + id) % open_nsrc)) != 0) {
        conns[id].state = C_FAILED;
        conns[id].fd = -1;
        errors++;
    }
    return conns[id].state == C_CONNECTING;
}

static int open_finish(int id)
{
    struct conn *c = &conns[id];
    if (c->state != C_CONNECTING)
        return -1;
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        fail(id, "connect", err);
        return 1;
    }
    struct epoll_event e2 = {.events = EPOLLIN, .data.u32 = (uint32_t)id};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e2);
    c->state = C_IDLE;
    return 2;
}

static int verify_start(int id) { return conns[id].state == C_IDLE && send_msg(id) == 0; }

static int verify_finish(int id)
{
    if (conns[id].state != C_WAIT_ECHO)
        return -1;
    int r = on_readable(id);
    return r == 0 ? 0 : r == 1 ? 2 : 1;
}

/* close: shut our side, then wait for the server's FIN and close */
static int close_start(int id)
{
    struct conn *c = &conns[id];
    if (c->state != C_IDLE)
        return 0;
    if (shutdown(c->fd, SHUT_WR) != 0) {
        fail(id, "shutdown", errno);
        return 0;
    }
    c->state = C_WAIT_FIN;
    return 1;
}

static int close_finish(int id)
{
    struct conn *c = &conns[id];
    if (c->state != C_WAIT_FIN)
        return -1;
    int r = on_readable(id);
    if (r == 0)
        return 0;
    if (r != 2)
        return 1;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = C_DONE;
    return 2;
}

enum { EVN = 1024 };

/* One wave over every connection of this worker, at most `parallel` steps in flight (a burst
 * of every step at once would only measure the link's queue). Returns how many counted;
 * *ns is the time the wave took (bounded by timeout_ns). */
static int wave(const struct wave_ops *ops, int parallel, uint64_t timeout_ns, uint64_t *ns)
{
    struct epoll_event ev[EVN];
    uint64_t t0 = now_ns();
    int next = 0, inflight = 0, counted = 0;
    while ((next < nconns || inflight > 0) && now_ns() - t0 < timeout_ns) {
        for (; next < nconns && inflight < parallel; next++)
            inflight += ops->start(next);
        int n = epoll_wait(epfd, ev, EVN, 100);
        for (int i = 0; i < n; i++) {
            int r = ops->finish((int)ev[i].data.u32);
            if (r <= 0)
                continue;
            inflight--;
            counted += r == 2;
        }
    }
    *ns = now_ns() - t0;
    return counted;
}

/* One worker: connections [base, base + nconns) through every phase. */
static int worker(struct shared *sh, const struct sockaddr_in *dst, uint32_t src0, int nsrc, int active, int parallel,
                  double dur, double timeout_s)
{
    static const struct wave_ops opening = {open_start, open_finish}, verifying = {verify_start, verify_finish},
                                 closing = {close_start, close_finish};
    if (active > nconns)
        active = nconns;
    conns = calloc((size_t)nconns, sizeof(*conns));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || epfd < 0) {
        fprintf(stderr, "connload: out of memory or epoll_create1 failed\n");
        return 1;
    }
    struct epoll_event ev[EVN];
    uint64_t timeout_ns = (uint64_t)(timeout_s * 1e9);

    /* 1. open: at most `parallel` connects in progress */
    open_dst = dst;
    open_src0 = src0;
    open_nsrc = nsrc;
    uint64_t t_open, t_verify, t_close;
    int opened = wave(&opening, parallel, timeout_ns, &t_open);
    pthread_barrier_wait(&sh->barrier);

    /* 2. verify: every open connection echoes one message, `parallel` at a time */
    int verified = wave(&verifying, parallel, timeout_ns, &t_verify);
    pthread_barrier_wait(&sh->barrier);

    /* 3. load: `active` messages in flight, the subset rotating through every connection */
    uint64_t rtts = 0;
    double load_s = 0;
    if (dur > 0 && verified > 0) {
        int cursor = 0, inflight = 0;
        for (int k = 0; k < nconns && inflight < active; k++, cursor = (cursor + 1) % nconns)
            if (conns[cursor].state == C_IDLE && send_msg(cursor) == 0)
                inflight++;
        uint64_t start = now_ns(), end = start + (uint64_t)(dur * 1e9);
        while (inflight > 0 && now_ns() < end) {
            int n = epoll_wait(epfd, ev, EVN, 10);
            uint64_t t = now_ns();
            for (int i = 0; i < n; i++) {
                int id = (int)ev[i].data.u32;
                if (conns[id].state != C_WAIT_ECHO)
                    continue;
                int r = on_readable(id);
                if (r == 0)
                    continue;
                inflight--;
                if (r != 1)
                    continue;
                rtts++;
                hist[bucket(t - conns[id].sent_ns)]++;
                /* the next idle connection in turn (bounded: at most one lap) */
                for (int k = 0; k < nconns; k++, cursor = (cursor + 1) % nconns)
                    if (conns[cursor].state == C_IDLE) {
                        if (send_msg(cursor) == 0)
                            inflight++;
                        cursor = (cursor + 1) % nconns;
                        break;
                    }
            }
        }
        load_s = secs(now_ns() - start);
        /* drain what is still in flight (bounded), so every connection closes idle */
        uint64_t d0 = now_ns();
        while (inflight > 0 && now_ns() - d0 < timeout_ns) {
            int n = epoll_wait(epfd, ev, EVN, 100);
            for (int i = 0; i < n; i++) {
                int id = (int)ev[i].data.u32;
                if (conns[id].state == C_WAIT_ECHO && on_readable(id) != 0)
                    inflight--;
            }
        }
    }

    pthread_barrier_wait(&sh->barrier);

    /* 4. close: `parallel` at a time, like the other phases */
    int closed = wave(&closing, parallel, timeout_ns, &t_close);

    pthread_mutex_lock(&sh->lock);
    struct totals *T = &sh->t;
    T->opened += (uint64_t)opened;
    T->verified += (uint64_t)verified;
    T->closed += (uint64_t)closed;
    T->rtts += rtts;
    T->errors += errors;
    T->resets += resets;
    T->corrupt += corrupt;
    uint64_t load_ns = (uint64_t)(load_s * 1e9);
    if (t_open > T->open_ns) T->open_ns = t_open;
    if (t_verify > T->verify_ns) T->verify_ns = t_verify;
    if (load_ns > T->load_ns) T->load_ns = load_ns;
    if (t_close > T->close_ns) T->close_ns = t_close;
    for (unsigned b = 0; b <= HIST_BUCKETS; b++)
        T->hist[b] += hist[b];
    pthread_mutex_unlock(&sh->lock);
    return 0;
}

int main(int argc, char **argv)
{
    const char *addr = NULL, *first_src = NULL;
    int port = 0, nsrc = 1, active = 256, parallel = 512, per_worker = 0, opt;
    double dur = 3, timeout_s = 120;
    while ((opt = getopt(argc, argv, "a:p:c:A:k:s:d:r:P:t:W:")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'A': first_src = optarg; break;
        case 'k': nsrc = atoi(optarg); break;
        case 's': size = atoi(optarg); break;
        case 'd': dur = atof(optarg); break;
        case 'r': active = atoi(optarg); break;
        case 'P': parallel = atoi(optarg); break;
        case 't': timeout_s = atof(optarg); break;
        case 'W': per_worker = atoi(optarg); break;
        default: goto usage;
        }
    }
    struct in_addr srcbase;
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (!addr || !first_src || port <= 0 || port > 65535 || nconns < 1 || nconns > MAX_CONNS || nsrc < 1 || nsrc > 4096 ||
        size < 1 || size > MAX_SIZE || active < 1 || parallel < 1 || per_worker < 0 || dur < 0 || timeout_s <= 0 ||
        inet_pton(AF_INET, addr, &dst.sin_addr) != 1 || inet_pton(AF_INET, first_src, &srcbase) != 1) {
    usage:
        fprintf(stderr, "usage: connload -a ADDR -p PORT -c CONNS(1..%d) -A FIRST_SRC [-k NSRC] [-s SIZE(1..%d)] [-d SECONDS] [-r ACTIVE] [-P PARALLEL] [-t TIMEOUT_S] [-W PER_WORKER]\n",
                MAX_CONNS, MAX_SIZE);
        return 2;
    }
    /* as many workers as the open file limit asks for: each raises its soft limit to the hard one */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max < 128) {
        fprintf(stderr, "connload: the open file limit is too low (ulimit -Hn)\n");
        return 1;
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int cap = rl.rlim_max > (rlim_t)MAX_CONNS ? MAX_CONNS : (int)rl.rlim_max - 64;
    if (per_worker == 0 || per_worker > cap)
        per_worker = cap;
    nworkers = (nconns + per_worker - 1) / per_worker;
    if (nworkers > MAX_WORKERS) {
        fprintf(stderr, "connload: %d connections need %d worker processes of %d, at most %d are allowed (raise ulimit -Hn)\n", nconns,
                nworkers, per_worker, MAX_WORKERS);
        return 1;
    }
    struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        fprintf(stderr, "connload: mmap: %s\n", strerror(errno));
        return 1;
    }
    pthread_barrierattr_t ba;
    pthread_mutexattr_t ma;
    pthread_barrierattr_init(&ba);
    pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&sh->barrier, &ba, (unsigned)nworkers);
    pthread_mutex_init(&sh->lock, &ma);
    uint32_t src0 = ntohl(srcbase.s_addr);
    int total = nconns;
    for (int w = 0; w < nworkers; w++) {
        int lo = (int)((int64_t)total * w / nworkers), hi = (int)((int64_t)total * (w + 1) / nworkers);
        pids[w] = fork();
        if (pids[w] < 0) {
            fprintf(stderr, "connload: fork: %s\n", strerror(errno));
            for (int k = 0; k < w; k++)
                kill(pids[k], SIGKILL);
            return 1;
        }
        if (pids[w] == 0) {
            base = lo;
            nconns = hi - lo;
            int a1 = (int)((int64_t)active * (w + 1) / nworkers) - (int)((int64_t)active * w / nworkers);
            int p1 = parallel / nworkers > 0 ? parallel / nworkers : 1;
            _exit(worker(sh, &dst, src0, nsrc, a1 > 0 ? a1 : 1, p1, dur, timeout_s));
        }
    }
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(5 * timeout_s + dur + 30)); /* four phases and the drain, each bounded by -t */
    int failed = 0;
    for (int w = 0; w < nworkers; w++) {
        int st;
        if (waitpid(pids[w], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    const struct totals *T = &sh->t;
    double load_s = secs(T->load_ns);
    fprintf(stderr, "connload: %llu of %d open in %.2f s, %llu echoed correctly in %.2f s, %llu closed cleanly in %.2f s (%d workers)\n",
            (unsigned long long)T->opened, total, secs(T->open_ns), (unsigned long long)T->verified, secs(T->verify_ns),
            (unsigned long long)T->closed, secs(T->close_ns), nworkers);
    printf("{\"conns\":%d,\"workers\":%d,\"sources\":%d,\"size\":%d,\"opened\":%llu,\"open_s\":%.3f,\"verified\":%llu,\"verify_s\":%.3f,"
           "\"active\":%d,\"load_s\":%.3f,\"rtts\":%llu,\"rtt_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
           "\"closed\":%llu,\"close_s\":%.3f,\"errors\":%llu,\"resets\":%llu,\"corrupt\":%llu}\n",
           total, nworkers, nsrc, size, (unsigned long long)T->opened, secs(T->open_ns), (unsigned long long)T->verified,
           secs(T->verify_ns), active, load_s, (unsigned long long)T->rtts, load_s > 0 ? (double)T->rtts / load_s : 0.0,
           pct(T->hist, T->rtts, 0.5), pct(T->hist, T->rtts, 0.99), pct(T->hist, T->rtts, 0.999), (unsigned long long)T->closed,
           secs(T->close_ns), (unsigned long long)T->errors, (unsigned long long)T->resets, (unsigned long long)T->corrupt);
    uint64_t n = (uint64_t)total;
    return failed == 0 && T->opened == n && T->verified == n && T->closed == n && T->corrupt == 0 && T->errors == 0 ? 0 : 1;
}
