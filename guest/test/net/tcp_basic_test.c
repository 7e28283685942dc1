/* TCP unit tests with a scripted peer: handshakes both ways, data both ways (zero copy),
 * every close sequence, RST handling, stale handles. Each test ends with a leak check. */
#include <string.h>

#include "tcp_testlib.h"

#define LPORT 80
#define PPORT 40000
#define PISS 1000000u

/* Passive open up to KNOCK + accept; returns the handle, *iss gets the stack's ISS. */
static uint64_t open_passive(struct tl *t, uint32_t *iss, uint64_t cookie)
{
    uint8_t o[40];
    unsigned cur = t->ntx;
    CHECK_EQ(tcp_listen(&t->c, LPORT, 8), 0);
    tt_send(t, PPORT, LPORT, PISS, 0, TCP_SYN, 65535, NULL, 0, o, tt_syn_opts(o, 100, 0));
    struct tt_seg s;
    CHECK(tt_next(t, &cur, &s));
    CHECK_EQ(s.flags, TCP_SYN | TCP_ACK);
    CHECK_EQ(s.ack, PISS + 1);
    CHECK(s.o.mss_ok && s.o.mss == 1460);
    CHECK(s.o.ws_ok && s.o.ts_ok && s.o.tsecr == 100);
    CHECK(s.o.sack_ok); /* SACK-permitted answered: our ACKs carry SACK blocks */
    *iss = s.seq;
    CHECK_EQ(t->c.ev_len, 0); /* no knock before the handshake completes */
    uint8_t ts[12];
    tcp_put_opt_ts(ts, 101, s.o.tsval);
    tt_send(t, PPORT, LPORT, PISS + 1, s.seq + 1, TCP_ACK, 512, NULL, 0, ts, 12);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_KNOCK, NULL);
    CHECK(ev != NULL);
    if (!ev)
        return 0;
    CHECK_EQ(ix_tuple_rport(ev->a1), PPORT);
    CHECK_EQ(ix_tuple_lport(ev->a1), LPORT);
    CHECK_EQ(ix_tuple_raddr(ev->a1), TL_PEER);
    CHECK_EQ(ev->a2, TL_ADDR);
    uint64_t h = ev->a0;
    CHECK_EQ(tcp_accept(&t->c, h, cookie), 0);
    tl_events_reset(t);
    return h;
}

static void ts_opt(uint8_t *o, uint32_t v) { tcp_put_opt_ts(o, v, 0); }

static void passive_echo_and_close(void)
{
    struct tl *t = tt_new();
    uint32_t iss;
    uint64_t h = open_passive(t, &iss, 77);
    uint8_t ts[12];
    ts_opt(ts, 200);
    unsigned cur = t->ntx;
    tt_send(t, PPORT, LPORT, PISS + 1, iss + 1, TCP_ACK | TCP_PSH, 512, "hello", 5, ts, 12);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL);
    if (ev) {
        CHECK_EQ(ev->cookie, 77);
        CHECK_EQ(ev->a1, 5);
        CHECK_EQ(ev->a2, h);
        CHECK(memcmp((const void *)(uintptr_t)ev->a0, "hello", 5) == 0);
        /* zero copy: the payload address lies inside the RX mbuf pool */
        CHECK(mbuf_from_addr(&t->pool, (uintptr_t)ev->a0) != NULL);
    }
    struct tt_seg s;
    CHECK(!tt_next(t, &cur, &s)); /* one segment: delayed ACK */
    /* Echo it back from the receive buffer itself. */
    struct net_iov iov = {(const void *)(uintptr_t)ev->a0, 5};
    CHECK_EQ(tcp_sendv(&t->c, h, &iov, 1), 5);
    CHECK(tt_next(t, &cur, &s));
    CHECK_EQ(s.seq, iss + 1);
    CHECK_EQ(s.ack, PISS + 6); /* the ACK rides on the data */
    CHECK_EQ(s.plen, 5);
    CHECK(memcmp(s.payload, "hello", 5) == 0);
    CHECK(s.o.ts_ok && s.o.tsecr == 200);
    CHECK_EQ(s.win, (256u * 1024 - 5) >> 3); /* rcvbuf 256 KiB, wscale 3, 5 bytes held */
    tl_events_reset(t);
    tt_send(t, PPORT, LPORT, PISS + 6, iss + 6, TCP_ACK, 512, NULL, 0, ts, 12);
    ev = tt_event(t, IX_EV_TCP_SENT, NULL);
    CHECK(ev != NULL && ev->a0 == 5 && ev->cookie == 77);
    CHECK_EQ(tcp_recv_done(&t->c, h, 5), 0);
    CHECK_EQ(tcp_recv_done(&t->c, h, 1), -IX_EINVAL);
    /* Peer closes first: EOF, then we close: LAST_ACK, then DEAD(0). */
    tl_events_reset(t);
    tt_send(t, PPORT, LPORT, PISS + 6, iss + 6, TCP_ACK | TCP_FIN, 512, NULL, 0, ts, 12);
    ev = tt_event(t, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL && ev->a1 == 0 && ev->a0 == 0);
    CHECK(tt_next(t, &cur, &s) && s.ack == PISS + 7); /* FIN acked at once */
    CHECK_EQ(tcp_close(&t->c, h), 0);
    CHECK(tt_next(t, &cur, &s));
    CHECK_EQ(s.flags, TCP_FIN | TCP_ACK);
    CHECK_EQ(s.seq, iss + 6);
    tl_events_reset(t);
    tt_send(t, PPORT, LPORT, PISS + 7, iss + 7, TCP_ACK, 512, NULL, 0, ts, 12);
    ev = tt_event(t, IX_EV_TCP_DEAD, NULL);
    CHECK(ev != NULL && ev->a0 == 0 && ev->cookie == 77);
    CHECK_EQ(tcp_conns_in_use(&t->c), 0); /* LAST_ACK -> CLOSED: no TIME_WAIT */
    CHECK_EQ(tcp_sendv(&t->c, h, &iov, 1), -IX_EBADH); /* stale handle */
    tt_free(t);
}

/* We close first: FIN_WAIT_1 -> FIN_WAIT_2 (DEAD posted) -> TIME_WAIT -> 2MSL -> freed. */
static void active_close_time_wait(void)
{
    struct tl *t = tt_new();
    uint32_t iss;
    uint64_t h = open_passive(t, &iss, 5);
    uint8_t ts[12];
    ts_opt(ts, 300);
    unsigned cur = t->ntx;
    CHECK_EQ(tcp_close(&t->c, h), 0);
    struct tt_seg s;
    CHECK(tt_next(t, &cur, &s) && s.flags == (TCP_FIN | TCP_ACK) && s.seq == iss + 1);
    tt_send(t, PPORT, LPORT, PISS + 1, iss + 2, TCP_ACK, 512, NULL, 0, ts, 12);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_DEAD, NULL);
    CHECK(ev != NULL && ev->a0 == 0);
    CHECK_EQ(tcp_conns_in_use(&t->c), 1); /* FIN_WAIT_2 */
    /* Data after close is acked and discarded; then the peer's FIN: TIME_WAIT. */
    tt_send(t, PPORT, LPORT, PISS + 1, iss + 2, TCP_ACK, 512, "late", 4, ts, 12);
    tt_send(t, PPORT, LPORT, PISS + 5, iss + 2, TCP_ACK | TCP_FIN, 512, NULL, 0, ts, 12);
    int saw = 0;
    while (tt_next(t, &cur, &s))
        saw |= s.ack == PISS + 6;
    CHECK(saw);
    CHECK_EQ(t->c.counters.tcp[TCPC_DISCARDED], 4);
    CHECK_EQ(tcp_conns_in_use(&t->c), 1); /* TIME_WAIT */
    /* A retransmitted FIN in TIME_WAIT is acked again. */
    unsigned before = t->ntx;
    tt_send(t, PPORT, LPORT, PISS + 5, iss + 2, TCP_ACK | TCP_FIN, 512, NULL, 0, ts, 12);
    CHECK(t->ntx == before + 1);
    tt_advance(t, 59000000);
    CHECK_EQ(tcp_conns_in_use(&t->c), 1);
    tt_advance(t, 2000000);
    CHECK_EQ(tcp_conns_in_use(&t->c), 0);
    tt_free(t);
}

/* Simultaneous close: both FINs cross -> CLOSING -> TIME_WAIT. */
static void simultaneous_close(void)
{
    struct tl *t = tt_new();
    uint32_t iss;
    uint64_t h = open_passive(t, &iss, 5);
    uint8_t ts[12];
    ts_opt(ts, 300);
    CHECK_EQ(tcp_close(&t->c, h), 0);
    tt_send(t, PPORT, LPORT, PISS + 1, iss + 1, TCP_ACK | TCP_FIN, 512, NULL, 0, ts, 12); /* FIN, not acking ours */
    CHECK_EQ(t->c.ev_len, 0);
    tt_send(t, PPORT, LPORT, PISS + 2, iss + 2, TCP_ACK, 512, NULL, 0, ts, 12);
    CHECK(tt_event(t, IX_EV_TCP_DEAD, NULL) != NULL);
    tt_advance(t, 61000000);
    CHECK_EQ(tcp_conns_in_use(&t->c), 0);
    tt_free(t);
}

/* Active open: SYN with our options, SYN-ACK, CONNECTED; data from us; RST from the peer. */
static void active_open_and_reset(void)
{
    struct tl *t = tt_new();
    unsigned cur = t->ntx;
    int64_t h = tcp_connect(&t->c, 9, TL_PEER, 5001);
    CHECK(h >= 0);
    struct tt_seg s;
    CHECK(tt_next(t, &cur, &s));
    CHECK_EQ(s.flags, TCP_SYN);
    CHECK(s.o.mss_ok && s.o.ws_ok && s.o.ts_ok);
    CHECK(s.sport >= 32768 && s.sport <= 60999);
    uint16_t lport = s.sport;
    uint32_t iss = s.seq;
    uint8_t o[40];
    tt_send(t, 5001, lport, PISS, iss + 1, TCP_SYN | TCP_ACK, 65535, NULL, 0, o, tt_syn_opts(o, 7, s.o.tsval));
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_CONNECTED, NULL);
    CHECK(ev != NULL && ev->cookie == 9 && ev->a0 == (uint64_t)h && ev->a1 == 0);
    CHECK(tt_next(t, &cur, &s) && s.flags == TCP_ACK && s.ack == PISS + 1);
    static const char msg[3000] = "abc";
    struct net_iov iov[2] = {{msg, 1000}, {msg + 1000, 2000}};
    CHECK_EQ(tcp_sendv(&t->c, (uint64_t)h, iov, 2), 3000);
    /* mss 1460 - 12 (timestamps) = 1448 per segment, contiguous slices merged */
    CHECK(tt_next(t, &cur, &s) && s.plen == 1448 && s.seq == iss + 1);
    CHECK(tt_next(t, &cur, &s) && s.plen == 1448 && s.seq == iss + 1 + 1448);
    CHECK(tt_next(t, &cur, &s) && s.plen == 104 && (s.flags & TCP_PSH));
    tl_events_reset(t);
    /* An in-window RST that is not exactly rcv_nxt gets a challenge ACK (RFC 5961). */
    uint8_t ts[12];
    ts_opt(ts, 8);
    tt_send(t, 5001, lport, PISS + 10, 0, TCP_RST, 0, NULL, 0, ts, 12);
    CHECK_EQ(t->c.ev_len, 0);
    CHECK(tt_next(t, &cur, &s) && s.flags == TCP_ACK && s.ack == PISS + 1);
    CHECK_EQ(t->c.counters.tcp[TCPC_CHALLENGE_ACK], 1);
    /* A SYN in ESTABLISHED: challenge ACK too. */
    tt_send(t, 5001, lport, PISS + 50, 0, TCP_SYN, 0, NULL, 0, NULL, 0);
    CHECK_EQ(t->c.counters.tcp[TCPC_CHALLENGE_ACK], 2);
    /* The exact RST resets: DEAD(ECONNRESET), app memory released, PCB freed. */
    tt_send(t, 5001, lport, PISS + 1, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    ev = tt_event(t, IX_EV_TCP_DEAD, NULL);
    CHECK(ev != NULL && ev->a0 == IX_ECONNRESET);
    CHECK_EQ(tcp_conns_in_use(&t->c), 0);
    CHECK_EQ(tcp_close(&t->c, (uint64_t)h), -IX_EBADH);
    tt_free(t);
}

/* Connection refused: RST|ACK to our SYN -> CONNECTED(ECONNREFUSED); no listener -> RST. */
static void refused_and_no_listener(void)
{
    struct tl *t = tt_new();
    unsigned cur = t->ntx;
    int64_t h = tcp_connect(&t->c, 3, TL_PEER, 81);
    struct tt_seg s;
    CHECK(tt_next(t, &cur, &s));
    tt_send(t, 81, s.sport, 0, s.seq + 1, TCP_RST | TCP_ACK, 0, NULL, 0, NULL, 0);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_CONNECTED, NULL);
    CHECK(ev != NULL && ev->a1 == IX_ECONNREFUSED && ev->a0 == (uint64_t)h);
    CHECK_EQ(tcp_conns_in_use(&t->c), 0);
    /* SYN to a closed port: RST|ACK acking the SYN. */
    tt_send(t, 1234, 4321, 555, 0, TCP_SYN, 1000, NULL, 0, NULL, 0);
    CHECK(tt_next(t, &cur, &s) && s.flags == (TCP_RST | TCP_ACK) && s.ack == 556 && s.seq == 0);
    /* ACK to a closed port: RST with seq = their ack. */
    tt_send(t, 1234, 4321, 555, 999, TCP_ACK, 1000, NULL, 0, NULL, 0);
    CHECK(tt_next(t, &cur, &s) && s.flags == TCP_RST && s.seq == 999);
    /* RST to a closed port: silence. */
    unsigned n = t->ntx;
    tt_send(t, 1234, 4321, 555, 999, TCP_RST, 1000, NULL, 0, NULL, 0);
    CHECK_EQ(t->ntx, n);
    tt_free(t);
}

/* Simultaneous open: our SYN crosses the peer's SYN. */
static void simultaneous_open(void)
{
    struct tl *t = tt_new();
    unsigned cur = t->ntx;
    int64_t h = tcp_connect(&t->c, 4, TL_PEER, 6000);
    struct tt_seg s;
    CHECK(tt_next(t, &cur, &s));
    uint16_t lport = s.sport;
    uint32_t iss = s.seq;
    tt_send(t, 6000, lport, PISS, 0, TCP_SYN, 65535, NULL, 0, NULL, 0);
    CHECK(tt_next(t, &cur, &s) && s.flags == (TCP_SYN | TCP_ACK) && s.seq == iss && s.ack == PISS + 1);
    CHECK(!s.o.ts_ok && !s.o.ws_ok); /* the peer offered neither */
    tt_send(t, 6000, lport, PISS + 1, iss + 1, TCP_ACK, 65535, NULL, 0, NULL, 0);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_CONNECTED, NULL);
    CHECK(ev != NULL && ev->a1 == 0);
    tl_events_reset(t);
    CHECK_EQ(tcp_close(&t->c, (uint64_t)h), 0);
    CHECK(tt_next(t, &cur, &s) && (s.flags & TCP_FIN));
    tt_send(t, 6000, lport, PISS + 1, iss + 2, TCP_ACK | TCP_FIN, 65535, NULL, 0, NULL, 0);
    CHECK(tt_event(t, IX_EV_TCP_DEAD, NULL) != NULL);
    tt_advance(t, 61000000);
    CHECK_EQ(tcp_conns_in_use(&t->c), 0);
    tt_free(t);
}

/* Reject, backlog limits, and a RST before accept. */
static void reject_and_backlog(void)
{
    struct tl *t = tt_new();
    CHECK_EQ(tcp_listen(&t->c, 90, 2), 0);
    CHECK_EQ(tcp_listen(&t->c, 90, 2), -IX_EADDRINUSE);
    unsigned cur = t->ntx;
    struct tt_seg s;
    for (int i = 0; i < 3; i++)
        tt_send(t, (uint16_t)(2000 + i), 90, 100u * (unsigned)i, 0, TCP_SYN, 65535, NULL, 0, NULL, 0);
    int synacks = 0;
    uint32_t iss0 = 0;
    while (tt_next(t, &cur, &s))
        if (s.flags == (TCP_SYN | TCP_ACK)) {
            if (synacks++ == 0)
                iss0 = s.seq;
        }
    /* Two half-open connections (the backlog bounds them); the third SYN gets a cookie
     * (tcp_syncookie_test.c covers what follows). */
    CHECK_EQ(synacks, 3);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYNCOOKIE_SENT], 1);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYN_DROPPED], 0);
    CHECK_EQ(tcp_conns_in_use(&t->c), 2);
    tt_send(t, 2000, 90, 1, iss0 + 1, TCP_ACK, 65535, NULL, 0, NULL, 0);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_KNOCK, NULL);
    CHECK(ev != NULL);
    uint64_t h = ev ? ev->a0 : 0;
    CHECK_EQ(tcp_reject(&t->c, h), 0);
    CHECK(tt_next(t, &cur, &s) && (s.flags & TCP_RST));
    CHECK_EQ(tcp_accept(&t->c, h, 1), -IX_EBADH);
    CHECK_EQ(tcp_conns_in_use(&t->c), 1);
    /* The other embryonic connection gives up after the SYN-ACK retries. */
    for (int i = 0; i < 200; i++)
        tt_advance(t, 1000000);
    CHECK_EQ(tcp_conns_in_use(&t->c), 0);
    tt_free(t);
}

int main(void)
{
    CHECK_RUN(passive_echo_and_close);
    CHECK_RUN(active_close_time_wait);
    CHECK_RUN(simultaneous_close);
    CHECK_RUN(active_open_and_reset);
    CHECK_RUN(refused_and_no_listener);
    CHECK_RUN(simultaneous_open);
    CHECK_RUN(reject_and_backlog);
    return check_summary("tcp_basic_test");
}
