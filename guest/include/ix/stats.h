/* Per-core dataplane counters, kept by the guest in shared memory and read by the host
 * without exits: `ix stats` turns them into rates. One struct per core, in
 * the boot info page (struct ix_bootinfo.stats[cpu]). Every field only grows (except the
 * gauges marked so); the host computes rates from two samples. Written by one core only. */
#ifndef IX_STATS_H
#define IX_STATS_H
#include <stdint.h>

#define IX_STATS_BATCH_BUCKETS 8 /* RX batch sizes: 0, 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+ */

struct ix_core_stats {
    uint64_t rx_frames;        /* frames received from the NIC queue */
    uint64_t tx_frames;        /* frames handed to the NIC queue */
    uint64_t rx_bytes, tx_bytes;
    uint64_t loops;            /* dataplane loop iterations */
    uint64_t rx_batches[IX_STATS_BATCH_BUCKETS]; /* loop iterations by frames received */
    uint64_t bpolls;           /* ix_bpoll traps */
    uint64_t calls;            /* calls executed */
    uint64_t events;           /* events posted to the app */
    uint64_t drops;            /* frames dropped by the stack (all reasons) */
    uint64_t tcp_conns;        /* gauge: TCP connections in use */
    uint64_t busy_cycles;      /* TSC cycles in the loop doing work (not idle) */
    uint64_t idle_cycles;      /* TSC cycles polling with nothing to do or halted */
    uint64_t halts;            /* idle halts */
    uint64_t tsc;              /* TSC at the last update (for the host's rate computation) */
    uint64_t syn_cookies;      /* SYN-ACKs sent as SYN cookies (a listener's half-open bound hit) */
    uint64_t syn_cookie_conns; /* connections established from a valid cookie */
    uint64_t syn_cookie_bad;   /* ACKs to a listener with no connection and no valid cookie */
    uint64_t syn_drops;        /* SYNs / handshake ACKs dropped: accept queue or pool full */
    uint64_t copies;           /* payload bytes the stack copied (a segment spanning more app
                                  slices than a frame references); 0 on zero-copy paths */
    uint64_t mbufs_used;       /* gauge: buffers of the core's mbuf pool in use (RX ring,
                                  queues, the app's received payloads) */
    /* TCP RSTs sent (all reasons) and the reasons: a segment for no connection (nor a valid
     * cookie), an unacceptable ACK in a handshake, the app (a reject, a close before accept,
     * the app gone); and connections that gave up retransmitting (a RST unless in SYN_SENT) */
    uint64_t rst_sent;
    uint64_t rst_no_conn;
    uint64_t rst_bad_ack;
    uint64_t rst_app;
    uint64_t tcp_timeouts;
    uint64_t syn_cookie_superseded; /* half-open blocks replaced by the cookie connection the
                                       peer completed (its SYN was answered twice) */
};

#endif
