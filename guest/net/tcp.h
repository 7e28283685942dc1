/* TCP: the per-core, zero-copy TCP of the stack (RFC 9293 state machine, RFC 6298 RTO,
 * RFC 5681/6582 NewReno, RFC 7323 window scaling and timestamps, RFC 5961 RST/SYN checks).
 *
 * Semantics of the API (see docs/tcp.md for the full story):
 *  - Handles are opaque u64 = (generation << 32) | index; a stale handle gives -IX_EBADH.
 *  - Passive open: a SYN for a listening port is answered at once (SYN queue, bounded by the
 *    backlog); when the handshake completes, IX_EV_TCP_KNOCK(handle) is posted. The app
 *    answers with tcp_accept(handle, cookie) or tcp_reject(handle) (sends RST). Data that
 *    arrives before the accept is held and delivered after it.
 *  - Active open: tcp_connect returns a handle at once; IX_EV_TCP_CONNECTED(cookie, handle,
 *    outcome) follows. With a non-zero outcome the handle is already released.
 *  - Receive: IX_EV_TCP_RECV(cookie, a0 = payload address inside the mbuf, a1 = length,
 *    a2 = handle); the bytes stay valid until the app gives them back, in order, with
 *    tcp_recv_done(handle, bytes), which also reopens the receive window. The peer's FIN is
 *    reported as IX_EV_TCP_RECV with a0 = 0 and a1 = 0 (end of stream).
 *  - Send: tcp_sendv references the caller's memory (no copy) and returns the bytes taken
 *    (bounded by the send buffer; -IX_EAGAIN if none). The memory must stay unchanged until
 *    IX_EV_TCP_SENT(cookie, a0 = bytes newly acknowledged, a1 = send buffer space free).
 *  - Close: tcp_close(handle) sends FIN after the queued data (half close); received data
 *    after that is acknowledged and discarded. IX_EV_TCP_DEAD(cookie, reason) is the last
 *    event of every accepted/connected connection and the handle is invalid after it:
 *    reason 0 once our FIN is acknowledged after tcp_close, IX_ECONNRESET on RST,
 *    IX_ETIMEDOUT when retransmissions give up. Received payload not yet given back stays
 *    readable until the next round of events (it is freed in a later round).
 *  - Event array full: nothing is dropped; events are deferred and posted on a later call
 *    (tcp_flush_events, any TCP entry point, or the next timer run).
 */
#ifndef IX_NET_TCP_H
#define IX_NET_TCP_H

#include "core.h"

/* ---- API (the contract) ------------------------------------------------------------- */

/* Carve all TCP state for max_conns connections out of mem (also the core's timer wheel if
 * c->wheel is NULL). Returns 0, -IX_EINVAL, or -IX_ENOMEM if mem is too small (see
 * tcp_core_mem_size). */
int tcp_core_init(struct net_core *c, void *mem, size_t mem_len, unsigned max_conns);
size_t tcp_core_mem_size(unsigned max_conns);
/* The per-boot secret keying ISNs (RFC 6528) and SYN cookies; set it right after
 * tcp_core_init from real entropy (the default is derived from the clock only). */
void tcp_set_secret(struct net_core *c, uint64_t k0, uint64_t k1);

void tcp_input(struct net_core *c, struct mbuf *m, uint32_t src, uint32_t dst);

int tcp_listen(struct net_core *c, uint16_t port, unsigned backlog);
int64_t tcp_connect(struct net_core *c, uint64_t cookie, uint32_t raddr, uint16_t rport);
int tcp_accept(struct net_core *c, uint64_t handle, uint64_t cookie);
int tcp_reject(struct net_core *c, uint64_t handle);
int64_t tcp_sendv(struct net_core *c, uint64_t handle, const struct net_iov *iov, int n);
int tcp_recv_done(struct net_core *c, uint64_t handle, uint32_t bytes);
int tcp_close(struct net_core *c, uint64_t handle);
unsigned tcp_conns_in_use(struct net_core *c);

/* Post events deferred because the event array was full (call after net_events_begin). */
void tcp_flush_events(struct net_core *c);
/* The app is gone: RST every connection, close every listener (tcp_abort.c). */
void tcp_app_gone(struct net_core *c);

/* ---- tunables (per core; defaults follow Linux where the RFCs leave a choice) ---------- */

struct tcp_tunables {
    uint32_t mtu;            /* interface MTU: our MSS = mtu - 40 (MSS clamping) */
    uint32_t rcvbuf;         /* receive window ceiling per connection, bytes */
    uint32_t sndbuf;         /* bytes a connection references from the app, unacked */
    uint32_t rto_init_us, rto_min_us, rto_max_us;
    uint32_t dack_us;        /* delayed ACK timeout */
    uint32_t msl_us;         /* TIME_WAIT lasts 2 * msl */
    uint32_t fin_wait2_us;   /* FIN_WAIT_2 timeout once the app has closed */
    uint32_t ka_idle_us;     /* keepalive: 0 = off */
    uint32_t ka_intvl_us;
    uint32_t ka_probes;
    uint32_t syn_retries;    /* SYN / SYN-ACK retransmissions before giving up */
    uint32_t max_retries;    /* data retransmissions (RTOs in a row) before giving up */
    uint32_t ooo_max;        /* out-of-order mbufs held per connection */
    bool timestamps;         /* offer/accept RFC 7323 timestamps */
    bool wscale;             /* offer/accept window scaling */
    bool sack;               /* offer/accept SACK-permitted: we send SACK blocks (RFC 2018)
                              * for out-of-order data, and our sender uses the peer's for
                              * RACK-TLP loss recovery (RFC 8985) */
};
void tcp_get_tunables(struct net_core *c, struct tcp_tunables *t);
void tcp_set_tunables(struct net_core *c, const struct tcp_tunables *t);

/* ---- counters: indices into c->counters.tcp[] ---------------------------------------- */

enum tcp_counter {
    TCPC_RX_SEGS,        /* segments received (checksum ok) */
    TCPC_TX_SEGS,        /* segments handed to ipv4_output */
    TCPC_RX_BAD,         /* short, bad header length, bad checksum, broadcast */
    TCPC_RX_NO_PCB,      /* no connection or listener: answered with RST */
    TCPC_RST_TX,
    TCPC_RST_RX,         /* RSTs that reset a connection */
    TCPC_CHALLENGE_ACK,  /* RFC 5961 challenge ACKs */
    TCPC_RX_OUT_OF_WINDOW, /* unacceptable segments (answered with an ACK) */
    TCPC_OOO_QUEUED,     /* out-of-order segments queued */
    TCPC_OOO_DROPPED,    /* ... dropped (queue full / duplicate) */
    TCPC_RETRANS,        /* segments retransmitted */
    TCPC_RTO,            /* retransmission timeouts */
    TCPC_FAST_RETRANS,   /* fast retransmits (3 dup ACKs; with SACK: recovery episodes) */
    TCPC_SYN_DROPPED,    /* SYNs (or cookie ACKs) dropped: accept queue or pool full */
    TCPC_DELAYED_ACKS,   /* ACKs sent by the delayed-ACK timer */
    TCPC_PROBES,         /* zero-window and keepalive probes */
    TCPC_TX_FAIL,        /* ipv4_output or mbuf allocation failures */
    TCPC_EV_DEFERRED,    /* events deferred for a full event array */
    TCPC_DISCARDED,      /* payload bytes discarded after the app closed */
    TCPC_TW_RECYCLED,    /* TIME_WAIT connections reused because the pool was full */
    TCPC_CONN_PASSIVE,   /* connections established (passive) */
    TCPC_CONN_ACTIVE,    /* connections established (active) */
    TCPC_TIMEOUTS,       /* connections that gave up retransmitting */
    TCPC_SACK_RETRANS,   /* SACK recovery: resends of segments marked lost, other than the
                          * episode's first and other than lost retransmissions (tcp_sack.c) */
    TCPC_RACK_RETRANS,   /* retransmissions of a retransmission found lost (RACK, tcp_rack.c) */
    TCPC_RACK_LOST,      /* segments RACK marked lost (tcp_rack.c) */
    TCPC_REO_TIMEOUTS,   /* RACK reordering timer expiries that found losses */
    TCPC_TLP_PROBES,     /* tail loss probes sent (RFC 8985 §7) */
    TCPC_TLP_RECOVERIES, /* ... whose retransmission repaired a loss (cwnd reduced once) */
    TCPC_SEG_NOREC,      /* new data held back: no per-segment record to be had */
    TCPC_SYNCOOKIE_SENT, /* SYN-ACKs sent as SYN cookies (the half-open bound was reached) */
    TCPC_SYNCOOKIE_OK,   /* connections established from a valid cookie in the peer's ACK */
    TCPC_SYNCOOKIE_BAD,  /* ACKs to a listener with no connection and no valid cookie */
    TCPC_SYNCOOKIE_SUPERSEDED, /* half-open blocks replaced by the cookie connection their
                                * peer completed (its SYN was answered twice: cookie, block) */
    /* RSTs sent, by reason (with RX_NO_PCB for a segment to no connection and TIMEOUTS) */
    TCPC_RST_BAD_ACK,    /* an unacceptable ACK in SYN_RECEIVED or SYN_SENT */
    TCPC_RST_APP,        /* the app rejected or closed a connection before it was accepted,
                          * or it is gone (tcp_app_gone) */
    TCPC_COUNT
};

#endif
