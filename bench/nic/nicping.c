/* nicping: UDP load/latency client for the NIC tests and benchmark.
 *
 * Sends `count` datagrams to dst:port from `nports` sockets (consecutive local ports from
 * `base_port`, so each is a distinct flow for RSS), keeping up to `inflight` outstanding,
 * and expects each one back (a reflector swaps addresses and ports). Every payload carries a
 * sequence number and a pattern derived from it, so a reply proves the frame came back
 * intact. Spins on non-blocking sockets (no sleeping: latency is what we measure).
 * A datagram not answered within `timeout_ms` is counted lost and its slot reused, so a run
 * is bounded by count * timeout at worst, and by `max_ms` overall.
 *
 * usage: nicping SRC_IP DST_IP DST_PORT BASE_PORT NPORTS COUNT INFLIGHT PAYLOAD TIMEOUT_MS MAX_MS
 * prints one JSON object.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXPORTS 64
#define MAXINFLIGHT 1024

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint8_t pat(uint32_t seq, uint32_t i) { return (uint8_t)(seq * 31u + i * 7u + 1u); }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 11) {
        fprintf(stderr, "usage: nicping SRC_IP DST_IP DST_PORT BASE_PORT NPORTS COUNT INFLIGHT PAYLOAD TIMEOUT_MS MAX_MS\n");
        return 2;
    }
    const char *src = argv[1], *dst = argv[2];
    int dport = atoi(argv[3]), base = atoi(argv[4]), nports = atoi(argv[5]);
    long count = atol(argv[6]);
    int inflight = atoi(argv[7]), payload = atoi(argv[8]);
    uint64_t timeout = (uint64_t)atol(argv[9]) * 1000000ull, maxns = (uint64_t)atol(argv[10]) * 1000000ull;
    if (nports < 1 || nports > MAXPORTS || inflight < 1 || inflight > MAXINFLIGHT || payload < 8 || payload > 1400 || count < 1) {
        fprintf(stderr, "nicping: argument out of range\n");
        return 2;
    }
    int fds[MAXPORTS];
    for (int i = 0; i < nports; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(base + i)) };
        inet_pton(AF_INET, src, &a.sin_addr);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) < 0) {
            perror("nicping: bind");
            return 1;
        }
        struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons((uint16_t)dport) };
        inet_pton(AF_INET, dst, &d.sin_addr);
        if (connect(fds[i], (struct sockaddr *)&d, sizeof d) < 0) {
            perror("nicping: connect");
            return 1;
        }
    }
    /* slot s holds the sequence number in flight (or -1) and its send time */
    static long slot_seq[MAXINFLIGHT];
    static uint64_t slot_t[MAXINFLIGHT];
    uint64_t *rtt = calloc((size_t)count, sizeof *rtt);
    long per_port[MAXPORTS] = { 0 };
    if (!rtt) return 1;
    for (int s = 0; s < inflight; s++) slot_seq[s] = -1;
    long next = 0, received = 0, lost = 0, corrupt = 0, nrtt = 0, sendfail = 0;
    uint8_t buf[2048];
    uint64_t t0 = now_ns(), last_check = t0;
    while ((next < count || received + lost < next) && now_ns() - t0 < maxns) {
        /* fill free slots */
        for (int s = 0; s < inflight && next < count; s++) {
            if (slot_seq[s] >= 0) continue;
            uint32_t seq = (uint32_t)next;
            memcpy(buf, &seq, 4);
            uint32_t sl = (uint32_t)s;
            memcpy(buf + 4, &sl, 4);
            for (int i = 8; i < payload; i++) buf[i] = pat(seq, (uint32_t)i);
            int p = (int)(next % nports);
            uint64_t ts = now_ns(); /* before send: a reply can be processed inside send() */
            if (send(fds[p], buf, (size_t)payload, 0) != payload) {
                sendfail++;
                break; /* socket buffer full: retry later */
            }
            slot_seq[s] = next;
            slot_t[s] = ts;
            next++;
        }
        /* drain replies */
        for (int p = 0; p < nports; p++) {
            for (;;) {
                ssize_t n = recv(fds[p], buf, sizeof buf, 0);
                if (n < 0) break;
                uint64_t t = now_ns();
                uint32_t seq, sl;
                if (n < 8) { corrupt++; continue; }
                memcpy(&seq, buf, 4);
                memcpy(&sl, buf + 4, 4);
                if (sl >= (uint32_t)inflight || slot_seq[sl] != (long)seq) continue; /* late reply to a lost one */
                int ok = n == payload && (long)(seq % (uint32_t)nports) == p;
                for (int i = 8; ok && i < payload; i++) ok = buf[i] == pat(seq, (uint32_t)i);
                if (!ok) corrupt++;
                else {
                    received++;
                    per_port[p]++;
                    rtt[nrtt++] = t - slot_t[sl];
                }
                if (!ok) lost++;
                slot_seq[sl] = -1;
            }
        }
        /* expire */
        uint64_t t = now_ns();
        if (t - last_check > 1000000ull) {
            last_check = t;
            for (int s = 0; s < inflight; s++)
                if (slot_seq[s] >= 0 && t - slot_t[s] > timeout) {
                    slot_seq[s] = -1;
                    lost++;
                }
        }
    }
    uint64_t el = now_ns() - t0;
    for (int s = 0; s < inflight; s++) if (slot_seq[s] >= 0) lost++;
    qsort(rtt, (size_t)nrtt, sizeof *rtt, cmp_u64);
    double p50 = nrtt ? (double)rtt[nrtt / 2] / 1000.0 : -1, p99 = nrtt ? (double)rtt[(nrtt * 99) / 100] / 1000.0 : -1;
    printf("{\"sent\":%ld,\"received\":%ld,\"lost\":%ld,\"corrupt\":%ld,\"send_retries\":%ld,\"seconds\":%.6f,"
           "\"pps\":%.1f,\"rtt_p50_us\":%.2f,\"rtt_p99_us\":%.2f,\"per_port\":[",
           next, received, lost, corrupt, sendfail, (double)el / 1e9, (double)received * 1e9 / (double)el, p50, p99);
    for (int p = 0; p < nports; p++) printf("%s%ld", p ? "," : "", per_port[p]);
    printf("]}\n");
    free(rtt);
    return 0;
}
