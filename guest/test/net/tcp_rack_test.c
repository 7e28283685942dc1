/* RACK-TLP (RFC 8985) for our SACK sender, with a scripted SACK peer and the fake clock
 * (tcp_rack.c, tcp_sack.c): a lost retransmission of a hole that is not the head is found
 * by RACK and resent without an RTO; a tail loss is repaired by a loss probe long before the
 * RTO (probe of new data and probe of the last segment; a lone segment's probe capped to go
 * just before the RTO, in its place); reordering within the reordering
 * window causes no retransmission; losses in windows of 2 and 3 segments are recovered
 * without an RTO; after a timeout only what RACK finds lost is resent; a peer sending no SACK
 * blocks still gets a fast retransmit. Each case ends with the leak checks (no PCB, no mbuf, every per-segment
 * record back in the pool) and zero copies. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tcp_testlib.h"
#include "../../net/tcp_int.h"

#define PISS 9000u
#define PPORT 9000
#define MSS 1000u
#define RTT 10000u /* the path's round trip: 10 ms */

struct conn {
    struct tl *t;
    uint64_t h;
    uint16_t lport;
    uint32_t iss, b; /* b: first data byte */
    unsigned cur;
};

/* Active open with SACK (no timestamps, no window scaling), the peer's MSS 1000; the
 * SYN-ACK comes one RTT after the SYN so SRTT starts at RTT. */
static void open_sack(struct conn *k)
{
    k->t = tt_new();
    k->cur = k->t->ntx;
    k->h = (uint64_t)tcp_connect(&k->t->c, 1, TL_PEER, PPORT);
    struct tt_seg s;
    CHECK(tt_next(k->t, &k->cur, &s));
    CHECK(s.o.sack_ok);
    k->lport = s.sport;
    k->iss = s.seq;
    k->b = s.seq + 1;
    tt_advance(k->t, RTT);
    uint8_t o[8];
    uint32_t ol = tcp_put_opt_mss(o, MSS);
    ol += tcp_put_opt_sack_ok(o + ol);
    tt_send(k->t, PPORT, k->lport, PISS, k->iss + 1, TCP_SYN | TCP_ACK, 65535, NULL, 0, o, ol);
    CHECK(tt_event(k->t, IX_EV_TCP_CONNECTED, NULL) != NULL);
    while (tt_next(k->t, &k->cur, &s)) {
    }
    tl_events_reset(k->t);
}

static struct tcp_pcb *pcb(struct conn *k) { return tcp_pcb_from_handle(&k->t->c, k->h); }

/* The peer ACKs `ack` with SACK blocks (pairs of segment numbers [from, to) relative to b). */
static void sack(struct conn *k, uint32_t ack_seg, int nblk, const uint32_t *blk)
{
    uint32_t l[4], r[4];
    for (int i = 0; i < nblk; i++) {
        l[i] = k->b + blk[2 * i] * MSS;
        r[i] = k->b + blk[2 * i + 1] * MSS;
    }
    uint8_t o[40];
    uint32_t ol = nblk > 0 ? tcp_put_opt_sack(o, l, r, (uint32_t)nblk) : 0;
    tt_send(k->t, PPORT, k->lport, PISS + 1, k->b + ack_seg * MSS, TCP_ACK, 65535, NULL, 0, o, ol);
}

static void ack(struct conn *k, uint32_t ack_seg) { sack(k, ack_seg, 0, NULL); }

/* Data segments sent since the cursor: their segment numbers (relative to b) in segs[]. */
static int sent(struct conn *k, uint32_t *segs, int max)
{
    struct tt_seg s;
    int n = 0;
    while (tt_next(k->t, &k->cur, &s)) {
        if (s.plen == 0)
            continue;
        if (n < max)
            segs[n] = (s.seq - k->b) / MSS;
        n++;
    }
    return n;
}

static const uint64_t *ctr(struct conn *k) { return k->t->c.counters.tcp; }

/* Queue n segments of data (the app's memory, referenced, not copied). */
static void queue(struct conn *k, uint32_t nseg)
{
    static char data[64 * MSS];
    CHECK(nseg <= 64);
    struct net_iov iov = {data, nseg * MSS};
    CHECK_EQ(tcp_sendv(&k->t->c, k->h, &iov, 1), (int64_t)(nseg * MSS));
}

/* Close after everything is ACKed, let the peer finish, run out TIME_WAIT; then every
 * per-segment record is back in the pool, nothing was copied, no PCB and no mbuf is left. */
static void finish(struct conn *k, uint32_t end_seg)
{
    CHECK_EQ(tcp_close(&k->t->c, k->h), 0);
    uint32_t fin = k->b + end_seg * MSS;
    tt_send(k->t, PPORT, k->lport, PISS + 1, fin + 1, TCP_ACK | TCP_FIN, 65535, NULL, 0, NULL, 0);
    tt_advance(k->t, 61000000);
    struct tcp_core *tc = k->t->c.tcp;
    CHECK_EQ(tc->segs_free, tc->nsegs);
    CHECK_EQ(k->t->c.counters.copies, 0);
    tt_free(k->t);
}

/* One clean flight of n segments ACKed after one RTT: RACK learns min_RTT = RTT. */
static void warm_up(struct conn *k, uint32_t n)
{
    uint32_t segs[64];
    queue(k, n);
    CHECK_EQ(sent(k, segs, 64), (int)n);
    tt_advance(k->t, RTT);
    ack(k, n);
    k->b += n * MSS; /* segment numbers restart at 0 after the warm-up */
    struct tcp_pcb *p = pcb(k);
    CHECK(p != NULL && p->rk.have_min && p->rk.min_rtt_us == RTT);
}

/* A SACK connection past its warm-up flight of n segments; its PCB (NULL: already reported). */
static struct tcp_pcb *start(struct conn *k, uint32_t n)
{
    open_sack(k);
    warm_up(k, n);
    return pcb(k);
}

/* Holes at 3 and 6 in a flight of 10: RACK marks both lost at once (3+ segments SACKed
 * above them, no reordering seen yet: reo_wnd 0), both are retransmitted. Both
 * retransmissions are lost; new data sent with them is SACKed a round trip later: RACK finds
 * both lost retransmissions - 6 is not the head - and resends them. No RTO. */
static void lost_retransmission_not_head(void)
{
    struct conn k;
    struct tcp_pcb *p = start(&k, 10);
    if (p == NULL)
        return;
    uint32_t segs[64];
    queue(&k, 30);
    CHECK_EQ(sent(&k, segs, 64), 12); /* cwnd grew by 2 in slow start */
    tt_advance(k.t, RTT);
    const uint32_t blk[] = {7, 12, 4, 6};
    sack(&k, 3, 2, blk);
    CHECK(p->in_recovery);
    int n = sent(&k, segs, 64);
    CHECK(n >= 2);
    CHECK_EQ(segs[0], 3);
    CHECK_EQ(segs[1], 6);
    uint32_t first_new = 12 + (uint32_t)(n - 2); /* new data sent alongside */
    CHECK(n > 2);
    CHECK_EQ(ctr(&k)[TCPC_RACK_RETRANS], 0);
    /* One RTT later: both retransmissions lost, the new segments sent with them arrive. */
    tt_advance(k.t, RTT);
    const uint32_t blk2[] = {12, first_new, 7, 12, 4, 6};
    sack(&k, 3, 3, blk2);
    n = sent(&k, segs, 64);
    CHECK(n >= 2);
    CHECK_EQ(segs[0], 3);
    CHECK_EQ(segs[1], 6);
    CHECK_EQ(ctr(&k)[TCPC_RACK_RETRANS], 2);
    /* These arrive: everything sent so far is ACKed. */
    tt_advance(k.t, RTT);
    while (p->snd_una != p->snd_max) {
        ack(&k, (p->snd_max - k.b) / MSS);
        (void)sent(&k, segs, 64);
        tt_advance(k.t, RTT);
    }
    CHECK_EQ(p->snd_una, k.b + 30 * MSS);
    CHECK_EQ(ctr(&k)[TCPC_RTO], 0);
    CHECK(!p->in_recovery);
    finish(&k, 30);
}

/* The last two segments of a burst are lost and nothing more is queued: after 2 SRTT the
 * loss probe resends the last segment; its SACK lets RACK find the other one. All repaired
 * within a few RTTs, no RTO (200 ms). */
static void tail_loss_probe_last_segment(void)
{
    struct conn k;
    struct tcp_pcb *p = start(&k, 10);
    if (p == NULL)
        return;
    uint32_t segs[64];
    queue(&k, 10);
    CHECK_EQ(sent(&k, segs, 64), 10);
    tt_advance(k.t, RTT);
    ack(&k, 8); /* 8 and 9 lost */
    CHECK(!p->in_recovery);
    CHECK(timer_pending(&p->t_tlp));
    uint64_t t0 = tl_now_us;
    tt_advance(k.t, 2 * RTT - 1000);
    CHECK_EQ(sent(&k, segs, 64), 0); /* not yet: PTO = 2 SRTT */
    tt_advance(k.t, 2000);
    CHECK_EQ(sent(&k, segs, 64), 1);
    CHECK_EQ(segs[0], 9); /* the highest segment */
    CHECK_EQ(ctr(&k)[TCPC_TLP_PROBES], 1);
    tt_advance(k.t, RTT);
    const uint32_t blk[] = {9, 10};
    sack(&k, 8, 1, blk);
    /* 8 was sent before the probe, long enough ago: RACK marks it lost at once. */
    tt_advance(k.t, RTT / 4 + 100);
    CHECK_EQ(sent(&k, segs, 64), 1);
    CHECK_EQ(segs[0], 8);
    CHECK_EQ(ctr(&k)[TCPC_RACK_LOST], 1);
    tt_advance(k.t, RTT);
    ack(&k, 10);
    CHECK(tl_now_us - t0 < 100000);
    CHECK_EQ(ctr(&k)[TCPC_RTO], 0);
    CHECK_EQ(p->snd_una, p->snd_max);
    CHECK(!p->in_recovery);
    finish(&k, 10);
}

/* A tail loss while more data waits behind cwnd: the probe sends a new segment (RFC 8985
 * §7.3, cwnd notwithstanding), whose SACK makes RACK find the lost tail. */
static void tail_loss_probe_new_data(void)
{
    struct conn k;
    struct tcp_pcb *p = start(&k, 10);
    if (p == NULL)
        return;
    uint32_t segs[64];
    p->cwnd = p->ssthresh = 4 * MSS; /* congestion avoidance, 4 segments */
    queue(&k, 20);
    CHECK_EQ(sent(&k, segs, 64), 4);
    /* 0 and 1 arrive, 2 and 3 are lost: one ACK for 0-1; cwnd then allows 2 more, also
     * lost. */
    tt_advance(k.t, RTT);
    ack(&k, 2);
    CHECK_EQ(sent(&k, segs, 64), 2);
    tt_advance(k.t, 2 * RTT + 1000);
    CHECK_EQ(sent(&k, segs, 64), 1);
    CHECK_EQ(segs[0], 6); /* new data, beyond cwnd */
    CHECK_EQ(ctr(&k)[TCPC_TLP_PROBES], 1);
    CHECK(p->rk.tlp_out && !p->rk.tlp_rtx);
    tt_advance(k.t, RTT);
    const uint32_t blk[] = {6, 7};
    sack(&k, 2, 1, blk);
    CHECK(!p->rk.tlp_out || p->in_recovery);
    tt_advance(k.t, RTT / 4 + 100);
    int n = sent(&k, segs, 64);
    CHECK(n >= 1);
    CHECK_EQ(segs[0], 2);
    CHECK(p->in_recovery);
    for (int i = 0; i < 40 && p->snd_una != k.b + 20 * MSS; i++) {
        tt_advance(k.t, RTT);
        ack(&k, (p->snd_max - k.b) / MSS);
        (void)sent(&k, segs, 64);
    }
    CHECK_EQ(p->snd_una, k.b + 20 * MSS);
    CHECK_EQ(ctr(&k)[TCPC_RTO], 0);
    finish(&k, 20);
}

/* Segment 2 of 12 is overtaken by 3 (SACKed alone) and arrives an eighth of an RTT later,
 * within the reordering window (min_RTT / 4): no retransmission, and RACK notes the
 * reordering. Later 21 is overtaken by the four segments sent with it: with reordering
 * seen, four SACKed segments above it no longer make it lost at once; it arrives in time.
 * Nothing is ever retransmitted. */
static void reordering_within_reo_wnd(void)
{
    struct conn k;
    struct tcp_pcb *p = start(&k, 10);
    if (p == NULL)
        return;
    uint32_t segs[64];
    queue(&k, 40);
    CHECK_EQ(sent(&k, segs, 64), 12);
    tt_advance(k.t, RTT);
    const uint32_t blk[] = {3, 4};
    sack(&k, 2, 1, blk);
    CHECK(timer_pending(&p->t_rack)); /* 2 is a suspect until xmit + RTT + reo_wnd */
    CHECK(!p->in_recovery);
    CHECK(!p->rk.reord);
    tt_advance(k.t, RTT / 8);
    ack(&k, 4); /* 2 arrives */
    CHECK(p->rk.reord);
    tt_advance(k.t, RTT / 2); /* past the reordering timer */
    CHECK_EQ(ctr(&k)[TCPC_RETRANS], 0);
    CHECK(!p->in_recovery);
    ack(&k, 12);
    CHECK(sent(&k, segs, 64) > 0); /* 20.. go out together, now */
    CHECK(p->snd_max - k.b >= 26 * MSS);
    tt_advance(k.t, RTT);
    const uint32_t blk2[] = {22, 26};
    sack(&k, 21, 1, blk2);
    CHECK(!p->in_recovery);
    CHECK(timer_pending(&p->t_rack));
    tt_advance(k.t, RTT / 8);
    ack(&k, 26);
    tt_advance(k.t, RTT / 2);
    CHECK_EQ(ctr(&k)[TCPC_RETRANS], 0);
    CHECK_EQ(ctr(&k)[TCPC_RACK_LOST], 0);
    for (int i = 0; i < 40 && p->snd_una != k.b + 40 * MSS; i++) {
        ack(&k, (p->snd_max - k.b) / MSS);
        (void)sent(&k, segs, 64);
        tt_advance(k.t, RTT);
    }
    CHECK_EQ(p->snd_una, k.b + 40 * MSS);
    CHECK_EQ(ctr(&k)[TCPC_RETRANS], 0);
    CHECK_EQ(ctr(&k)[TCPC_RTO], 0);
    finish(&k, 40);
}

/* A peer that holds what arrived: got[] per segment. */
struct peer {
    bool got[64];
};

/* Segments sent since the cursor arrive (all of them: the losses are scripted before). */
static void arrive(struct conn *k, struct peer *pe)
{
    uint32_t segs[64];
    int n = sent(k, segs, 64);
    for (int i = 0; i < n && i < 64; i++)
        if (segs[i] < 64)
            pe->got[segs[i]] = true;
}

/* The peer's ACK for what it holds: the cumulative point and up to 3 SACK blocks above. */
static void peer_ack(struct conn *k, const struct peer *pe)
{
    uint32_t a = 0;
    while (a < 64 && pe->got[a])
        a++;
    uint32_t blk[6];
    int nb = 0;
    for (uint32_t i = a; i < 64 && nb < 3;) {
        if (!pe->got[i]) {
            i++;
            continue;
        }
        uint32_t j = i;
        while (j < 64 && pe->got[j])
            j++;
        blk[2 * nb] = i;
        blk[2 * nb + 1] = j;
        nb++;
        i = j;
    }
    sack(k, a, nb, blk);
}

/* Windows of 2 and 3 segments (three duplicate ACKs impossible): one loss in 2, two losses
 * in 3, and the whole window of 2 lost (a probe first). Each is repaired without an RTO, in
 * less time than one minimum RTO. */
static void small_windows(void)
{
    for (int scen = 0; scen < 3; scen++) {
        struct conn k;
        open_sack(&k);
        warm_up(&k, 10);
        struct tcp_pcb *p = pcb(&k);
        if (p == NULL)
            return;
        struct peer pe;
        memset(&pe, 0, sizeof(pe));
        uint32_t segs[64];
        uint32_t w = scen == 1 ? 3 : 2;
        p->cwnd = p->ssthresh = w * MSS;
        queue(&k, 12);
        CHECK_EQ(sent(&k, segs, 64), (int)w);
        /* scen 0: 0 lost, 1 arrives; scen 1: 0 and 1 lost, 2 arrives; scen 2: both lost */
        if (scen == 0)
            pe.got[1] = true;
        if (scen == 1)
            pe.got[2] = true;
        uint64_t t0 = tl_now_us;
        tt_advance(k.t, RTT);
        if (scen == 2) {
            /* nothing comes back; the probe (new data) does */
            tt_advance(k.t, RTT + 1000);
            CHECK_EQ(sent(&k, segs, 64), 1);
            CHECK_EQ(segs[0], 2);
            CHECK_EQ(ctr(&k)[TCPC_TLP_PROBES], 1);
            pe.got[2] = true;
            tt_advance(k.t, RTT);
        }
        peer_ack(&k, &pe);
        arrive(&k, &pe); /* (new data the SACK made room for) */
        tt_advance(k.t, RTT / 4 + 100); /* the reordering window */
        CHECK(p->in_recovery);
        CHECK(ctr(&k)[TCPC_RETRANS] >= 1);
        for (int i = 0; i < 60 && p->snd_una != k.b + 12 * MSS; i++) {
            arrive(&k, &pe);
            tt_advance(k.t, RTT);
            peer_ack(&k, &pe);
        }
        CHECK_EQ(p->snd_una, k.b + 12 * MSS);
        CHECK_EQ(ctr(&k)[TCPC_RETRANS], scen == 0 ? 1u : 2u); /* only the losses */
        CHECK_EQ(ctr(&k)[TCPC_RTO], 0);
        CHECK(tl_now_us - t0 < 200000); /* less than one minimum RTO for the whole lot */
        finish(&k, 12);
    }
}

/* One segment in flight, lost: PTO = 2 SRTT + 200 ms (a delayed ACK may be due) would come
 * after the RTO, so the probe is capped to go just before it and takes its place: the
 * segment is repaired without an RTO (and without cwnd falling to one segment). */
static void single_segment_probe_before_rto(void)
{
    struct conn k;
    struct tcp_pcb *p = start(&k, 10);
    if (p == NULL)
        return;
    uint32_t segs[64];
    queue(&k, 1);
    CHECK_EQ(sent(&k, segs, 64), 1);
    uint32_t cwnd = p->cwnd;
    tt_advance(k.t, 190000);
    CHECK_EQ(sent(&k, segs, 64), 0);
    tt_advance(k.t, 10000); /* the RTO's time (200 ms): the probe, one tick ahead */
    CHECK_EQ(sent(&k, segs, 64), 1);
    CHECK_EQ(segs[0], 0);
    CHECK_EQ(ctr(&k)[TCPC_TLP_PROBES], 1);
    CHECK_EQ(ctr(&k)[TCPC_RTO], 0);
    tt_advance(k.t, RTT);
    ack(&k, 1);
    CHECK_EQ(ctr(&k)[TCPC_RTO], 0);
    CHECK(p->cwnd >= cwnd); /* (ACK == probe end: no verdict, no reduction) */
    finish(&k, 1);
}

/* A whole flight and its loss probe lost: the RTO (200 ms minimum) resends only the first
 * segment (one-segment loss window); its ACK lets RACK mark the others, sent before it, lost;
 * they go out in slow start without a second timeout, and nothing that arrived is resent. */
static void rto_then_rack(void)
{
    struct conn k;
    struct tcp_pcb *p = start(&k, 10);
    if (p == NULL)
        return;
    struct peer pe;
    memset(&pe, 0, sizeof(pe));
    uint32_t segs[64];
    p->cwnd = p->ssthresh = 4 * MSS;
    queue(&k, 4);
    CHECK_EQ(sent(&k, segs, 64), 4);
    tt_advance(k.t, 2 * RTT + 1000);
    CHECK_EQ(sent(&k, segs, 64), 1); /* the probe: lost as well */
    CHECK_EQ(segs[0], 3);
    tt_advance(k.t, 200000);
    CHECK_EQ(ctr(&k)[TCPC_RTO], 1);
    CHECK_EQ(sent(&k, segs, 64), 1);
    CHECK_EQ(segs[0], 0);
    pe.got[0] = true;
    for (int i = 0; i < 20 && p->snd_una != k.b + 4 * MSS; i++) {
        tt_advance(k.t, RTT);
        peer_ack(&k, &pe);
        arrive(&k, &pe);
    }
    CHECK_EQ(p->snd_una, k.b + 4 * MSS);
    CHECK_EQ(ctr(&k)[TCPC_RTO], 1);
    CHECK_EQ(ctr(&k)[TCPC_RETRANS], 5); /* the probe, then 0, 1, 2, 3 once each */
    CHECK(!p->in_recovery);
    finish(&k, 4);
}

/* SACK negotiated, but the peer sends no blocks: three duplicate ACKs still mark the first
 * segment lost (RFC 6675 DupThresh as a fallback); it is resent at once. */
static void dupthresh_without_blocks(void)
{
    struct conn k;
    struct tcp_pcb *p = start(&k, 10);
    if (p == NULL)
        return;
    uint32_t segs[64];
    queue(&k, 8);
    CHECK_EQ(sent(&k, segs, 64), 8);
    tt_advance(k.t, RTT);
    ack(&k, 0);
    ack(&k, 0);
    CHECK_EQ(ctr(&k)[TCPC_RETRANS], 0);
    ack(&k, 0);
    CHECK(p->in_recovery);
    CHECK_EQ(sent(&k, segs, 64), 1);
    CHECK_EQ(segs[0], 0);
    tt_advance(k.t, RTT);
    ack(&k, 8);
    CHECK(!p->in_recovery);
    CHECK_EQ(ctr(&k)[TCPC_RTO], 0);
    finish(&k, 8);
}

/* The loss probe's verdict (RFC 8985 §7.4). Four segments; the ACK covering 2-3 never
 * comes. (a) 3 was lost too: the probe (3 again) repairs it; its ACK only reaches the probe's
 * end, undecided, and the next ACK beyond it says a loss was repaired: cwnd is reduced once.
 * (b) 3 had arrived: the peer's ACK for the probe carries a D-SACK for it: no reduction. */
static void probe_loss_detection(void)
{
    for (int needless = 0; needless < 2; needless++) {
        struct conn k;
        open_sack(&k);
        warm_up(&k, 10);
        struct tcp_pcb *p = pcb(&k);
        if (p == NULL)
            return;
        uint32_t segs[64];
        p->cwnd = p->ssthresh = 8 * MSS;
        queue(&k, 4);
        CHECK_EQ(sent(&k, segs, 64), 4);
        tt_advance(k.t, RTT);
        ack(&k, 2);
        tt_advance(k.t, 2 * RTT + 1000);
        CHECK_EQ(sent(&k, segs, 64), 1);
        CHECK_EQ(segs[0], 3); /* nothing new to send: the last segment again */
        CHECK(p->rk.tlp_out && p->rk.tlp_rtx);
        uint32_t cwnd = p->cwnd;
        tt_advance(k.t, RTT);
        if (needless) {
            const uint32_t d[] = {3, 4};
            sack(&k, 4, 1, d);
            CHECK(!p->rk.tlp_out);
            CHECK_EQ(ctr(&k)[TCPC_TLP_RECOVERIES], 0);
            CHECK_EQ(p->cwnd, cwnd);
            CHECK_EQ(ctr(&k)[TCPC_RTO], 0);
            finish(&k, 4);
            continue;
        }
        queue(&k, 2); /* more data goes out before the probe's ACK */
        CHECK_EQ(sent(&k, segs, 64), 2);
        ack(&k, 4);
        CHECK(p->rk.tlp_out); /* ACK == probe end: undecided */
        tt_advance(k.t, RTT);
        ack(&k, 6);
        CHECK(!p->rk.tlp_out);
        CHECK_EQ(ctr(&k)[TCPC_TLP_RECOVERIES], 1);
        CHECK(p->cwnd <= cwnd / 2);
        CHECK_EQ(ctr(&k)[TCPC_RTO], 0);
        finish(&k, 6);
    }
}

/* The per-segment records of p agree with the connection: they cover [snd_una, snd_max)
 * in order without gaps, their flags add up to the sums pipe is computed from, and SACKed
 * excludes lost and in flight again. */
static void check_records(struct conn *k, struct tcp_pcb *p)
{
    const struct tcp_core *tc = k->t->c.tcp;
    uint32_t at = p->snd_una, n = 0, sacked = 0, sacked_segs = 0, lost = 0, rtx = 0, rexmit = 0, ever = 0;
    uint32_t last = 0;
    for (uint32_t i = p->sg_head; i != 0; i = tc->segs[i].next) {
        const struct tcp_seg *r = &tc->segs[i];
        CHECK_EQ(r->seq, at);
        CHECK(seq_lt(r->seq, r->end));
        uint32_t len = r->end - r->seq;
        if (r->flags & SEGF_SACKED) {
            CHECK_EQ(r->flags & (SEGF_LOST | SEGF_RTX), 0);
            sacked += len;
            sacked_segs++;
        } else {
            lost += (r->flags & SEGF_LOST) ? len : 0;
            rtx += (r->flags & SEGF_RTX) ? len : 0;
            rexmit += (r->flags & (SEGF_LOST | SEGF_RTX)) == SEGF_LOST ? len : 0;
        }
        ever += (r->flags & SEGF_EVER_RTX) ? 1 : 0;
        at = r->end;
        last = i;
        n++;
    }
    CHECK_EQ(at, p->snd_max);
    CHECK_EQ(last, p->sg_tail);
    CHECK_EQ(n, p->sg_count);
    CHECK_EQ(sacked, p->sacked_bytes);
    CHECK_EQ(sacked_segs, p->sacked_segs);
    CHECK_EQ(lost, p->lost_bytes);
    CHECK_EQ(rtx, p->rtx_bytes);
    CHECK_EQ(rexmit, p->rexmit_bytes);
    CHECK_EQ(ever, p->ever_rtx_segs);
}

/* A random path: each segment is lost with 5 %, reordered (delayed up to half an RTT more)
 * with 10 %; the peer ACKs every arrival (lost with 5 %) with its cumulative point and SACK
 * blocks. 1000 segments must arrive, the records stay consistent after every event, and
 * the connection never stalls (RTOs only where a random double loss leaves nothing else). */
#define NSEG 1000u
struct ev {
    uint64_t at;
    uint32_t seg;  /* data: segment number; ACK: unused */
    int is_ack;
    uint32_t a;    /* ACK: cumulative (segments) */
    uint32_t blk[6];
    int nb;
};

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static void random_path(void)
{
    for (uint64_t seed = 1; seed <= 6; seed++) {
        rng_state = seed;
        struct conn k;
        open_sack(&k);
        warm_up(&k, 10);
        struct tcp_pcb *p = pcb(&k);
        if (p == NULL)
            return;
        static bool got[NSEG];
        static struct ev evq[4096];
        memset(got, 0, sizeof(got));
        int nev = 0;
        static char data[NSEG * MSS];
        uint32_t queued = 0;
        uint64_t start = tl_now_us;
        for (int step = 0; step < 400000 && p->snd_una != k.b + NSEG * MSS; step++) {
            /* the app keeps 100 segments queued */
            if (queued < NSEG && queued - (p->snd_una - k.b) / MSS < 100) {
                uint32_t n = NSEG - queued < 50 ? NSEG - queued : 50;
                struct net_iov iov = {data + queued * MSS, n * MSS};
                CHECK_EQ(tcp_sendv(&k.t->c, k.h, &iov, 1), (int64_t)(n * MSS));
                queued += n;
            }
            /* what the stack sent goes onto the path */
            struct tt_seg sg;
            while (tt_next(k.t, &k.cur, &sg)) {
                if (sg.plen == 0 || nev >= 4096)
                    continue;
                if (rnd() % 100 < 5)
                    continue;
                uint64_t d = RTT / 2 + (rnd() % 100 < 10 ? rnd() % (RTT / 2) : 0);
                evq[nev++] = (struct ev){.at = tl_now_us + d, .seg = (sg.seq - k.b) / MSS};
            }
            /* due events, in time order */
            for (;;) {
                int best = -1;
                for (int i = 0; i < nev; i++)
                    if (evq[i].at <= tl_now_us && (best < 0 || evq[i].at < evq[best].at))
                        best = i;
                if (best < 0)
                    break;
                struct ev e = evq[best];
                evq[best] = evq[--nev];
                if (e.is_ack) {
                    sack(&k, e.a, e.nb, e.blk);
                    check_records(&k, p);
                    continue;
                }
                if (e.seg < NSEG)
                    got[e.seg] = true;
                if (rnd() % 100 < 5 || nev >= 4096)
                    continue; /* the ACK is lost */
                struct ev a = {.at = tl_now_us + RTT / 2, .is_ack = 1};
                while (a.a < NSEG && got[a.a])
                    a.a++;
                for (uint32_t i = a.a; i < NSEG && a.nb < 3;) {
                    if (!got[i]) {
                        i++;
                        continue;
                    }
                    uint32_t j = i;
                    while (j < NSEG && got[j])
                        j++;
                    a.blk[2 * a.nb] = i;
                    a.blk[2 * a.nb + 1] = j;
                    a.nb++;
                    i = j;
                }
                evq[nev++] = a;
            }
            tt_advance(k.t, 100);
            check_records(&k, p);
            tl_events_reset(k.t); /* the app reads its events (SENT) */
        }
        CHECK_EQ(p->snd_una, k.b + NSEG * MSS);
        printf("     seed %llu: %u segments in %.2f s simulated, retransmits %llu, RTOs %llu, probes %llu\n",
               (unsigned long long)seed, NSEG, (double)(tl_now_us - start) / 1e6,
               (unsigned long long)ctr(&k)[TCPC_RETRANS], (unsigned long long)ctr(&k)[TCPC_RTO],
               (unsigned long long)ctr(&k)[TCPC_TLP_PROBES]);
        CHECK(ctr(&k)[TCPC_RTO] <= 5);
        finish(&k, NSEG);
    }
}

int main(void)
{
    CHECK_RUN(lost_retransmission_not_head);
    CHECK_RUN(tail_loss_probe_last_segment);
    CHECK_RUN(tail_loss_probe_new_data);
    CHECK_RUN(reordering_within_reo_wnd);
    CHECK_RUN(small_windows);
    CHECK_RUN(probe_loss_detection);
    CHECK_RUN(rto_then_rack);
    CHECK_RUN(single_segment_probe_before_rto);
    CHECK_RUN(dupthresh_without_blocks);
    CHECK_RUN(random_path);
    return check_summary("tcp_rack_test");
}
