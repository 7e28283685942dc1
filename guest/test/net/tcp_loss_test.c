/* TCP loss and flow-control paths with a scripted peer and the fake clock: RTO with
 * exponential backoff and give-up, fast retransmit on 3 duplicate ACKs, out-of-order and
 * duplicate segments, zero window and probes, window update on recv_done, delayed ACK. */
#include <string.h>

#include "tcp_testlib.h"

#define PISS 5000u

struct conn {
    struct tl *t;
    uint64_t h;
    uint16_t lport;
    uint32_t iss;
    unsigned cur;
};

/* Active open without timestamps/wscale (plain segments keep the checks simple). */
static void open_conn(struct conn *k, uint16_t win)
{
    k->t = tt_new();
    k->cur = k->t->ntx;
    k->h = (uint64_t)tcp_connect(&k->t->c, 1, TL_PEER, 7000);
    struct tt_seg s;
    CHECK(tt_next(k->t, &k->cur, &s));
    k->lport = s.sport;
    k->iss = s.seq;
    uint8_t o[4];
    tcp_put_opt_mss(o, 1000);
    tt_send(k->t, 7000, k->lport, PISS, k->iss + 1, TCP_SYN | TCP_ACK, win, NULL, 0, o, 4);
    CHECK(tt_event(k->t, IX_EV_TCP_CONNECTED, NULL) != NULL);
    while (tt_next(k->t, &k->cur, &s)) {
    }
    tl_events_reset(k->t);
}

static void peer(struct conn *k, uint32_t seq, uint32_t ack, uint8_t fl, uint16_t win, const void *d, uint32_t n)
{
    tt_send(k->t, 7000, k->lport, seq, ack, fl, win, d, n, NULL, 0);
}

static void rto_backoff_and_give_up(void)
{
    struct conn k;
    open_conn(&k, 65535);
    struct tcp_tunables tun;
    tcp_get_tunables(&k.t->c, &tun);
    tun.max_retries = 3;
    tcp_set_tunables(&k.t->c, &tun);
    static const char data[100] = "x";
    struct net_iov iov = {data, 100};
    CHECK_EQ(tcp_sendv(&k.t->c, k.h, &iov, 1), 100);
    struct tt_seg s;
    CHECK(tt_next(k.t, &k.cur, &s) && s.plen == 100);
    /* No ACK: the handshake's RTT sample (~0 on the fake clock) gives RTO = rto_min
     * (200 ms); retransmissions come 200, 400, 800 ms apart (RFC 6298 §5.5 doubling). */
    uint64_t gaps[3] = {200000, 400000, 800000};
    for (int i = 0; i < 3; i++) {
        tt_advance(k.t, gaps[i] - 1000);
        CHECK(!tt_next(k.t, &k.cur, &s));
        tt_advance(k.t, 1000);
        CHECK(tt_next(k.t, &k.cur, &s) && s.seq == k.iss + 1 && s.plen == 100);
    }
    CHECK_EQ(k.t->c.counters.tcp[TCPC_RTO], 3);
    tt_advance(k.t, 1600000); /* 4th timeout > max_retries: RST and DEAD(ETIMEDOUT) */
    CHECK(tt_next(k.t, &k.cur, &s) && (s.flags & TCP_RST));
    const struct ix_event *ev = tt_event(k.t, IX_EV_TCP_DEAD, NULL);
    CHECK(ev != NULL && ev->a0 == IX_ETIMEDOUT);
    tt_free(k.t);
}

static void fast_retransmit(void)
{
    struct conn k;
    open_conn(&k, 65535);
    static char data[6000];
    memset(data, 'a', sizeof(data));
    struct net_iov iov = {data, 6000};
    CHECK_EQ(tcp_sendv(&k.t->c, k.h, &iov, 1), 6000);
    struct tt_seg s;
    int segs = 0;
    while (tt_next(k.t, &k.cur, &s))
        segs++;
    CHECK_EQ(segs, 6); /* mss 1000, initial window 10 segments */
    /* First segment lost: three duplicate ACKs for iss+1 -> retransmit it at once. */
    for (int i = 0; i < 3; i++)
        peer(&k, PISS + 1, k.iss + 1, TCP_ACK, 65535, NULL, 0);
    CHECK(tt_next(k.t, &k.cur, &s) && s.seq == k.iss + 1 && s.plen == 1000);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_FAST_RETRANS], 1);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_RTO], 0);
    peer(&k, PISS + 1, k.iss + 6001, TCP_ACK, 65535, NULL, 0);
    const struct ix_event *ev = tt_event(k.t, IX_EV_TCP_SENT, NULL);
    CHECK(ev != NULL && ev->a0 == 6000);
    tcp_close(&k.t->c, k.h);
    peer(&k, PISS + 1, k.iss + 6002, TCP_ACK | TCP_FIN, 65535, NULL, 0);
    tt_advance(k.t, 61000000);
    tt_free(k.t);
}

static void out_of_order_and_duplicates(void)
{
    struct conn k;
    open_conn(&k, 65535);
    struct tt_seg s;
    peer(&k, PISS + 1 + 10, k.iss + 1, TCP_ACK, 65535, "klmnopqrst", 10); /* hole at 1..10 */
    CHECK(tt_next(k.t, &k.cur, &s) && s.ack == PISS + 1); /* immediate duplicate ACK */
    CHECK(tt_event(k.t, IX_EV_TCP_RECV, NULL) == NULL);
    peer(&k, PISS + 1 + 10, k.iss + 1, TCP_ACK, 65535, "klmnopqrst", 10); /* duplicate */
    peer(&k, PISS + 1, k.iss + 1, TCP_ACK, 65535, "abcdefghij", 10);    /* fills the hole */
    CHECK(tt_next(k.t, &k.cur, &s));
    while (tt_next(k.t, &k.cur, &s)) {
    }
    CHECK_EQ(s.ack, PISS + 21);
    unsigned from = 0;
    const struct ix_event *a = tt_event(k.t, IX_EV_TCP_RECV, &from);
    const struct ix_event *b = tt_event(k.t, IX_EV_TCP_RECV, &from);
    CHECK(a && b && a->a1 == 10 && b->a1 == 10);
    if (a && b) {
        CHECK(memcmp((void *)(uintptr_t)a->a0, "abcdefghij", 10) == 0);
        CHECK(memcmp((void *)(uintptr_t)b->a0, "klmnopqrst", 10) == 0);
    }
    /* An old retransmission overlapping delivered data: only new bytes are delivered. */
    tl_events_reset(k.t);
    peer(&k, PISS + 16, k.iss + 1, TCP_ACK, 65535, "pqrstUVWXY", 10);
    a = tt_event(k.t, IX_EV_TCP_RECV, NULL);
    CHECK(a && a->a1 == 5 && memcmp((void *)(uintptr_t)a->a0, "UVWXY", 5) == 0);
    CHECK_EQ(tcp_recv_done(&k.t->c, k.h, 25), 0);
    tcp_close(&k.t->c, k.h);
    peer(&k, PISS + 26, k.iss + 2, TCP_ACK | TCP_FIN, 65535, NULL, 0);
    tt_advance(k.t, 61000000);
    tt_free(k.t);
}

static void zero_window_and_probe(void)
{
    struct conn k;
    open_conn(&k, 0); /* peer's window is zero from the start */
    static const char data[500] = "z";
    struct net_iov iov = {data, 500};
    CHECK_EQ(tcp_sendv(&k.t->c, k.h, &iov, 1), 500);
    struct tt_seg s;
    CHECK(!tt_next(k.t, &k.cur, &s)); /* nothing may be sent */
    tt_advance(k.t, 1000000);
    CHECK(tt_next(k.t, &k.cur, &s) && s.plen == 0 && s.seq == k.iss); /* probe: snd_una - 1 */
    CHECK_EQ(k.t->c.counters.tcp[TCPC_PROBES], 1);
    tt_advance(k.t, 2000000); /* backed off: next probe 2 s later */
    CHECK(tt_next(k.t, &k.cur, &s) && s.plen == 0);
    peer(&k, PISS + 1, k.iss + 1, TCP_ACK, 1000, NULL, 0); /* window opens */
    CHECK(tt_next(k.t, &k.cur, &s) && s.plen == 500);
    peer(&k, PISS + 1, k.iss + 501, TCP_ACK, 1000, NULL, 0);
    tcp_close(&k.t->c, k.h);
    peer(&k, PISS + 1, k.iss + 502, TCP_ACK | TCP_FIN, 1000, NULL, 0);
    tt_advance(k.t, 61000000);
    tt_free(k.t);
}

static void delayed_ack_and_window_update(void)
{
    struct conn k;
    open_conn(&k, 65535);
    struct tcp_tunables tun;
    tcp_get_tunables(&k.t->c, &tun);
    struct tt_seg s;
    static char d[1000];
    peer(&k, PISS + 1, k.iss + 1, TCP_ACK, 65535, d, 1000);
    CHECK(!tt_next(k.t, &k.cur, &s)); /* one segment: ACK delayed */
    tt_advance(k.t, tun.dack_us - 1000);
    CHECK(!tt_next(k.t, &k.cur, &s));
    tt_advance(k.t, 1000);
    CHECK(tt_next(k.t, &k.cur, &s) && s.ack == PISS + 1001);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_DELAYED_ACKS], 1);
    /* Two segments: ACK at once. */
    peer(&k, PISS + 1001, k.iss + 1, TCP_ACK, 65535, d, 1000);
    peer(&k, PISS + 2001, k.iss + 1, TCP_ACK, 65535, d, 1000);
    CHECK(tt_next(k.t, &k.cur, &s) && s.ack == PISS + 3001);
    uint16_t w_before = s.win;
    /* Give the bytes back: the window grows, and a large enough growth is announced. */
    CHECK_EQ(tcp_recv_done(&k.t->c, k.h, 3000), 0);
    while (tt_next(k.t, &k.cur, &s)) {
    }
    CHECK(s.win >= w_before);
    tcp_close(&k.t->c, k.h);
    peer(&k, PISS + 3001, k.iss + 2, TCP_ACK | TCP_FIN, 65535, NULL, 0);
    tt_advance(k.t, 61000000);
    tt_free(k.t);
}

int main(void)
{
    CHECK_RUN(rto_backoff_and_give_up);
    CHECK_RUN(fast_retransmit);
    CHECK_RUN(out_of_order_and_duplicates);
    CHECK_RUN(zero_window_and_probe);
    CHECK_RUN(delayed_ack_and_window_update);
    return check_summary("tcp_loss_test");
}
