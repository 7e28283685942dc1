/* The host harness: the stack (guest/net) on a TAP device, driven by an epoll loop, with
 * small "apps" (UDP echo/discard, TCP echo/discard, a TCP client) that use the same calls
 * the batched-call layer will use. See docs/net-stack.md for the command line. */
#ifndef IX_TEST_NET_HARNESS_H
#define IX_TEST_NET_HARNESS_H

#include <stdint.h>
#include <stdio.h>

#include "../../net/core.h"
#include "harness_impair.h"

#define H_MAX_PORTS 16

struct harness_opts {
    const char *tap;            /* --tap NAME */
    uint32_t addr, netmask;     /* --addr A.B.C.D/N (the stack) */
    uint32_t gateway;           /* --gw A.B.C.D */
    uint32_t peer_addr;         /* --peer-addr A.B.C.D: configure Linux's side of the TAP */
    uint8_t mac[6];             /* --mac */
    uint16_t udp_echo[H_MAX_PORTS], udp_discard[H_MAX_PORTS];
    int n_udp_echo, n_udp_discard;
    uint16_t tcp_echo[H_MAX_PORTS], tcp_discard[H_MAX_PORTS];
    int n_tcp_echo, n_tcp_discard;
    uint16_t tcp_sink[H_MAX_PORTS];   /* --tcp-sink PORT: SHA-256 of each connection's stream */
    int n_tcp_sink;
    uint32_t connect_addr;      /* --connect A.B.C.D:PORT (client mode) */
    uint16_t connect_port;
    unsigned conns;             /* --conns N parallel client connections (default 1) */
    uint64_t send_bytes;        /* --send-bytes N per client connection */
    int expect_echo;            /* --expect-echo: client waits to receive what it sent */
    unsigned mbufs;             /* --mbufs N */
    unsigned max_conns;         /* --max-conns N (TCP control blocks) */
    unsigned mem_mb;            /* --mem-mb N (ARP/UDP/TCP state) */
    double duration_s;          /* --duration S: exit after S seconds (0 = until signal) */
    int verbose;                /* --verbose: env_log to stderr */
    int impair_on;              /* --impair SPEC given */
    struct h_impair_cfg impair;
};

extern struct harness_opts h_opts;
extern volatile int h_stop;     /* set by signals or by an app that is done */
extern int h_exit_status;

/* TAP (harness_tap.c) */
int h_tap_open(const char *name);                        /* fd, or exits with a message */
void h_tap_config_peer(const char *name, uint32_t addr, uint32_t netmask);

/* Apps. UDP is in harness_udp.c; TCP in harness_tcp.c as weak defaults that a file named
 * tcp_harness*.c may replace with strong definitions. */
void h_udp_setup(struct net_core *c);
int h_udp_event(struct net_core *c, const struct ix_event *ev);   /* 1 if handled */
void h_tcp_setup(struct net_core *c);
int h_tcp_event(struct net_core *c, const struct ix_event *ev);   /* 1 if handled */
void h_tcp_poll(struct net_core *c);   /* once per loop iteration (e.g. to retry sends) */
void h_tcp_report(FILE *out);          /* extra fields for the final stats line */

void h_print_stats(struct net_core *c, FILE *out);

#endif
