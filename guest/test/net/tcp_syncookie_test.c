/* SYN floods and SYN cookies: the cookie codec alone (valid cookies accepted with their
 * options, forged / other-tuple / old ones refused, MSS rounding), then the stack under
 * synthetic floods: half-open connections bounded per listener and kept in their own reserve
 * (connections proper still get blocks), cookie handshakes with and without data, and no
 * block or mbuf leaked once everything has ended. */
#include <string.h>

#include "../../net/siphash.h"
#include "../../net/tcp_int.h"
#include "../../net/tcp_syncookie.h"
#include "tcp_testlib.h"

#define LPORT 80
#define SLOT TCP_COOKIE_SLOT_US

static const struct siphash_key key = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
static const struct tcp_cookie_tuple tup = {.laddr = TL_ADDR, .raddr = TL_PEER, .lport = 80, .rport = 40000};

static void siphash_reference_vectors(void)
{
    /* The SipHash paper's test key and messages 00 01 .. 07 and 00 .. 0f. */
    uint64_t w[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    CHECK_EQ(siphash24(&key, w, 1), 0x93f5f5799a932462ull);
    CHECK_EQ(siphash24(&key, w, 2), 0x3f2acc7f57c29bdbull);
}

static void cookie_roundtrip_and_mss(void)
{
    static const struct { uint16_t in, out; } mss[] = {
        {0, 536}, {536, 536}, {1000, 536}, {1220, 1200}, {1380, 1360}, {1460, 1460}, {1500, 1460},
        {9000, 8960}, {65535, 8960},
    };
    uint64_t now = 5 * SLOT + 123;
    for (unsigned i = 0; i < sizeof(mss) / sizeof(mss[0]); i++) {
        struct tcp_cookie_opts o = {.mss = mss[i].in, .ws = (uint8_t)(i % 15), .sack = (i & 1) != 0};
        uint32_t ck = tcp_cookie_make(&key, &tup, 777u * i, &o, now);
        struct tcp_cookie_opts d;
        CHECK(tcp_cookie_check(&key, &tup, 777u * i, ck, now, &d));
        CHECK_EQ(d.mss, mss[i].out);
        CHECK_EQ(d.ws, o.ws);
        CHECK_EQ(d.sack, o.sack);
    }
    struct tcp_cookie_opts o = {.mss = 1460, .ws = TCP_COOKIE_NO_WS, .sack = false}, d;
    uint32_t ck = tcp_cookie_make(&key, &tup, 1, &o, now);
    CHECK(tcp_cookie_check(&key, &tup, 1, ck, now, &d) && d.ws == TCP_COOKIE_NO_WS);
    /* Valid through the next slot, refused from the one after (and never from the future). */
    CHECK(tcp_cookie_check(&key, &tup, 1, ck, now + SLOT, &d));
    CHECK(!tcp_cookie_check(&key, &tup, 1, ck, now + 2 * SLOT, &d));
    CHECK(!tcp_cookie_check(&key, &tup, 1, ck, now + 4 * SLOT, &d)); /* slot bits wrapped */
    CHECK(!tcp_cookie_check(&key, &tup, 1, ck, now - SLOT, &d));
}

static void cookie_forgeries_refused(void)
{
    uint64_t now = 3 * SLOT;
    struct tcp_cookie_opts o = {.mss = 1460, .ws = 7, .sack = true}, d;
    uint32_t ck = tcp_cookie_make(&key, &tup, 42, &o, now);
    /* Any single flipped bit: a different MAC, slot or option byte. */
    for (unsigned b = 0; b < 32; b++)
        CHECK_MSG(!tcp_cookie_check(&key, &tup, 42, ck ^ (1u << b), now, &d), "bit %u", b);
    CHECK(!tcp_cookie_check(&key, &tup, 43, ck, now, &d)); /* another peer ISN */
    struct tcp_cookie_tuple t2 = tup;
    t2.rport++;
    CHECK(!tcp_cookie_check(&key, &t2, 42, ck, now, &d));
    t2 = tup;
    t2.raddr ^= 1;
    CHECK(!tcp_cookie_check(&key, &t2, 42, ck, now, &d));
    struct siphash_key k2 = key;
    k2.k1 ^= 1; /* another boot's secret */
    CHECK(!tcp_cookie_check(&k2, &tup, 42, ck, now, &d));
    /* Random guesses: 22 MAC bits, so about 1 in 4 million passes; 100000 tries, none. */
    unsigned passed = 0;
    uint32_t x = 12345;
    for (unsigned i = 0; i < 100000; i++) {
        x = x * 1664525u + 1013904223u;
        passed += tcp_cookie_check(&key, &tup, 42, x, now, &d);
    }
    CHECK(passed <= 1);
}

/* n spoofed SYNs to LPORT from sports base..base+n-1; returns the SYN-ACKs seen. */
static unsigned flood(struct tl *t, uint16_t base, unsigned n)
{
    unsigned synacks = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned cur = t->ntx;
        tt_send(t, (uint16_t)(base + i), LPORT, 1000u * i, 0, TCP_SYN, 65535, NULL, 0, NULL, 0);
        struct tt_seg s;
        while (tt_next(t, &cur, &s))
            synacks += s.flags == (TCP_SYN | TCP_ACK) && s.dport == (uint16_t)(base + i);
    }
    return synacks;
}

/* A client's SYN (Linux-like options); returns the SYN-ACK. */
static struct tt_seg client_syn(struct tl *t, uint16_t sport, uint32_t iss)
{
    uint8_t o[40];
    unsigned cur = t->ntx;
    tt_send(t, sport, LPORT, iss, 0, TCP_SYN, 65535, NULL, 0, o, tt_syn_opts(o, 500, 0));
    struct tt_seg s;
    memset(&s, 0, sizeof(s));
    CHECK(tt_next(t, &cur, &s));
    CHECK_EQ(s.flags, TCP_SYN | TCP_ACK);
    CHECK_EQ(s.ack, iss + 1);
    return s;
}

static void ack_with_ts(struct tl *t, uint16_t sport, uint32_t seq, uint32_t ack, const void *data,
                        uint32_t len, uint32_t tsecr)
{
    uint8_t ts[12];
    tcp_put_opt_ts(ts, 501, tsecr);
    tt_send(t, sport, LPORT, seq, ack, TCP_ACK | (len ? TCP_PSH : 0), 1024, data, len, ts, 12);
}

/* Let every half-open connection give up, then check nothing is left. */
static void drain_and_free(struct tl *t)
{
    for (int i = 0; i < 300; i++) {
        tl_events_reset(t);
        tt_advance(t, 1000000);
    }
    CHECK_EQ(t->c.tcp->half_open, 0);
    tt_free(t);
}

static void flood_bounded_and_cookie_handshake(void)
{
    struct tl *t = tt_new();
    CHECK_EQ(tcp_listen(&t->c, LPORT, 8), 0);
    CHECK_EQ(flood(t, 1000, 2500), 2500); /* every SYN answered */
    CHECK_EQ(tcp_conns_in_use(&t->c), 8); /* at most the backlog half-open */
    CHECK_EQ(t->c.tcp->half_open, 8);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYNCOOKIE_SENT], 2492);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYN_DROPPED], 0);

    /* A real client during the flood: a cookie SYN-ACK with every option it offered. */
    struct tt_seg sa = client_syn(t, 40000, 7000);
    CHECK(sa.o.mss_ok && sa.o.mss == 1460);
    CHECK(sa.o.ws_ok && sa.o.sack_ok && sa.o.ts_ok && sa.o.tsecr == 500);
    CHECK_EQ(tcp_conns_in_use(&t->c), 8); /* nothing kept for it */
    ack_with_ts(t, 40000, 7001, sa.seq + 1, NULL, 0, sa.o.tsval);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYNCOOKIE_OK], 1);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_KNOCK, NULL);
    CHECK(ev != NULL);
    uint64_t h = ev ? ev->a0 : 0;
    struct tcp_pcb *p = tcp_pcb_from_handle(&t->c, h);
    CHECK(p != NULL);
    if (p) {
        CHECK(p->ts_on && p->ws_on && p->sack_on);
        CHECK_EQ(p->snd_ws, 7);
        CHECK_EQ(p->mss, 1460 - 12);
        CHECK(!p->half);
    }
    CHECK_EQ(tcp_accept(&t->c, h, 5), 0);
    tl_events_reset(t);
    ack_with_ts(t, 40000, 7001, sa.seq + 1, "ping", 4, sa.o.tsval);
    ev = tt_event(t, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL && ev->a1 == 4 && memcmp((const void *)(uintptr_t)ev->a0, "ping", 4) == 0);
    if (ev)
        CHECK_EQ(tcp_recv_done(&t->c, h, 4), 0);
    /* The peer resets it; the flood's half-open connections time out. */
    tt_send(t, 40000, LPORT, 7005, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    drain_and_free(t);
}

/* Spoofed sources across the subnet: the SYN-ACKs wait for ARP answers that never come, so
 * most cookie SYN-ACKs cannot be sent (ARP queues full). That failure must leave nothing
 * behind (the scratch block lives on the stack), and a real client still gets through. */
static void flood_from_unresolvable_sources(void)
{
    struct tl *t = tt_new();
    CHECK_EQ(tcp_listen(&t->c, LPORT, 16), 0);
    for (unsigned i = 0; i < 20000; i++)
        tt_send_from(t, 0x0a000000u | (3 + i % 250), (uint16_t)(1024 + i), LPORT, i * 7919u, 0, TCP_SYN, 65535,
                     NULL, 0, NULL, 0);
    CHECK_EQ(t->c.tcp->half_open, 16);
    CHECK(t->c.counters.tcp[TCPC_SYNCOOKIE_SENT] > 19000);
    CHECK(t->c.counters.tcp[TCPC_TX_FAIL] > 0); /* the path that must not arm a timer */
    tt_advance(t, 10000);
    struct tt_seg sa = client_syn(t, 40000, 7000);
    ack_with_ts(t, 40000, 7001, sa.seq + 1, NULL, 0, sa.o.tsval);
    CHECK(tt_event(t, IX_EV_TCP_KNOCK, NULL) != NULL);
    tl_events_reset(t);
    tcp_app_gone(&t->c);
    drain_and_free(t);
}

static void cookie_ack_with_data_and_no_options(void)
{
    struct tl *t = tt_new();
    CHECK_EQ(tcp_listen(&t->c, LPORT, 1), 0);
    CHECK_EQ(flood(t, 1000, 1), 1); /* the one half-open slot taken */
    unsigned cur = t->ntx;
    tt_send(t, 41000, LPORT, 9000, 0, TCP_SYN, 65535, NULL, 0, NULL, 0); /* no options at all */
    struct tt_seg sa;
    CHECK(tt_next(t, &cur, &sa) && sa.flags == (TCP_SYN | TCP_ACK));
    CHECK(sa.o.mss_ok && !sa.o.ws_ok && !sa.o.ts_ok && !sa.o.sack_ok);
    /* The handshake's ACK lost: the first data segment completes it. */
    tt_send(t, 41000, LPORT, 9001, sa.seq + 1, TCP_ACK | TCP_PSH, 8192, "hello", 5, NULL, 0);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_KNOCK, NULL);
    CHECK(ev != NULL);
    uint64_t h = ev ? ev->a0 : 0;
    struct tcp_pcb *p = tcp_pcb_from_handle(&t->c, h);
    CHECK(p != NULL && !p->ts_on && !p->ws_on && !p->sack_on && p->mss == 536);
    CHECK_EQ(tcp_accept(&t->c, h, 9), 0);
    ev = tt_event(t, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL && ev->a1 == 5);
    if (ev)
        CHECK_EQ(tcp_recv_done(&t->c, h, 5), 0);
    CHECK_EQ(tcp_reject(&t->c, h), -IX_EINVAL); /* accepted already */
    tt_send(t, 41000, LPORT, 9006, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    drain_and_free(t);
}

static void forged_and_old_cookies_refused(void)
{
    struct tl *t = tt_new();
    CHECK_EQ(tcp_listen(&t->c, LPORT, 1), 0);
    CHECK_EQ(flood(t, 1000, 1), 1);
    struct tt_seg sa = client_syn(t, 42000, 100);
    unsigned cur = t->ntx;
    /* Forged: a wrong ACK number. Answered with RST (no connection), counted. */
    ack_with_ts(t, 42000, 101, sa.seq + 2, NULL, 0, sa.o.tsval);
    struct tt_seg r;
    CHECK(tt_next(t, &cur, &r) && (r.flags & TCP_RST));
    CHECK_EQ(t->c.counters.tcp[TCPC_SYNCOOKIE_BAD], 1);
    CHECK(tt_event(t, IX_EV_TCP_KNOCK, NULL) == NULL);
    /* Another tuple presenting this cookie. */
    ack_with_ts(t, 42001, 101, sa.seq + 1, NULL, 0, sa.o.tsval);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYNCOOKIE_BAD], 2);
    /* The right ACK, but after two slots: refused too. */
    tt_advance(t, 2 * SLOT + 1000);
    ack_with_ts(t, 42000, 101, sa.seq + 1, NULL, 0, sa.o.tsval);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYNCOOKIE_BAD], 3);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYNCOOKIE_OK], 0);
    CHECK(tt_event(t, IX_EV_TCP_KNOCK, NULL) == NULL);
    drain_and_free(t);
}

/* A client's SYN answered with a cookie, then its retransmission (the SYN-ACK was slow to
 * arrive) finds a half-open slot free and gets a block with another ISS. The client, already
 * established on the cookie's SYN-ACK, acknowledges the cookie: that is a completed
 * handshake, not an unacceptable ACK to reset (it once reset a connection under load). */
static void cookie_ack_after_retransmitted_syn_got_a_block(void)
{
    struct tl *t = tt_new();
    CHECK_EQ(tcp_listen(&t->c, LPORT, 1), 0);
    CHECK_EQ(flood(t, 1000, 1), 1); /* the one half-open slot taken */
    struct tt_seg ck = client_syn(t, 43000, 5000);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYNCOOKIE_SENT], 1);
    tt_send(t, 1000, LPORT, 1, 0, TCP_RST, 0, NULL, 0, NULL, 0); /* the slot frees */
    CHECK_EQ(t->c.tcp->half_open, 0);
    struct tt_seg sa = client_syn(t, 43000, 5000); /* the SYN again: a block this time */
    CHECK_EQ(t->c.tcp->half_open, 1);
    CHECK(sa.seq != ck.seq);
    /* The client ACKs the cookie SYN-ACK (and, established, answers the second one with the
     * same ACK): the connection is made from the cookie, and no RST goes out. */
    unsigned cur = t->ntx;
    ack_with_ts(t, 43000, 5001, ck.seq + 1, NULL, 0, ck.o.tsval);
    ack_with_ts(t, 43000, 5001, ck.seq + 1, NULL, 0, sa.o.tsval);
    struct tt_seg r;
    while (tt_next(t, &cur, &r))
        CHECK_MSG(!(r.flags & TCP_RST), "RST sent to a client that completed the cookie handshake");
    CHECK_EQ(t->c.counters.tcp[TCPC_RST_TX], 0);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYNCOOKIE_OK], 1);
    CHECK_EQ(t->c.tcp->half_open, 0); /* the superseded block is gone */
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_KNOCK, NULL);
    CHECK(ev != NULL);
    uint64_t h = ev ? ev->a0 : 0;
    CHECK_EQ(tcp_accept(&t->c, h, 7), 0);
    CHECK_EQ(tcp_conns_in_use(&t->c), 1);
    /* It works both ways: data from the client, and the echo with the cookie's sequence. */
    tl_events_reset(t);
    cur = t->ntx;
    ack_with_ts(t, 43000, 5001, ck.seq + 1, "ping", 4, ck.o.tsval);
    ev = tt_event(t, IX_EV_TCP_RECV, NULL);
    CHECK(ev != NULL && ev->a1 == 4);
    if (ev)
        CHECK_EQ(tcp_recv_done(&t->c, h, 4), 0);
    static const char pong[] = "pong";
    struct net_iov iov = {.base = pong, .len = 4};
    CHECK_EQ(tcp_sendv(&t->c, h, &iov, 1), 4);
    bool sent = false;
    while (tt_next(t, &cur, &r))
        sent |= r.plen == 4 && r.seq == ck.seq + 1;
    CHECK_MSG(sent, "the reply starts at the cookie's ISS + 1");
    /* A bad ACK in SYN_RECEIVED is still answered with RST: another ISS, not a cookie. */
    struct tt_seg sb = client_syn(t, 43001, 6000);
    CHECK_EQ(t->c.tcp->half_open, 1);
    cur = t->ntx;
    ack_with_ts(t, 43001, 6001, sb.seq + 7, NULL, 0, sb.o.tsval);
    CHECK(tt_next(t, &cur, &r) && (r.flags & TCP_RST) && r.seq == sb.seq + 7);
    CHECK_EQ(t->c.tcp->half_open, 1); /* a stray ACK does not end the handshake */
    CHECK(tt_event(t, IX_EV_TCP_KNOCK, NULL) == NULL);
    tl_events_reset(t);
    tt_send(t, 43000, LPORT, 5005, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    drain_and_free(t);
}

/* Half-open connections take blocks from their own reserve: with the reserve full of a
 * flood's connections, all max_conns connections can still be made (by cookie and by
 * tcp_connect), and one more is refused rather than taken from the reserve. */
static void reserve_kept_apart(void)
{
    struct tl *t = tt_new();
    struct tcp_core *tc = t->c.tcp;
    unsigned max = tc->max_conns;
    CHECK_EQ(tcp_listen(&t->c, LPORT, 4000), 0);
    CHECK_EQ(flood(t, 1000, 3 * tc->half_max), 3 * tc->half_max);
    CHECK_EQ(tc->half_open, tc->half_max);
    int64_t ah = tcp_connect(&t->c, 1, TL_PEER, 9999); /* an active open: a block at once */
    CHECK(ah >= 0);
    unsigned made = 0;
    for (unsigned i = 0; i < max; i++) {
        tl_events_reset(t);
        uint16_t sport = (uint16_t)(20000 + i);
        struct tt_seg sa = client_syn(t, sport, 5000);
        ack_with_ts(t, sport, 5001, sa.seq + 1, NULL, 0, sa.o.tsval);
        made += tt_event(t, IX_EV_TCP_KNOCK, NULL) != NULL;
    }
    CHECK_EQ(made, max - 1); /* all but the one tcp_connect holds */
    CHECK_EQ(tc->in_use - tc->half_open, max);
    CHECK(t->c.counters.tcp[TCPC_SYN_DROPPED] >= 1); /* the last cookie ACK found no block */
    CHECK_EQ(tcp_connect(&t->c, 2, TL_PEER, 9998), -IX_ENOMEM);
    CHECK_EQ(tc->half_open, tc->half_max);
    /* Everyone goes: the app exits (RST all), and nothing leaks. */
    tl_events_reset(t);
    tcp_app_gone(&t->c);
    CHECK_EQ(tcp_conns_in_use(&t->c), 0);
    CHECK_EQ(tc->half_open, 0);
    tt_free(t);
}

/* The accept queue (backlog) is still a bound of its own: established connections the app
 * has not accepted. A SYN past it is dropped, cookie or not. */
static void accept_queue_full_drops(void)
{
    struct tl *t = tt_new();
    CHECK_EQ(tcp_listen(&t->c, LPORT, 2), 0);
    for (uint16_t i = 0; i < 2; i++) {
        struct tt_seg sa = client_syn(t, (uint16_t)(30000 + i), 1);
        ack_with_ts(t, (uint16_t)(30000 + i), 2, sa.seq + 1, NULL, 0, sa.o.tsval);
    }
    CHECK_EQ(tcp_conns_in_use(&t->c), 2);
    CHECK_EQ(flood(t, 1000, 5), 0);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYN_DROPPED], 5);
    CHECK_EQ(t->c.counters.tcp[TCPC_SYNCOOKIE_SENT], 0);
    tl_events_reset(t);
    tcp_app_gone(&t->c);
    tt_free(t);
}

int main(void)
{
    CHECK_RUN(siphash_reference_vectors);
    CHECK_RUN(cookie_roundtrip_and_mss);
    CHECK_RUN(cookie_forgeries_refused);
    CHECK_RUN(flood_bounded_and_cookie_handshake);
    CHECK_RUN(flood_from_unresolvable_sources);
    CHECK_RUN(cookie_ack_with_data_and_no_options);
    CHECK_RUN(forged_and_old_cookies_refused);
    CHECK_RUN(cookie_ack_after_retransmitted_syn_got_a_block);
    CHECK_RUN(reserve_kept_apart);
    CHECK_RUN(accept_queue_full_drops);
    return check_summary("tcp_syncookie_test");
}
