/* Host harness main: options, the stack on a TAP fd, and the run-to-completion loop
 *   events_begin -> app work -> receive a batch -> timers -> app handles events.
 * Prints "ready ..." once serving, and "stats {json}" at exit (SIGINT/SIGTERM, --duration,
 * or a client that finished). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_impair.h"
#include "../../net/arp.h"
#include "../../net/udp.h"

unsigned tcp_conns_in_use(struct net_core *c);
void tcp_set_secret(struct net_core *c, uint64_t k0, uint64_t k1);

struct harness_opts h_opts;
volatile int h_stop;
int h_exit_status;

static int tap_fd = -1;
static uint64_t tx_errors;

#define H_BATCH 64
#define H_EV_CAP 1024

/* The stack's link-time callbacks (net/stack_env.h, net/netif.h) for the TAP harness. */
uint64_t env_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void env_log(const char *fmt, ...)
{
    if (!h_opts.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* TAP writes are synchronous: when writev returns, the frame has left and the slices were
 * read, so the header is completed at once. */
int netif_tx(struct net_core *c, struct mbuf *hdr, const struct net_iov *iov, int iovcnt)
{
    struct iovec v[1 + NET_IOV_MAX];
    if (iovcnt < 0 || iovcnt > NET_IOV_MAX)
        return -1;
    v[0].iov_base = hdr->data;
    v[0].iov_len = hdr->len;
    for (int i = 0; i < iovcnt; i++) {
        v[1 + i].iov_base = (void *)iov[i].base;
        v[1 + i].iov_len = iov[i].len;
    }
    if (h_impair_active(H_IMP_TX)) {
        /* The impaired link takes a copy (like a wire); the frame has "left" now. */
        uint8_t frame[2048];
        uint32_t len = 0;
        for (int i = 0; i < 1 + iovcnt; i++) {
            if (len + v[i].iov_len > sizeof(frame))
                return -1;
            memcpy(frame + len, v[i].iov_base, v[i].iov_len);
            len += (uint32_t)v[i].iov_len;
        }
        h_impair_in(H_IMP_TX, frame, len, env_now_us());
        net_tx_complete(c, hdr);
        return 0;
    }
    ssize_t n = writev(tap_fd, v, 1 + iovcnt);
    if (n < 0 && (errno == EAGAIN || errno == ENOBUFS))
        return -1;
    if (n < 0)
        tx_errors++; /* e.g. EIO while the link is down: the frame is lost like on a wire */
    net_tx_complete(c, hdr);
    return 0;
}

/* Impairment outputs: a released RX frame enters the stack, a released TX frame goes to
 * the TAP. -1 = try again on the next poll. */
static int impair_rx_out(void *ctx, const uint8_t *frame, uint32_t len)
{
    struct net_core *c = ctx;
    struct mbuf *m = mbuf_alloc(c->pool);
    if (m == NULL)
        return -1;
    if (len > MBUF_DATA_MAX)
        len = MBUF_DATA_MAX;
    memcpy(m->data, frame, len);
    m->len = len;
    net_input(c, m);
    return 0;
}

static int impair_tx_out(void *ctx, const uint8_t *frame, uint32_t len)
{
    (void)ctx;
    ssize_t n = write(tap_fd, frame, len);
    if (n < 0 && (errno == EAGAIN || errno == ENOBUFS))
        return -1;
    if (n < 0)
        tx_errors++;
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    h_stop = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: harness --tap NAME --addr A.B.C.D/N [options]\n"
            "  --gw A.B.C.D          default gateway\n"
            "  --peer-addr A.B.C.D   give Linux's side of the TAP this address (same prefix) and bring it up\n"
            "  --mac XX:XX:XX:XX:XX:XX  the stack's MAC (default 02:00:00:00:00:02)\n"
            "  --udp-echo PORT  --udp-discard PORT  --tcp-echo PORT  --tcp-discard PORT  (repeatable)\n"
            "  --connect A.B.C.D:PORT [--conns N] [--send-bytes N] [--expect-echo]   TCP client mode\n"
            "  --tcp-sink PORT  TCP server that hashes each connection's stream (SHA-256)\n"
            "  --mbufs N (8192)  --max-conns N (1024)  --mem-mb N (64)  --duration SECONDS  --verbose\n"
            "  --impair loss=PCT,reorder=PCT,delay=Nus|Nms,gap=N,seed=N,dir=both|rx|tx\n"
            "                        seeded loss/reordering/delay of the frames crossing the TAP\n");
    exit(2);
}

static uint32_t parse_ip(const char *s, const char *opt)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1) {
        fprintf(stderr, "harness: %s: '%s' is not an IPv4 address\n", opt, s);
        exit(2);
    }
    return ntohl(a.s_addr);
}

static unsigned long parse_num(const char *s, const char *opt, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v > max) {
        fprintf(stderr, "harness: %s: '%s' is not a number in 0..%lu\n", opt, s, max);
        exit(2);
    }
    return v;
}

static void add_port(uint16_t *arr, int *n, const char *s, const char *opt)
{
    if (*n >= H_MAX_PORTS) {
        fprintf(stderr, "harness: at most %d %s ports\n", H_MAX_PORTS, opt);
        exit(2);
    }
    arr[(*n)++] = (uint16_t)parse_num(s, opt, 65535);
}

static void parse_opts(int argc, char **argv)
{
    enum { O_TAP = 1, O_ADDR, O_GW, O_PEER, O_MAC, O_UECHO, O_UDISC, O_TECHO, O_TDISC,
           O_CONNECT, O_CONNS, O_SEND, O_EXPECT, O_MBUFS, O_MAXC, O_MEM, O_DUR, O_VERB, O_IMPAIR,
           O_TSINK };
    static const struct option lo[] = {
        {"tap", 1, 0, O_TAP}, {"addr", 1, 0, O_ADDR}, {"gw", 1, 0, O_GW},
        {"peer-addr", 1, 0, O_PEER}, {"mac", 1, 0, O_MAC}, {"udp-echo", 1, 0, O_UECHO},
        {"udp-discard", 1, 0, O_UDISC}, {"tcp-echo", 1, 0, O_TECHO},
        {"tcp-discard", 1, 0, O_TDISC}, {"connect", 1, 0, O_CONNECT}, {"conns", 1, 0, O_CONNS},
        {"send-bytes", 1, 0, O_SEND}, {"expect-echo", 0, 0, O_EXPECT}, {"mbufs", 1, 0, O_MBUFS},
        {"max-conns", 1, 0, O_MAXC}, {"mem-mb", 1, 0, O_MEM}, {"duration", 1, 0, O_DUR},
        {"verbose", 0, 0, O_VERB}, {"impair", 1, 0, O_IMPAIR}, {"tcp-sink", 1, 0, O_TSINK},
        {0, 0, 0, 0}};
    struct harness_opts *o = &h_opts;
    static const uint8_t defmac[6] = {0x02, 0, 0, 0, 0, 0x02};
    memcpy(o->mac, defmac, 6);
    o->mbufs = 8192;
    o->max_conns = 1024;
    o->mem_mb = 64;
    o->conns = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        char *slash, *colon;
        switch (c) {
        case O_TAP: o->tap = optarg; break;
        case O_ADDR:
            slash = strchr(optarg, '/');
            if (!slash) {
                fprintf(stderr, "harness: --addr needs a prefix length, e.g. 10.77.0.2/24\n");
                exit(2);
            }
            *slash = 0;
            o->addr = parse_ip(optarg, "--addr");
            {
                unsigned long plen = parse_num(slash + 1, "--addr prefix", 32);
                o->netmask = plen ? ~0u << (32 - plen) : 0;
            }
            break;
        case O_GW: o->gateway = parse_ip(optarg, "--gw"); break;
        case O_PEER: o->peer_addr = parse_ip(optarg, "--peer-addr"); break;
        case O_MAC:
            if (sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &o->mac[0], &o->mac[1], &o->mac[2],
                       &o->mac[3], &o->mac[4], &o->mac[5]) != 6) {
                fprintf(stderr, "harness: --mac: '%s' is not XX:XX:XX:XX:XX:XX\n", optarg);
                exit(2);
            }
            break;
        case O_UECHO: add_port(o->udp_echo, &o->n_udp_echo, optarg, "--udp-echo"); break;
        case O_UDISC: add_port(o->udp_discard, &o->n_udp_discard, optarg, "--udp-discard"); break;
        case O_TECHO: add_port(o->tcp_echo, &o->n_tcp_echo, optarg, "--tcp-echo"); break;
        case O_TDISC: add_port(o->tcp_discard, &o->n_tcp_discard, optarg, "--tcp-discard"); break;
        case O_CONNECT:
            colon = strchr(optarg, ':');
            if (!colon) {
                fprintf(stderr, "harness: --connect needs A.B.C.D:PORT\n");
                exit(2);
            }
            *colon = 0;
            o->connect_addr = parse_ip(optarg, "--connect");
            o->connect_port = (uint16_t)parse_num(colon + 1, "--connect port", 65535);
            break;
        case O_CONNS: o->conns = (unsigned)parse_num(optarg, "--conns", 1000000); break;
        case O_SEND: o->send_bytes = parse_num(optarg, "--send-bytes", ~0ul); break;
        case O_EXPECT: o->expect_echo = 1; break;
        case O_MBUFS: o->mbufs = (unsigned)parse_num(optarg, "--mbufs", 1u << 22); break;
        case O_MAXC: o->max_conns = (unsigned)parse_num(optarg, "--max-conns", 1u << 22); break;
        case O_MEM: o->mem_mb = (unsigned)parse_num(optarg, "--mem-mb", 1u << 16); break;
        case O_DUR: o->duration_s = strtod(optarg, NULL); break;
        case O_VERB: o->verbose = 1; break;
        case O_TSINK: add_port(o->tcp_sink, &o->n_tcp_sink, optarg, "--tcp-sink"); break;
        case O_IMPAIR: {
            char err[160];
            if (h_impair_parse(optarg, &o->impair, err, sizeof(err)) != 0) {
                fprintf(stderr, "harness: --impair %s: %s\n", optarg, err);
                exit(2);
            }
            o->impair_on = 1;
            break;
        }
        default: usage();
        }
    }
    if (optind != argc || o->tap == NULL || o->addr == 0)
        usage();
}

static void print_ip(FILE *out, uint32_t a)
{
    fprintf(out, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

void h_print_stats(struct net_core *c, FILE *out)
{
    const struct net_counters *k = &c->counters;
    fprintf(out, "stats {");
#define F(name) fprintf(out, "\"%s\":%llu,", #name, (unsigned long long)k->name)
    F(rx_frames); F(rx_bytes); F(tx_frames); F(tx_bytes); F(copies);
    F(drop_eth_short); F(drop_eth_not_us); F(drop_eth_type);
    F(drop_arp_bad); F(drop_arp_not_us); F(arp_requests_rx); F(arp_replies_rx);
    F(arp_requests_tx); F(arp_replies_tx); F(drop_arp_queue_full); F(drop_arp_timeout);
    F(drop_arp_no_entry); F(drop_ip_short); F(drop_ip_bad_hdr); F(drop_ip_csum);
    F(drop_ip_frag); F(drop_ip_not_us); F(drop_ip_bad_src); F(drop_ip_proto);
    F(drop_no_route); F(drop_tx_full); F(drop_nomem); F(drop_tx_too_big);
    F(drop_icmp_bad); F(drop_icmp_type); F(icmp_echo_rx); F(icmp_echo_tx);
    F(drop_udp_bad); F(drop_udp_csum); F(drop_udp_no_port); F(drop_udp_ev_full);
    F(udp_rx); F(udp_tx); F(udp_sent_deferred);
#undef F
    fprintf(out, "\"tcp\":[");
    for (unsigned i = 0; i < sizeof(k->tcp) / sizeof(k->tcp[0]); i++)
        fprintf(out, "%s%llu", i ? "," : "", (unsigned long long)k->tcp[i]);
    fprintf(out, "],\"tx_errors\":%llu,\"mbufs_in_use\":%u,\"mbuf_alloc_failures\":%llu,"
                 "\"mbuf_double_frees\":%llu,\"tcp_conns_in_use\":%u",
            (unsigned long long)tx_errors, mbuf_pool_in_use(c->pool),
            (unsigned long long)c->pool->alloc_failures, (unsigned long long)c->pool->double_frees,
            tcp_conns_in_use(c));
    h_tcp_report(out);
    h_impair_report(out);
    fprintf(out, "}\n");
    fflush(out);
}

static void handle_events(struct net_core *c)
{
    /* Apps may post more events while handling (UDP_SENT of a reply): keep going until
     * the array is drained. */
    for (uint32_t i = 0; i < c->ev_len; i++) {
        const struct ix_event ev = c->ev[i];
        if (!h_udp_event(c, &ev) && !h_tcp_event(c, &ev) && h_opts.verbose)
            fprintf(stderr, "harness: unhandled event type %u\n", ev.type);
    }
}

int main(int argc, char **argv)
{
    parse_opts(argc, argv);
    struct harness_opts *o = &h_opts;
    setvbuf(stdout, NULL, _IOLBF, 0);

    tap_fd = h_tap_open(o->tap);
    if (o->peer_addr)
        h_tap_config_peer(o->tap, o->peer_addr, o->netmask);

    static struct mbuf_pool pool;
    size_t pool_len = (size_t)o->mbufs * MBUF_SIZE + 64;
    void *pool_mem = aligned_alloc(64, (pool_len + 63) & ~(size_t)63);
    size_t mem_len = (size_t)o->mem_mb << 20;
    void *mem = aligned_alloc(64, mem_len);
    if (!pool_mem || !mem) {
        fprintf(stderr, "harness: cannot allocate %zu + %zu bytes; lower --mbufs/--mem-mb\n", pool_len, mem_len);
        return 1;
    }
    memset(mem, 0, mem_len);
    mbuf_pool_init(&pool, pool_mem, pool_len);

    static struct net_core core;
    struct net_config cfg = {.addr = o->addr, .netmask = o->netmask, .gateway = o->gateway};
    memcpy(cfg.mac, o->mac, 6);
    int rc = net_init(&core, 0, &cfg, &pool, mem, mem_len, o->max_conns);
    if (rc != 0) {
        fprintf(stderr, "harness: net_init failed (%d): check --addr/--gw, or raise --mem-mb for --max-conns\n", rc);
        return 1;
    }
    /* the per-run secret of ISNs and SYN cookies, as the kernel's entropy.c gives it */
    uint64_t key[2];
    if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key) {
        perror("harness: getrandom");
        return 1;
    }
    tcp_set_secret(&core, key[0], key[1]);
    core.netif = &tap_fd;
    if (o->impair_on)
        h_impair_init(&o->impair, impair_rx_out, &core, impair_tx_out, NULL);
    static struct ix_event ev[H_EV_CAP];

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ee = {.events = EPOLLIN, .data.fd = tap_fd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tap_fd, &ee) < 0) {
        perror("harness: epoll");
        return 1;
    }

    net_events_begin(&core, ev, H_EV_CAP);
    h_udp_setup(&core);
    h_tcp_setup(&core);
    handle_events(&core);
    printf("ready tap=%s addr=", o->tap);
    print_ip(stdout, o->addr);
    printf(" mac=%02x:%02x:%02x:%02x:%02x:%02x pid=%d\n", o->mac[0], o->mac[1], o->mac[2],
           o->mac[3], o->mac[4], o->mac[5], (int)getpid());

    uint64_t deadline = o->duration_s > 0 ? env_now_us() + (uint64_t)(o->duration_s * 1e6) : 0;
    int idle = 0;
    while (!h_stop) {
        /* Spin briefly after activity (latency), then sleep in epoll with a short timeout
         * so timers (ARP retries, TCP RTO) still run. */
        struct timespec tmo = {0, idle > 64 ? 1000000 : 0};
        if (o->impair_on && idle > 64) {
            int64_t due = h_impair_next_due(env_now_us());
            if (due >= 0 && due < 1000)
                tmo.tv_nsec = due * 1000;
        }
        int n = epoll_pwait2(ep, &ee, 1, &tmo, NULL);
        if (n < 0 && errno != EINTR) {
            perror("harness: epoll_wait");
            h_exit_status = 1;
            break;
        }
        net_events_begin(&core, ev, H_EV_CAP);
        h_tcp_poll(&core);
        int got = 0;
        for (; o->impair_on && h_impair_active(H_IMP_RX) && got < H_BATCH; got++) {
            uint8_t frame[2048];
            ssize_t r = read(tap_fd, frame, sizeof(frame));
            if (r <= 0)
                break;
            h_impair_in(H_IMP_RX, frame, (uint32_t)r, env_now_us());
        }
        for (; !(o->impair_on && h_impair_active(H_IMP_RX)) && got < H_BATCH; got++) {
            struct mbuf *m = mbuf_alloc(&pool);
            if (m == NULL)
                break; /* pool empty: leave frames in the TAP queue until buffers return */
            ssize_t r = read(tap_fd, m->data, MBUF_DATA_MAX);
            if (r <= 0) {
                mbuf_free(m);
                break;
            }
            m->len = (uint32_t)r;
            net_input(&core, m);
        }
        if (o->impair_on)
            h_impair_poll(env_now_us());
        net_poll_timers(&core);
        handle_events(&core);
        idle = (got || core.ev_len) ? 0 : idle + 1;
        if (deadline && env_now_us() >= deadline)
            break;
    }
    arp_flush(&core);
    net_events_begin(&core, ev, H_EV_CAP);
    h_print_stats(&core, stdout);
    close(tap_fd);
    free(pool_mem);
    free(mem);
    return h_exit_status;
}
