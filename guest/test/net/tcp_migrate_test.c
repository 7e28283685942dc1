/* Moving a TCP connection between two cores (tcp_migrate.h): two stacks with the same
 * address stand for two cores, one scripted Linux-like peer talks to whichever holds the
 * connection. A connection moved while the peer keeps sending goes on, byte for byte, with
 * sequence numbers, timestamps and windows continuous, and the peer never sees a reset. */
#include <string.h>

#include "tcp_testlib.h"
#include "../../net/tcp_migrate.h"

#define LPORT 7
#define PPORT 40000
#define PISS 1000000u

static uint32_t tsv = 100;

static uint32_t ts(uint8_t *o, uint32_t ecr)
{
    tcp_put_opt_ts(o, tsv++, ecr);
    return 12;
}

/* Passive open up to KNOCK + accept on t (listening on LPORT); *iss gets the stack's ISS. */
static uint64_t open_passive(struct tl *t, uint32_t *iss, uint64_t cookie, uint32_t *ecr)
{
    uint8_t o[40];
    unsigned cur = t->ntx;
    CHECK_EQ(tcp_listen(&t->c, LPORT, 8), 0);
    tt_send(t, PPORT, LPORT, PISS, 0, TCP_SYN, 65535, NULL, 0, o, tt_syn_opts(o, tsv++, 0));
    struct tt_seg s;
    CHECK(tt_next(t, &cur, &s));
    *iss = s.seq;
    *ecr = s.o.tsval;
    tt_send(t, PPORT, LPORT, PISS + 1, s.seq + 1, TCP_ACK, 512, NULL, 0, o, ts(o, *ecr));
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_KNOCK, NULL);
    CHECK(ev != NULL);
    if (!ev)
        return 0;
    uint64_t h = ev->a0;
    CHECK_EQ(tcp_accept(&t->c, h, cookie), 0);
    tl_events_reset(t);
    return h;
}

/* open_passive on t, with the peer's next sequence number (*pseq), ours (*sseq), and g
 * naming the connection's flow group. */
static uint64_t open_grouped(struct tl *t, uint64_t cookie, uint32_t *pseq, uint32_t *sseq, uint32_t *ecr,
                             struct tcp_mig_groups *g)
{
    uint32_t iss;
    uint64_t h = open_passive(t, &iss, cookie, ecr);
    *pseq = PISS + 1;
    *sseq = iss + 1;
    *g = (struct tcp_mig_groups){0};
    tcp_mig_add(g, tcp_mig_group(&t->c, TL_PEER, PPORT, LPORT));
    return h;
}

/* The peer sends msg at seq; the app (t, handle h) gets it, echoes it from the buffer, the
 * peer acknowledges, the app gives the buffer back. *sseq: our next sequence number. */
static void echo_round(struct tl *t, uint64_t h, uint32_t *pseq, uint32_t *sseq, const char *msg, uint32_t *ecr)
{
    uint8_t o[12];
    uint32_t n = (uint32_t)strlen(msg);
    unsigned cur = t->ntx;
    tl_events_reset(t);
    tt_send(t, PPORT, LPORT, *pseq, *sseq, TCP_ACK | TCP_PSH, 512, msg, n, o, ts(o, *ecr));
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL && ev->a1 == n && ev->a2 == h);
    if (!ev)
        return;
    CHECK(memcmp((const void *)(uintptr_t)ev->a0, msg, n) == 0);
    struct net_iov iov = {(const void *)(uintptr_t)ev->a0, n};
    CHECK_EQ(tcp_sendv(&t->c, h, &iov, 1), (int64_t)n);
    struct tt_seg s;
    CHECK(tt_next(t, &cur, &s));
    CHECK_EQ(s.seq, *sseq);
    CHECK_EQ(s.ack, *pseq + n);
    CHECK_EQ(s.plen, n);
    CHECK(memcmp(s.payload, msg, n) == 0);
    CHECK(!(s.flags & TCP_RST));
    CHECK(s.o.ts_ok);
    *ecr = s.o.tsval;
    *pseq += n;
    *sseq += n;
    tl_events_reset(t);
    tt_send(t, PPORT, LPORT, *pseq, *sseq, TCP_ACK, 512, NULL, 0, o, ts(o, *ecr));
    ev = tt_event(t, IX_EV_TCP_SENT, NULL);
    CHECK(ev != NULL && ev->a0 == n);
    CHECK_EQ(tcp_recv_done(&t->c, h, n), 0);
    tl_events_reset(t);
}

static void no_reset_since(struct tl *t, unsigned cur)
{
    struct tt_seg s;
    while (tt_next(t, &cur, &s))
        CHECK(!(s.flags & TCP_RST));
}

/* Moved while the peer keeps sending: what arrived during the drain is read on the new core
 * first, then the conversation goes on there and closes cleanly. */
static void move_busy_peer(void)
{
    struct tl *a = tt_new(), *b = tt_new();
    CHECK_EQ(tcp_listen(&b->c, LPORT, 8), 0);
    uint32_t iss, ecr;
    uint64_t h = open_passive(a, &iss, 77, &ecr);
    uint32_t pseq = PISS + 1, sseq = iss + 1;
    echo_round(a, h, &pseq, &sseq, "hello", &ecr);
    unsigned cur_a = a->ntx;

    struct tcp_mig_groups g = {0};
    tcp_mig_add(&g, tcp_mig_group(&a->c, TL_PEER, PPORT, LPORT));
    tcp_mig_hold(&a->c, &g);
    /* the peer sends two more messages: held in the kernel, not posted to the app */
    uint8_t o[12];
    tt_send(a, PPORT, LPORT, pseq, sseq, TCP_ACK | TCP_PSH, 512, "world", 5, o, ts(o, ecr));
    tt_send(a, PPORT, LPORT, pseq + 5, sseq, TCP_ACK | TCP_PSH, 512, "again", 5, o, ts(o, ecr));
    CHECK(tt_event(a, IX_EV_TCP_RECV, NULL) == NULL);
    uint32_t total, busy;
    tcp_mig_count(&a->c, &g, &total, &busy);
    CHECK_EQ(total, 1);
    CHECK_EQ(busy, 0);

    struct tcp_mig_rec recs[4];
    tl_events_reset(a);
    CHECK_EQ(tcp_mig_export(&a->c, &g, recs, 4), 1);
    const struct ix_event *ev = tt_event(a, IX_EV_TCP_DEAD, NULL);
    CHECK(ev != NULL && ev->a0 == IX_EMOVED && ev->cookie == 77);
    CHECK_EQ(tcp_conns_in_use(&a->c), 0);
    CHECK_EQ(recs[0].rq_bytes, 10);
    tcp_mig_hold(&a->c, NULL);
    /* whatever a sent during the hand-over (an ACK of the held data) is no reset */
    struct tt_seg s;
    uint32_t acked = 0;
    while (tt_next(a, &cur_a, &s)) {
        CHECK(!(s.flags & TCP_RST));
        acked = s.ack;
    }
    CHECK(acked == 0 || acked == pseq + 10);

    unsigned cur_b = b->ntx;
    CHECK_EQ(tcp_mig_import(&b->c, &recs[0]), 0);
    CHECK_EQ(tcp_mig_import(&b->c, &recs[0]), -IX_EADDRINUSE);
    tcp_mig_release(recs, 1);
    CHECK_EQ(a->pool.in_use, 0); /* the held payload went back to a's pool */
    ev = tt_event(b, IX_EV_TCP_KNOCK, NULL);
    CHECK(ev != NULL);
    if (!ev)
        return;
    CHECK_EQ(ix_tuple_rport(ev->a1), PPORT);
    CHECK_EQ(ix_tuple_lport(ev->a1), LPORT);
    uint64_t hb = ev->a0;
    tl_events_reset(b);
    CHECK_EQ(tcp_accept(&b->c, hb, 88), 0);
    ev = tt_event(b, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL && ev->cookie == 88);
    uint32_t got = 0;
    char buf[16];
    for (unsigned from = 0; (ev = tt_event(b, IX_EV_TCP_RECV, &from)) != NULL;) {
        CHECK(got + ev->a1 <= sizeof buf);
        memcpy(buf + got, (const void *)(uintptr_t)ev->a0, ev->a1);
        got += (uint32_t)ev->a1;
    }
    CHECK_EQ(got, 10);
    CHECK(memcmp(buf, "worldagain", 10) == 0);
    /* the app on b echoes it: the sequence continues where a left it */
    struct net_iov iov = {buf, 10};
    CHECK_EQ(tcp_sendv(&b->c, hb, &iov, 1), 10);
    CHECK(tt_next(b, &cur_b, &s));
    CHECK_EQ(s.seq, sseq);
    CHECK_EQ(s.ack, pseq + 10);
    CHECK(s.o.ts_ok && s.o.tsecr == tsv - 1);
    CHECK(memcmp(s.payload, "worldagain", 10) == 0);
    ecr = s.o.tsval;
    pseq += 10;
    sseq += 10;
    tl_events_reset(b);
    tt_send(b, PPORT, LPORT, pseq, sseq, TCP_ACK, 512, NULL, 0, o, ts(o, ecr));
    CHECK((ev = tt_event(b, IX_EV_TCP_SENT, NULL)) != NULL && ev->a0 == 10);
    CHECK_EQ(tcp_recv_done(&b->c, hb, 10), 0);
    echo_round(b, hb, &pseq, &sseq, "on the new core", &ecr);
    /* the peer closes; so do we: a clean close on b */
    tl_events_reset(b);
    tt_send(b, PPORT, LPORT, pseq, sseq, TCP_ACK | TCP_FIN, 512, NULL, 0, o, ts(o, ecr));
    CHECK((ev = tt_event(b, IX_EV_TCP_RECV, NULL)) != NULL && ev->a1 == 0);
    CHECK_EQ(tcp_close(&b->c, hb), 0);
    tl_events_reset(b);
    tt_send(b, PPORT, LPORT, pseq + 1, sseq + 1, TCP_ACK, 512, NULL, 0, o, ts(o, ecr));
    CHECK((ev = tt_event(b, IX_EV_TCP_DEAD, NULL)) != NULL && ev->a0 == 0);
    no_reset_since(b, cur_b);
    CHECK_EQ(tcp_conns_in_use(&b->c), 0);
    tt_free(a);
    tt_free(b);
}

/* Not quiescent: bytes in flight, or posted and unread. Export waits; the hold lifted posts
 * what was held. */
static void busy_connection_waits(void)
{
    struct tl *a = tt_new();
    uint32_t pseq, sseq, ecr;
    struct tcp_mig_groups g;
    uint64_t h = open_grouped(a, 5, &pseq, &sseq, &ecr, &g);
    uint8_t o[12];
    /* posted, not read yet */
    tt_send(a, PPORT, LPORT, pseq, sseq, TCP_ACK | TCP_PSH, 512, "abc", 3, o, ts(o, ecr));
    const struct ix_event *ev = tt_event(a, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL);
    tcp_mig_hold(&a->c, &g);
    uint32_t total, busy;
    struct tcp_mig_rec rec;
    tcp_mig_count(&a->c, &g, &total, &busy);
    CHECK(total == 1 && busy == 1);
    CHECK_EQ(tcp_mig_export(&a->c, &g, &rec, 1), -IX_EAGAIN);
    /* echoed: in flight until acknowledged */
    struct net_iov iov = {(const void *)(uintptr_t)ev->a0, 3};
    CHECK_EQ(tcp_sendv(&a->c, h, &iov, 1), 3);
    tcp_mig_count(&a->c, &g, &total, &busy);
    CHECK_EQ(busy, 1);
    tl_events_reset(a);
    tt_send(a, PPORT, LPORT, pseq + 3, sseq + 3, TCP_ACK, 512, NULL, 0, o, ts(o, ecr));
    CHECK(tt_event(a, IX_EV_TCP_SENT, NULL) != NULL); /* reported even while held */
    CHECK_EQ(tcp_recv_done(&a->c, h, 3), 0);
    tcp_mig_count(&a->c, &g, &total, &busy);
    CHECK_EQ(busy, 0);
    /* too many for the records given */
    CHECK_EQ(tcp_mig_export(&a->c, &g, &rec, 0), -IX_ENOMEM);
    /* data during the hold, then the move is called off: the app gets it */
    tl_events_reset(a);
    tt_send(a, PPORT, LPORT, pseq + 3, sseq + 3, TCP_ACK | TCP_PSH, 512, "xyz", 3, o, ts(o, ecr));
    CHECK(tt_event(a, IX_EV_TCP_RECV, NULL) == NULL);
    tcp_mig_hold(&a->c, NULL);
    ev = tt_event(a, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL && ev->a1 == 3 && memcmp((const void *)(uintptr_t)ev->a0, "xyz", 3) == 0);
    CHECK_EQ(tcp_recv_done(&a->c, h, 3), 0);
    /* a connection outside the groups is not counted */
    struct tcp_mig_groups none = {0};
    tcp_mig_add(&none, 511);
    tcp_mig_count(&a->c, &none, &total, &busy);
    CHECK_EQ(total, tcp_mig_group(&a->c, TL_PEER, PPORT, LPORT) == 511 ? 1u : 0u);
    CHECK_EQ(tcp_close(&a->c, h), 0);
    tl_events_reset(a);
    tt_send(a, PPORT, LPORT, pseq + 6, sseq + 4, TCP_ACK | TCP_FIN, 512, NULL, 0, o, ts(o, ecr));
    tt_advance(a, 120ull * 1000 * 1000); /* TIME_WAIT over */
    tt_free(a);
}

/* The peer's FIN arrived during the hold: the new core reports the data, then the end. */
static void move_after_peer_fin(void)
{
    struct tl *a = tt_new(), *b = tt_new();
    CHECK_EQ(tcp_listen(&b->c, LPORT, 8), 0);
    uint32_t pseq, sseq, ecr;
    struct tcp_mig_groups g;
    (void)open_grouped(a, 1, &pseq, &sseq, &ecr, &g);
    tcp_mig_hold(&a->c, &g);
    uint8_t o[12];
    tt_send(a, PPORT, LPORT, pseq, sseq, TCP_ACK | TCP_PSH | TCP_FIN, 512, "bye", 3, o, ts(o, ecr));
    CHECK(tt_event(a, IX_EV_TCP_RECV, NULL) == NULL);
    struct tcp_mig_rec rec;
    CHECK_EQ(tcp_mig_export(&a->c, &g, &rec, 1), 1);
    CHECK_EQ(rec.state, 7 /* CLOSE_WAIT */);
    tcp_mig_hold(&a->c, NULL);
    CHECK_EQ(tcp_mig_import(&b->c, &rec), 0);
    tcp_mig_release(&rec, 1);
    const struct ix_event *ev = tt_event(b, IX_EV_TCP_KNOCK, NULL);
    CHECK(ev != NULL);
    if (!ev)
        return;
    uint64_t hb = ev->a0;
    tl_events_reset(b);
    CHECK_EQ(tcp_accept(&b->c, hb, 2), 0);
    unsigned from = 0;
    ev = tt_event(b, IX_EV_TCP_RECV, &from);
    CHECK(ev != NULL && ev->a1 == 3 && memcmp((const void *)(uintptr_t)ev->a0, "bye", 3) == 0);
    ev = tt_event(b, IX_EV_TCP_RECV, &from);
    CHECK(ev != NULL && ev->a1 == 0); /* EOF after the data */
    unsigned cur = b->ntx;
    CHECK_EQ(tcp_recv_done(&b->c, hb, 3), 0);
    CHECK_EQ(tcp_close(&b->c, hb), 0);
    struct tt_seg s;
    CHECK(tt_next(b, &cur, &s));
    CHECK_EQ(s.flags, TCP_FIN | TCP_ACK);
    CHECK_EQ(s.seq, sseq);
    CHECK_EQ(s.ack, pseq + 4);
    tl_events_reset(b);
    tt_send(b, PPORT, LPORT, pseq + 4, sseq + 1, TCP_ACK, 512, NULL, 0, o, ts(o, s.o.tsval));
    CHECK((ev = tt_event(b, IX_EV_TCP_DEAD, NULL)) != NULL && ev->a0 == 0);
    tt_free(a);
    tt_free(b);
}

/* An app that holds part of a request (bytes given to it, nothing of its own in flight)
 * waits for input: during the drain it still gets the rest, or it could never give the
 * bytes back and the move would wait for nothing. An app that has answered since its last
 * input gets nothing new, before or after its answer is acknowledged (echo keeps its bytes
 * until the echo is acknowledged, and a busy peer would keep it answering forever): it gives
 * the bytes back, and the held input moves with the record. */
static void app_waiting_for_input(void)
{
    struct tl *a = tt_new();
    uint32_t pseq, sseq, ecr;
    struct tcp_mig_groups g;
    uint64_t h = open_grouped(a, 9, &pseq, &sseq, &ecr, &g);
    uint8_t o[12];
    tt_send(a, PPORT, LPORT, pseq, sseq, TCP_ACK | TCP_PSH, 512, "set k 0 0 5\r\n01", 15, o, ts(o, ecr));
    CHECK(tt_event(a, IX_EV_TCP_RECV, NULL) != NULL); /* held by the app: half a command */
    pseq += 15;
    tcp_mig_hold(&a->c, &g);
    uint32_t total, busy;
    tcp_mig_count(&a->c, &g, &total, &busy);
    CHECK(total == 1 && busy == 1);
    tl_events_reset(a);
    tt_send(a, PPORT, LPORT, pseq, sseq, TCP_ACK | TCP_PSH, 512, "234\r\n", 5, o, ts(o, ecr));
    const struct ix_event *ev = tt_event(a, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL && ev->a1 == 5 && memcmp((const void *)(uintptr_t)ev->a0, "234\r\n", 5) == 0);
    pseq += 5;
    /* the reply goes out; the app keeps the bytes until it is acknowledged */
    static const char stored[] = "STORED\r\n";
    struct net_iov iov = {stored, 8};
    CHECK_EQ(tcp_sendv(&a->c, h, &iov, 1), 8);
    tl_events_reset(a);
    tt_send(a, PPORT, LPORT, pseq, sseq, TCP_ACK | TCP_PSH, 512, "get k\r", 6, o, ts(o, ecr));
    CHECK(tt_event(a, IX_EV_TCP_RECV, NULL) == NULL); /* its reply is unacknowledged */
    pseq += 6;
    /* the acknowledgement and more input in one segment: the app hears of the ACK first */
    tt_send(a, PPORT, LPORT, pseq, sseq + 8, TCP_ACK | TCP_PSH, 512, "\n", 1, o, ts(o, ecr));
    CHECK(tt_event(a, IX_EV_TCP_SENT, NULL) != NULL);
    CHECK(tt_event(a, IX_EV_TCP_RECV, NULL) == NULL);
    pseq += 1;
    tl_events_reset(a);
    tt_advance(a, 20 * 1000);
    unsigned from = 0;
    uint32_t got = 0;
    while ((ev = tt_event(a, IX_EV_TCP_RECV, &from)) != NULL)
        got += (uint32_t)ev->a1;
    /* it answered the input it holds: it gets no more during the drain, even after hearing
     * of the ACK (an echo app that is always answering would otherwise never go quiet) */
    CHECK_EQ(got, 0);
    CHECK_EQ(tcp_recv_done(&a->c, h, 20), 0);
    tcp_mig_count(&a->c, &g, &total, &busy);
    CHECK_EQ(busy, 0);
    /* now it holds nothing: input waits in the kernel and goes with the record */
    tl_events_reset(a);
    tt_send(a, PPORT, LPORT, pseq, sseq + 8, TCP_ACK | TCP_PSH, 512, "get k\r\n", 7, o, ts(o, ecr));
    tt_advance(a, 20 * 1000);
    CHECK(tt_event(a, IX_EV_TCP_RECV, NULL) == NULL);
    struct tcp_mig_rec rec;
    CHECK_EQ(tcp_mig_export(&a->c, &g, &rec, 1), 1);
    CHECK_EQ(rec.rq_bytes, 14); /* "get k\r\n" twice, in order */
    tcp_mig_hold(&a->c, NULL);
    tcp_mig_release(&rec, 1);
    CHECK_EQ(a->pool.in_use, 0);
    tt_free(a);
}

/* Echo answered "a", then got "b" before the move began and has not run since: it has sent
 * nothing since its last input. The ACK of its answer arrives during the drain with "c" in the
 * same segment: "c" is posted with the SENT, since the app may be waiting for input (holding
 * it back a round would change nothing: the next round's start posts deferred events before
 * the app's calls run). Once it has answered "b" and "c", it gets nothing more: "d" stays in
 * the kernel and moves with the record. */
static void input_with_ack_during_drain(void)
{
    struct tl *a = tt_new();
    uint32_t pseq, sseq, ecr;
    struct tcp_mig_groups g;
    uint64_t h = open_grouped(a, 11, &pseq, &sseq, &ecr, &g);
    uint8_t o[12];
    tt_send(a, PPORT, LPORT, pseq, sseq, TCP_ACK | TCP_PSH, 512, "a", 1, o, ts(o, ecr));
    const struct ix_event *ev = tt_event(a, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL && ev->a1 == 1);
    if (!ev)
        return;
    struct net_iov iov = {(const void *)(uintptr_t)ev->a0, 1};
    CHECK_EQ(tcp_sendv(&a->c, h, &iov, 1), 1);
    pseq += 1;
    tl_events_reset(a);
    tt_send(a, PPORT, LPORT, pseq, sseq, TCP_ACK | TCP_PSH, 512, "b", 1, o, ts(o, ecr));
    unsigned from = 0;
    ev = tt_event(a, IX_EV_TCP_RECV, &from);
    CHECK(ev != NULL && ev->a1 == 1); /* before the move: posted as always */
    if (!ev)
        return;
    iov = (struct net_iov){(const void *)(uintptr_t)ev->a0, 1};
    pseq += 1;
    tcp_mig_hold(&a->c, &g);
    tt_send(a, PPORT, LPORT, pseq, sseq + 1, TCP_ACK | TCP_PSH, 512, "c", 1, o, ts(o, ecr));
    pseq += 1;
    unsigned at = from;
    CHECK((ev = tt_event(a, IX_EV_TCP_SENT, &at)) != NULL && ev->a0 == 1);
    const struct ix_event *c_ev = tt_event(a, IX_EV_TCP_RECV, &from);
    CHECK(c_ev != NULL && c_ev->a1 == 1 && memcmp((const void *)(uintptr_t)c_ev->a0, "c", 1) == 0);
    CHECK(tt_event(a, IX_EV_TCP_RECV, &from) == NULL);
    if (!c_ev)
        return;
    /* echo answers "b" and "c" and gives "a" back */
    struct net_iov c_iov = {(const void *)(uintptr_t)c_ev->a0, 1};
    CHECK_EQ(tcp_sendv(&a->c, h, &iov, 1), 1);
    CHECK_EQ(tcp_sendv(&a->c, h, &c_iov, 1), 1);
    CHECK_EQ(tcp_recv_done(&a->c, h, 1), 0);
    tl_events_reset(a);
    /* their ACK with "d": it answered, so "d" waits, before and after it heard of the ACK */
    tt_send(a, PPORT, LPORT, pseq, sseq + 3, TCP_ACK | TCP_PSH, 512, "d", 1, o, ts(o, ecr));
    pseq += 1;
    CHECK((ev = tt_event(a, IX_EV_TCP_SENT, NULL)) != NULL && ev->a0 == 2);
    CHECK(tt_event(a, IX_EV_TCP_RECV, NULL) == NULL);
    tl_events_reset(a);
    tt_advance(a, 20 * 1000);
    CHECK(tt_event(a, IX_EV_TCP_RECV, NULL) == NULL);
    CHECK_EQ(tcp_recv_done(&a->c, h, 2), 0);
    uint32_t total, busy;
    tcp_mig_count(&a->c, &g, &total, &busy);
    CHECK(total == 1 && busy == 0);
    struct tcp_mig_rec rec;
    CHECK_EQ(tcp_mig_export(&a->c, &g, &rec, 1), 1);
    CHECK_EQ(rec.rq_bytes, 1); /* "d" moves with the record */
    tcp_mig_hold(&a->c, NULL);
    tcp_mig_release(&rec, 1);
    CHECK_EQ(a->pool.in_use, 0);
    tt_free(a);
}

int main(void)
{
    CHECK_RUN(move_busy_peer);
    CHECK_RUN(busy_connection_waits);
    CHECK_RUN(move_after_peer_fin);
    CHECK_RUN(app_waiting_for_input);
    CHECK_RUN(input_with_ack_during_drain);
    return check_summary("tcp_migrate_test");
}
