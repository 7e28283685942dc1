/* TCP ping-pong client for the RTT benchmark (src/bench/net.ts): one connection, TCP_NODELAY,
 * ROUNDS round trips of SIZE bytes, one in flight; each echo is checked byte for byte.
 * Prints one JSON line with min/p50/p90/p99/mean round-trip time in microseconds.
 *   usage: pingpong HOST PORT ROUNDS [SIZE (64)] [WARMUP (1000)] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: pingpong HOST PORT ROUNDS [SIZE] [WARMUP]\n");
        return 2;
    }
    long rounds = atol(argv[3]);
    long size = argc > 4 ? atol(argv[4]) : 64;
    long warmup = argc > 5 ? atol(argv[5]) : 1000;
    if (rounds < 1 || rounds > 10000000 || size < 1 || size > 65536 || warmup < 0) {
        fprintf(stderr, "pingpong: ROUNDS 1..10^7, SIZE 1..65536, WARMUP >= 0\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "pingpong: '%s' is not an IPv4 address\n", argv[1]);
        return 2;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        die("socket");
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("connect");
    char *out = malloc((size_t)size), *in = malloc((size_t)size);
    double *rtt = malloc(sizeof(double) * (size_t)rounds);
    if (!out || !in || !rtt)
        die("malloc");
    long bad = 0;
    for (long i = -warmup; i < rounds; i++) {
        for (long j = 0; j < size; j++)
            out[j] = (char)(i * 31 + j);
        double t0 = now_us();
        if (write(s, out, (size_t)size) != size)
            die("write");
        long got = 0;
        while (got < size) {
            ssize_t n = read(s, in + got, (size_t)(size - got));
            if (n <= 0) {
                fprintf(stderr, "pingpong: connection closed after %ld rounds\n", i + warmup);
                return 1;
            }
            got += n;
        }
        double t1 = now_us();
        if (memcmp(in, out, (size_t)size) != 0)
            bad++;
        if (i >= 0)
            rtt[i] = t1 - t0;
    }
    close(s);
    double sum = 0;
    for (long i = 0; i < rounds; i++)
        sum += rtt[i];
    qsort(rtt, (size_t)rounds, sizeof(double), cmp);
#define PCT(p) rtt[(long)((double)(rounds - 1) * (p))]
    printf("{\"rounds\":%ld,\"size\":%ld,\"mismatches\":%ld,\"min_us\":%.2f,\"p50_us\":%.2f,\"p90_us\":%.2f,"
           "\"p99_us\":%.2f,\"max_us\":%.2f,\"mean_us\":%.2f}\n",
           rounds, size, bad, rtt[0], PCT(0.5), PCT(0.9), PCT(0.99), rtt[rounds - 1], sum / (double)rounds);
    return bad ? 1 : 0;
}
