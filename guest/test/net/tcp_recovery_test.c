/* TCP loss recovery details, keepalive and event deferral, with a scripted peer and the fake
 * clock: NewReno partial ACKs (RFC 6582), limited transmit (RFC 3042), early retransmit
 * (RFC 5827), keepalive probes and give-up, and events deferred while the event array is
 * full, delivered in order by the next net_events_begin with none lost; SACK blocks. */
#include <stdio.h>
#include <string.h>

#include "tcp_testlib.h"
#include "../../net/tcp_int.h"

#define PISS 7000u
#define PPORT 7000
#define MSS 1000u

struct conn {
    struct tl *t;
    uint64_t h;
    uint16_t lport;
    uint32_t iss;
    unsigned cur;
};

/* Active open without timestamps/wscale, the peer's MSS 1000. */
static void open_conn(struct conn *k)
{
    k->t = tt_new();
    k->cur = k->t->ntx;
    k->h = (uint64_t)tcp_connect(&k->t->c, 1, TL_PEER, PPORT);
    struct tt_seg s;
    CHECK(tt_next(k->t, &k->cur, &s));
    k->lport = s.sport;
    k->iss = s.seq;
    uint8_t o[4];
    tcp_put_opt_mss(o, MSS);
    tt_send(k->t, PPORT, k->lport, PISS, k->iss + 1, TCP_SYN | TCP_ACK, 65535, NULL, 0, o, 4);
    CHECK(tt_event(k->t, IX_EV_TCP_CONNECTED, NULL) != NULL);
    while (tt_next(k->t, &k->cur, &s)) {
    }
    tl_events_reset(k->t);
}

static void ack(struct conn *k, uint32_t a)
{
    tt_send(k->t, PPORT, k->lport, PISS + 1, a, TCP_ACK, 65535, NULL, 0, NULL, 0);
}

static struct tcp_pcb *pcb(struct conn *k) { return tcp_pcb_from_handle(&k->t->c, k->h); }

/* Close, let the peer finish, run out TIME_WAIT, leak check. */
static void finish(struct conn *k, uint32_t snd_end)
{
    CHECK_EQ(tcp_close(&k->t->c, k->h), 0);
    tt_send(k->t, PPORT, k->lport, PISS + 1, snd_end + 1, TCP_ACK | TCP_FIN, 65535, NULL, 0, NULL, 0);
    tt_advance(k->t, 61000000);
    tt_free(k->t);
}

/* Count data segments sent since the cursor; seqs[] gets the first `max` sequence numbers. */
static int drain(struct conn *k, uint32_t *seqs, int max)
{
    struct tt_seg s;
    int n = 0;
    while (tt_next(k->t, &k->cur, &s)) {
        if (s.plen > 0 && n < max)
            seqs[n] = s.seq;
        if (s.plen > 0)
            n++;
    }
    return n;
}

/* Three holes in one window: the fast retransmit repairs the first, each partial ACK
 * retransmits the next hole at once (no RTO), one window reduction in all, and the full
 * ACK ends recovery with cwnd deflated to at most ssthresh. */
static void partial_acks_in_recovery(void)
{
    struct conn k;
    open_conn(&k);
    static char data[10 * MSS];
    memset(data, 'p', sizeof(data));
    struct net_iov iov = {data, sizeof(data)};
    CHECK_EQ(tcp_sendv(&k.t->c, k.h, &iov, 1), sizeof(data));
    uint32_t seqs[16];
    CHECK_EQ(drain(&k, seqs, 16), 10); /* initial window: 10 segments */
    const uint32_t base = k.iss + 1;
    /* Segments 0, 3 and 6 are lost: the other 7 each produce a duplicate ACK. */
    for (int i = 0; i < 3; i++)
        ack(&k, base);
    CHECK_EQ(drain(&k, seqs, 16), 1);
    CHECK_EQ(seqs[0], base);
    struct tcp_pcb *p = pcb(&k);
    CHECK(p != NULL && p->in_recovery);
    if (p == NULL)
        return;
    CHECK_EQ(p->ssthresh, 5 * MSS);          /* half the flight */
    CHECK_EQ(p->cwnd, 5 * MSS + 3 * MSS);
    CHECK_EQ(p->recover, base + 10 * MSS);
    for (int i = 0; i < 4; i++)
        ack(&k, base);
    CHECK_EQ(p->cwnd, 12 * MSS);            /* inflated by the 4 further duplicates */
    CHECK_EQ(drain(&k, seqs, 16), 0);        /* nothing new to send, nothing resent */
    /* The retransmission fills hole 0: partial ACK up to hole 3. */
    ack(&k, base + 3 * MSS);
    CHECK_EQ(drain(&k, seqs, 16), 1);
    CHECK_EQ(seqs[0], base + 3 * MSS);
    CHECK(p->in_recovery);
    CHECK_EQ(p->cwnd, 12 * MSS - 3 * MSS + MSS); /* deflate by the acked amount, + 1 MSS */
    ack(&k, base + 6 * MSS);
    CHECK_EQ(drain(&k, seqs, 16), 1);
    CHECK_EQ(seqs[0], base + 6 * MSS);
    CHECK(p->in_recovery);
    /* Full ACK: out of recovery, cwnd = min(ssthresh, flight + MSS). */
    ack(&k, base + 10 * MSS);
    CHECK(!p->in_recovery);
    CHECK_EQ(p->ssthresh, 5 * MSS);          /* still the one reduction */
    CHECK(p->cwnd <= p->ssthresh);
    const uint64_t *tc = k.t->c.counters.tcp;
    CHECK_EQ(tc[TCPC_RTO], 0);
    CHECK_EQ(tc[TCPC_RETRANS], 3);
    CHECK_EQ(tc[TCPC_FAST_RETRANS], 3);
    uint64_t sent = 0;
    for (uint32_t i = 0; i < k.t->c.ev_len; i++)
        if (k.t->c.ev[i].type == IX_EV_TCP_SENT)
            sent += k.t->c.ev[i].a0;
    CHECK_EQ(sent, 10 * MSS);
    finish(&k, base + 10 * MSS);
}

/* cwnd 3 segments, the first lost: each of the first two duplicates sends one new segment
 * (limited transmit), the third triggers the fast retransmit; cwnd unchanged until then. */
static void limited_transmit(void)
{
    struct conn k;
    open_conn(&k);
    struct tcp_pcb *p = pcb(&k);
    CHECK(p != NULL);
    if (p == NULL)
        return;
    p->cwnd = 3 * MSS;
    static char data[10 * MSS];
    struct net_iov iov = {data, sizeof(data)};
    CHECK_EQ(tcp_sendv(&k.t->c, k.h, &iov, 1), sizeof(data));
    uint32_t seqs[16];
    const uint32_t base = k.iss + 1;
    CHECK_EQ(drain(&k, seqs, 16), 3);
    ack(&k, base);
    CHECK_EQ(drain(&k, seqs, 16), 1);
    CHECK_EQ(seqs[0], base + 3 * MSS);
    ack(&k, base);
    CHECK_EQ(drain(&k, seqs, 16), 1);
    CHECK_EQ(seqs[0], base + 4 * MSS);
    CHECK_EQ(p->cwnd, 3 * MSS);
    CHECK(!p->in_recovery);
    ack(&k, base);
    int n = drain(&k, seqs, 16);
    CHECK(n >= 1);
    CHECK_EQ(seqs[0], base); /* the fast retransmit */
    CHECK(p->in_recovery);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_FAST_RETRANS], 1);
    /* The retransmission arrives, and so does everything sent since: ACK all that was
     * sent until the 10 segments are through. */
    for (int i = 0; i < 50 && p->snd_una != base + 10 * MSS; i++) {
        drain(&k, seqs, 16);
        ack(&k, p->snd_max);
    }
    CHECK_EQ(p->snd_una, base + 10 * MSS);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_RTO], 0);
    finish(&k, base + 10 * MSS);
}

/* Two segments outstanding, nothing more to send, the first lost: three duplicates can never
 * come, so the first duplicate retransmits (RFC 5827 threshold = outstanding - 1). */
static void early_retransmit(void)
{
    struct conn k;
    open_conn(&k);
    static char data[2 * MSS];
    struct net_iov iov = {data, sizeof(data)};
    CHECK_EQ(tcp_sendv(&k.t->c, k.h, &iov, 1), sizeof(data));
    uint32_t seqs[4];
    const uint32_t base = k.iss + 1;
    CHECK_EQ(drain(&k, seqs, 4), 2);
    ack(&k, base);
    CHECK_EQ(drain(&k, seqs, 4), 1);
    CHECK_EQ(seqs[0], base);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_RTO], 0);
    ack(&k, base + 2 * MSS);
    finish(&k, base + 2 * MSS);
}

/* Keepalive: idle -> probe (seq snd_una - 1, no data); an answer resets the idle clock;
 * unanswered probes every interval, then RST and DEAD(ETIMEDOUT). */
static void keepalive(void)
{
    struct conn k;
    open_conn(&k);
    struct tcp_tunables tun;
    tcp_get_tunables(&k.t->c, &tun);
    tun.ka_idle_us = 10000000;
    tun.ka_intvl_us = 1000000;
    tun.ka_probes = 3;
    tcp_set_tunables(&k.t->c, &tun);
    const uint32_t base = k.iss + 1;
    ack(&k, base); /* any segment from the peer starts the idle clock */
    struct tt_seg s;
    tt_advance(k.t, 9990000);
    CHECK(!tt_next(k.t, &k.cur, &s)); /* not idle long enough yet */
    tt_advance(k.t, 10000);
    CHECK(tt_next(k.t, &k.cur, &s));
    CHECK_EQ(s.seq, base - 1);
    CHECK_EQ(s.plen, 0);
    CHECK_EQ(s.flags, TCP_ACK);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_PROBES], 1);
    ack(&k, base); /* the peer answers: alive */
    tt_advance(k.t, 1000000);
    CHECK(!tt_next(k.t, &k.cur, &s)); /* no probe one interval later */
    tt_advance(k.t, 8990000);
    CHECK(!tt_next(k.t, &k.cur, &s));
    tt_advance(k.t, 10000); /* idle again 10 s after the answer */
    CHECK(tt_next(k.t, &k.cur, &s) && s.seq == base - 1);
    /* No more answers: probes 2 and 3 one interval apart, then give up. */
    for (int i = 0; i < 2; i++) {
        tt_advance(k.t, 999000);
        CHECK(!tt_next(k.t, &k.cur, &s));
        tt_advance(k.t, 1000);
        CHECK(tt_next(k.t, &k.cur, &s) && s.seq == base - 1 && s.plen == 0);
    }
    CHECK_EQ(k.t->c.counters.tcp[TCPC_PROBES], 4);
    CHECK(tt_event(k.t, IX_EV_TCP_DEAD, NULL) == NULL);
    tt_advance(k.t, 1000000);
    CHECK(tt_next(k.t, &k.cur, &s) && (s.flags & TCP_RST));
    const struct ix_event *ev = tt_event(k.t, IX_EV_TCP_DEAD, NULL);
    CHECK(ev != NULL && ev->a0 == IX_ETIMEDOUT);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_TIMEOUTS], 1);
    tt_free(k.t);
}

/* Passive open on port 80 from the peer's port pport; returns the handle (cookie given). */
static uint64_t open_passive(struct tl *t, uint16_t pport, uint64_t cookie, uint32_t *iss)
{
    unsigned cur = t->ntx;
    struct tt_seg s;
    tt_send(t, pport, 80, PISS, 0, TCP_SYN, 65535, NULL, 0, NULL, 0);
    CHECK(tt_next(t, &cur, &s) && s.flags == (TCP_SYN | TCP_ACK));
    *iss = s.seq;
    tl_events_reset(t);
    tt_send(t, pport, 80, PISS + 1, s.seq + 1, TCP_ACK, 65535, NULL, 0, NULL, 0);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_KNOCK, NULL);
    CHECK(ev != NULL);
    if (ev == NULL)
        return 0;
    uint64_t h = ev->a0;
    CHECK_EQ(tcp_accept(&t->c, h, cookie), 0);
    tl_events_reset(t);
    return h;
}

static struct tl *small_events(void)
{
    struct tl *t = tl_new_ev(4);
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    tl_tx_clear(t);
    tl_events_reset(t);
    CHECK_EQ(tcp_listen(&t->c, 80, 8), 0);
    return t;
}

/* An event array of 4: 10 in-order segments and a FIN arrive in one round. Four RECVs are
 * posted, the rest wait; each net_events_begin (no timer run, no other TCP call) posts the
 * next ones in order, EOF after the data: nothing lost, nothing reordered. */
static void events_deferred_when_full(void)
{
    struct tl *t = small_events();
    uint32_t iss;
    uint64_t h = open_passive(t, PPORT, 5, &iss);
    char seg[10][32];
    for (int i = 0; i < 10; i++) {
        snprintf(seg[i], sizeof(seg[i]), "segment %02d of ten!", i % 100);
        tt_send(t, PPORT, 80, PISS + 1 + 19u * (unsigned)i, iss + 1, TCP_ACK, 65535, seg[i], 19, NULL, 0);
    }
    tt_send(t, PPORT, 80, PISS + 1 + 190, iss + 1, TCP_ACK | TCP_FIN, 65535, NULL, 0, NULL, 0);
    CHECK(t->c.counters.tcp[TCPC_EV_DEFERRED] > 0);
    int next = 0, eof = 0, rounds = 0;
    for (; rounds < 10 && !eof; rounds++) {
        CHECK(t->c.ev_len > 0); /* every round delivers something until EOF */
        uint32_t got = 0;
        for (uint32_t i = 0; i < t->c.ev_len; i++) {
            const struct ix_event *e = &t->c.ev[i];
            CHECK_EQ(e->type, IX_EV_TCP_RECV);
            CHECK_EQ(e->cookie, 5);
            if (e->a1 == 0) {
                CHECK_EQ(next, 10); /* EOF only after all the data */
                eof = 1;
                continue;
            }
            CHECK_EQ(e->a1, 19);
            CHECK(next < 10 && memcmp((const void *)(uintptr_t)e->a0, seg[next], 19) == 0);
            next++;
            got += 19;
        }
        if (got)
            CHECK_EQ(tcp_recv_done(&t->c, h, got), 0);
        tl_events_reset(t); /* net_events_begin: posts what was deferred */
    }
    CHECK_EQ(next, 10);
    CHECK(eof);
    CHECK_EQ(rounds, 3); /* 4 + 4 + (2 data + EOF) */
    unsigned cur = t->ntx;
    struct tt_seg s;
    CHECK_EQ(tcp_close(&t->c, h), 0);
    CHECK(tt_next(t, &cur, &s) && (s.flags & TCP_FIN));
    tt_send(t, PPORT, 80, PISS + 192, s.seq + 1, TCP_ACK, 65535, NULL, 0, NULL, 0);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_DEAD, NULL);
    CHECK(ev != NULL && ev->a0 == 0 && ev->cookie == 5);
    tt_free(t);
}

/* Six connections reset in one round with room for 4 events: 4 DEADs now, the other 2 at
 * the next net_events_begin; each handle reported exactly once, then every PCB is free. */
static void dead_deferred_when_full(void)
{
    struct tl *t = small_events();
    uint32_t iss[6];
    for (int i = 0; i < 6; i++)
        (void)open_passive(t, (uint16_t)(PPORT + i), 100 + (uint64_t)i, &iss[i]);
    CHECK_EQ(tcp_conns_in_use(&t->c), 6);
    for (int i = 0; i < 6; i++)
        tt_send(t, (uint16_t)(PPORT + i), 80, PISS + 1, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    int seen[6] = {0};
    for (int round = 0; round < 2; round++) {
        CHECK_EQ(t->c.ev_len, round == 0 ? 4 : 2);
        for (uint32_t i = 0; i < t->c.ev_len; i++) {
            const struct ix_event *e = &t->c.ev[i];
            CHECK_EQ(e->type, IX_EV_TCP_DEAD);
            CHECK_EQ(e->a0, IX_ECONNRESET);
            if (e->cookie >= 100 && e->cookie < 106)
                seen[e->cookie - 100]++;
        }
        tl_events_reset(t);
    }
    for (int i = 0; i < 6; i++)
        CHECK_EQ(seen[i], 1);
    CHECK_EQ(t->c.ev_len, 0);
    tt_free(t);
}

/* SACK (RFC 2018): negotiated when the peer offers it; while out-of-order data is held our
 * ACKs carry blocks, the latest segment's block first, contiguous segments merged; a
 * segment that fills the hole ends them. Without the peer's offer: no blocks. */
static void sack_blocks_for_holes(void)
{
    for (int offer = 1; offer >= 0; offer--) {
        struct tl *t = tt_new();
        CHECK_EQ(tcp_listen(&t->c, 80, 4), 0);
        unsigned cur = t->ntx;
        struct tt_seg s;
        uint8_t o[40];
        uint32_t olen = offer ? tt_syn_opts(o, 100, 0) : tcp_put_opt_mss(o, 1460);
        tt_send(t, PPORT, 80, PISS, 0, TCP_SYN, 65535, NULL, 0, o, olen);
        CHECK(tt_next(t, &cur, &s) && s.flags == (TCP_SYN | TCP_ACK));
        CHECK_EQ(s.o.sack_ok, offer);
        uint32_t iss = s.seq, tsv = s.o.tsval;
        uint8_t ts[12];
        uint32_t tlen = offer ? tcp_put_opt_ts(ts, 101, tsv) : 0;
        tt_send(t, PPORT, 80, PISS + 1, iss + 1, TCP_ACK, 65535, NULL, 0, ts, tlen);
        const struct ix_event *ev = tt_event(t, IX_EV_TCP_KNOCK, NULL);
        CHECK(ev != NULL);
        if (ev == NULL)
            return;
        uint64_t h = ev->a0;
        CHECK_EQ(tcp_accept(&t->c, h, 9), 0);
        tl_events_reset(t);
        static const char d[100] = "0123456789";
        const uint32_t b = PISS + 1;
        /* segments [100,200) [200,300) [500,600): holes at [0,100) and [300,500) */
        tt_send(t, PPORT, 80, b + 100, iss + 1, TCP_ACK, 65535, d, 100, ts, tlen);
        tt_send(t, PPORT, 80, b + 200, iss + 1, TCP_ACK, 65535, d, 100, ts, tlen);
        while (tt_next(t, &cur, &s)) {
        }
        CHECK_EQ(s.ack, b);
        CHECK_EQ(s.o.nsack, offer ? 1 : 0);
        if (offer && s.o.nsack == 1) {
            CHECK_EQ(s.o.sack_l[0], b + 100); /* merged */
            CHECK_EQ(s.o.sack_r[0], b + 300);
        }
        tt_send(t, PPORT, 80, b + 500, iss + 1, TCP_ACK, 65535, d, 100, ts, tlen);
        CHECK(tt_next(t, &cur, &s));
        CHECK_EQ(s.o.nsack, offer ? 2 : 0);
        if (offer && s.o.nsack == 2) {
            CHECK_EQ(s.o.sack_l[0], b + 500); /* the latest first */
            CHECK_EQ(s.o.sack_r[0], b + 600);
            CHECK_EQ(s.o.sack_l[1], b + 100);
            CHECK_EQ(s.o.sack_r[1], b + 300);
        }
        /* the first hole is filled: ACK 300, one block left */
        tt_send(t, PPORT, 80, b, iss + 1, TCP_ACK, 65535, d, 100, ts, tlen);
        while (tt_next(t, &cur, &s)) {
        }
        CHECK_EQ(s.ack, b + 300);
        CHECK_EQ(s.o.nsack, offer ? 1 : 0);
        /* the second hole: everything in order, no blocks */
        tt_send(t, PPORT, 80, b + 300, iss + 1, TCP_ACK, 65535, d, 100, ts, tlen);
        tt_send(t, PPORT, 80, b + 400, iss + 1, TCP_ACK, 65535, d, 100, ts, tlen);
        while (tt_next(t, &cur, &s)) {
        }
        CHECK_EQ(s.ack, b + 600);
        CHECK_EQ(s.o.nsack, 0);
        uint32_t n = 0;
        for (uint32_t i = 0; i < t->c.ev_len; i++)
            if (t->c.ev[i].type == IX_EV_TCP_RECV)
                n += (uint32_t)t->c.ev[i].a1;
        CHECK_EQ(n, 600);
        CHECK_EQ(tcp_recv_done(&t->c, h, 600), 0);
        CHECK_EQ(tcp_close(&t->c, h), 0);
        while (tt_next(t, &cur, &s)) {
        }
        CHECK(s.flags & TCP_FIN);
        tt_send(t, PPORT, 80, b + 600, s.seq + 1, TCP_ACK | TCP_FIN, 65535, NULL, 0, ts, tlen);
        tt_advance(t, 61000000);
        tt_free(t);
    }
}

/* Our sender with SACK (tcp_sack.c): one duplicate ACK whose blocks show two holes starts
 * recovery (the head has more than 2 segments SACKed above it) and retransmits both holes at
 * once, nothing SACKed is resent, and the full ACK ends recovery without an RTO. */
static void sack_sender_retransmits_holes(void)
{
    struct conn k;
    k.t = tt_new();
    k.cur = k.t->ntx;
    k.h = (uint64_t)tcp_connect(&k.t->c, 1, TL_PEER, PPORT);
    struct tt_seg s;
    CHECK(tt_next(k.t, &k.cur, &s));
    CHECK(s.o.sack_ok); /* we offer SACK-permitted */
    k.lport = s.sport;
    k.iss = s.seq;
    uint8_t o[8];
    uint32_t ol = tcp_put_opt_mss(o, MSS);
    ol += tcp_put_opt_sack_ok(o + ol);
    tt_send(k.t, PPORT, k.lport, PISS, k.iss + 1, TCP_SYN | TCP_ACK, 65535, NULL, 0, o, ol);
    while (tt_next(k.t, &k.cur, &s)) {
    }
    tl_events_reset(k.t);
    struct tcp_pcb *p = pcb(&k);
    CHECK(p != NULL && p->sack_on);
    if (p == NULL)
        return;
    static char data[10 * MSS];
    struct net_iov iov = {data, sizeof(data)};
    CHECK_EQ(tcp_sendv(&k.t->c, k.h, &iov, 1), sizeof(data));
    uint32_t seqs[16];
    CHECK_EQ(drain(&k, seqs, 16), 10);
    const uint32_t b = k.iss + 1;
    /* segments 0 and 3 lost: the peer holds [1,3) and [4,10) */
    uint32_t l[2] = {b + 4 * MSS, b + 1 * MSS}, r[2] = {b + 10 * MSS, b + 3 * MSS};
    uint8_t so[20];
    uint32_t sl = tcp_put_opt_sack(so, l, r, 2);
    tt_send(k.t, PPORT, k.lport, PISS + 1, b, TCP_ACK, 65535, NULL, 0, so, sl);
    CHECK(p->in_recovery);
    CHECK_EQ(p->nsb, 2);
    int n = drain(&k, seqs, 16);
    CHECK_EQ(n, 2);
    CHECK_EQ(seqs[0], b);
    CHECK_EQ(seqs[1], b + 3 * MSS);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_SACK_RETRANS], 1);
    /* both arrive: full ACK */
    ack(&k, b + 10 * MSS);
    CHECK(!p->in_recovery);
    CHECK_EQ(p->nsb, 0);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_RTO], 0);
    CHECK_EQ(k.t->c.counters.tcp[TCPC_RETRANS], 2);
    finish(&k, b + 10 * MSS);
}

int main(void)
{
    CHECK_RUN(partial_acks_in_recovery);
    CHECK_RUN(limited_transmit);
    CHECK_RUN(early_retransmit);
    CHECK_RUN(keepalive);
    CHECK_RUN(events_deferred_when_full);
    CHECK_RUN(dead_deferred_when_full);
    CHECK_RUN(sack_blocks_for_holes);
    CHECK_RUN(sack_sender_retransmits_holes);
    return check_summary("tcp_recovery_test");
}
