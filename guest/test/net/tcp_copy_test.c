/* The stack's one payload copy (tcp_output.c) and its counter: a segment whose bytes lie in
 * more app slices than a frame can reference (NET_IOV_MAX) is copied into its header mbuf
 * and counted in counters.copies; a send that fits in NET_IOV_MAX slices is not copied. */
#include <string.h>

#include "tcp_testlib.h"

#define PPORT 5001
#define PISS 2000000u
#define PIECE 16
#define GAP 64 /* slices are PIECE bytes every GAP bytes: never contiguous, never merged */

static uint8_t mem[IX_SG_MAX * GAP];

/* Active open to the peer; returns the handle; our SYN gives the local port and ISS. */
static int64_t open_active(struct tl *t, unsigned *cur, uint16_t *lport, uint32_t *iss)
{
    int64_t h = tcp_connect(&t->c, 5, TL_PEER, PPORT);
    CHECK(h >= 0);
    struct tt_seg s;
    CHECK(tt_next(t, cur, &s) && s.flags == TCP_SYN);
    *lport = s.sport;
    *iss = s.seq;
    uint8_t o[40];
    tt_send(t, PPORT, s.sport, PISS, s.seq + 1, TCP_SYN | TCP_ACK, 65535, NULL, 0, o, tt_syn_opts(o, 7, s.o.tsval));
    CHECK(tt_event(t, IX_EV_TCP_CONNECTED, NULL) != NULL);
    CHECK(tt_next(t, cur, &s) && s.flags == TCP_ACK);
    tl_events_reset(t);
    return h;
}

static void fill_slices(struct net_iov *iov, int n, uint8_t *expect)
{
    for (int i = 0; i < n; i++) {
        uint8_t *p = mem + i * GAP;
        for (int j = 0; j < PIECE; j++)
            p[j] = (uint8_t)(i * 31 + j);
        memcpy(expect + i * PIECE, p, PIECE);
        iov[i].base = p;
        iov[i].len = PIECE;
    }
}

static void many_small_slices_are_copied_once_per_transmission(void)
{
    struct tl *t = tt_new();
    unsigned cur = t->ntx;
    uint16_t lport;
    uint32_t iss;
    int64_t h = open_active(t, &cur, &lport, &iss);
    struct net_iov iov[IX_SG_MAX];
    uint8_t expect[IX_SG_MAX * PIECE];
    struct tt_seg s;

    /* NET_IOV_MAX slices: referenced as they are, nothing copied */
    fill_slices(iov, NET_IOV_MAX, expect);
    CHECK_EQ(tcp_sendv(&t->c, (uint64_t)h, iov, NET_IOV_MAX), NET_IOV_MAX * PIECE);
    CHECK(tt_next(t, &cur, &s) && s.plen == NET_IOV_MAX * PIECE && s.csum_ok);
    CHECK(memcmp(s.payload, expect, s.plen) == 0);
    CHECK_EQ(t->c.counters.copies, 0);
    uint32_t seq = iss + 1 + NET_IOV_MAX * PIECE;
    uint8_t ts[12];
    tcp_put_opt_ts(ts, 8, 0);
    tt_send(t, PPORT, lport, PISS + 1, seq, TCP_ACK, 65535, NULL, 0, ts, 12);
    tl_events_reset(t);

    /* IX_SG_MAX slices: one segment with all of it (not four runts), copied */
    fill_slices(iov, IX_SG_MAX, expect);
    CHECK_EQ(tcp_sendv(&t->c, (uint64_t)h, iov, IX_SG_MAX), IX_SG_MAX * PIECE);
    CHECK(tt_next(t, &cur, &s) && s.plen == IX_SG_MAX * PIECE && s.seq == seq && s.csum_ok);
    CHECK(memcmp(s.payload, expect, s.plen) == 0);
    CHECK_EQ(t->c.counters.copies, IX_SG_MAX * PIECE);
    CHECK(!tt_next(t, &cur, &s));

    /* no ACK: the retransmission copies again (the app's memory is still the source) */
    for (int i = 0; i < 40 && t->c.counters.copies == IX_SG_MAX * PIECE; i++)
        tt_advance(t, 100000);
    CHECK(tt_next(t, &cur, &s) && s.seq == seq && s.plen == IX_SG_MAX * PIECE && s.csum_ok);
    CHECK(memcmp(s.payload, expect, s.plen) == 0);
    CHECK_EQ(t->c.counters.copies, 2 * IX_SG_MAX * PIECE);

    /* acknowledged: the app learns its memory is free; then the peer resets */
    tcp_put_opt_ts(ts, 9, 0);
    tt_send(t, PPORT, lport, PISS + 1, seq + IX_SG_MAX * PIECE, TCP_ACK, 65535, NULL, 0, ts, 12);
    const struct ix_event *ev = tt_event(t, IX_EV_TCP_SENT, NULL);
    CHECK(ev != NULL && ev->a0 == IX_SG_MAX * PIECE);
    tt_send(t, PPORT, lport, PISS + 1, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    CHECK(tt_event(t, IX_EV_TCP_DEAD, NULL) != NULL);
    t->c.counters.copies = 0; /* checked above; tt_free expects the zero-copy default */
    tt_free(t);
}

int main(void)
{
    CHECK_RUN(many_small_slices_are_copied_once_per_transmission);
    return check_summary("tcp_copy_test");
}
