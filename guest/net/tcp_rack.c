/* RACK-TLP loss detection (RFC 8985) for our sender, used when SACK was negotiated (without
 * SACK the NewReno code in tcp_cc.c runs alone, as RFC 8985 assumes SACK).
 *
 * RACK (§6): time, not duplicate counts, decides what is lost. Every segment in flight has
 * its (re)transmission time in its record (tcp_sack.c). The most recently sent segment that
 * has been delivered (ACKed or SACKed) defines RACK.xmit_ts / RACK.end_seq and RACK.rtt;
 * any segment not yet delivered that was sent before it, and has been out for RACK.rtt +
 * reo_wnd, is lost - a retransmission just like an original, so a lost retransmission of
 * any hole is found one round trip later instead of by the RTO. Segments not yet old enough
 * arm the reordering timer. reo_wnd (§6.2) is min_RTT / 4 (capped at SRTT) once reordering
 * has been seen (a never-retransmitted segment delivered below one delivered earlier); before
 * that it is 0 in recovery or when DupThresh (3) segments are SACKed, so the first loss of a
 * reordering-free path is repaired at once. No DSACK-driven reo_wnd growth.
 *
 * A peer that negotiated SACK but sends no blocks still gets a DupThresh fallback: three
 * pure duplicate ACKs with nothing SACKed mark the first segment lost.
 *
 * A loss found outside recovery starts fast recovery: one window reduction, spread over the
 * round trip by PRR (tcp_cc.c), and pipe-limited sending, lost records first
 * (tcp_sack_rexmit via tcp_output).
 *
 * TLP (§7): when nothing is SACKed and we are not in recovery, a probe timeout PTO = 2 SRTT
 * (+ 200 ms, the worst-case delayed ACK, when one segment is in flight; 1 s without an RTT
 * sample), capped by the RTO, is armed after new data is sent or an ACK arrives. On
 * expiry one probe goes out: a new segment if the peer's window allows one (cwnd ignored),
 * else the highest segment again. Its ACK (or SACK) gives RACK what it needs to find a tail
 * loss, or, when the probe was a retransmission that repaired the only loss (ACK beyond the
 * probe's end), cwnd is reduced as for one loss (§7.4); a D-SACK for the probe or a pure
 * duplicate ACK says it was not needed. One probe per episode: no new one until its ACK.
 * After the probe the RTO is re-armed (§7.3).
 *
 * RTO (§6.3): the first unSACKed segment and those sent more than RACK.rtt + reo_wnd ago are
 * marked lost; the rest stay in flight for RACK to judge. The first is resent regardless of
 * cwnd (one segment after a timeout).
 */
#include "stack_env.h"
#include "tcp_int.h"

#define PCB_OF(t, field) ((struct tcp_pcb *)((uint8_t *)(t) - __builtin_offsetof(struct tcp_pcb, field)))

#define TLP_WCDELACK_US 200000u            /* RFC 8985 §7.2 WCDelAckT */
#define TLP_PTO_NO_RTT_US 1000000u         /* §7.2: PTO before any RTT sample */
#define RACK_MIN_RTT_WIN_US 10000000ull    /* min_RTT forgets samples older than 10 s */
#define RACK_DUPTHRESH 3u

/* Was (t1, e1) sent after (t2, e2)? Same time: the higher end was sent later (§6.2). */
static bool sent_after(uint64_t t1, uint32_t e1, uint64_t t2, uint32_t e2)
{
    return t1 > t2 || (t1 == t2 && seq_gt(e1, e2));
}

void tcp_rack_init(struct tcp_pcb *p)
{
    __builtin_memset(&p->rk, 0, sizeof(p->rk));
    p->rk.fack = p->rk.fack_ack = p->snd_una;
}

/* A simple windowed minimum: a smaller sample replaces it, and so does any sample once the
 * minimum is older than the window (the path may have changed). */
void tcp_rack_min_rtt(struct tcp_pcb *p, uint32_t rtt_us, uint64_t now)
{
    struct tcp_rack *k = &p->rk;
    if (!k->have_min || rtt_us <= k->min_rtt_us || now - k->min_rtt_at > RACK_MIN_RTT_WIN_US) {
        k->min_rtt_us = rtt_us;
        k->min_rtt_at = now;
        k->have_min = true;
    }
}

/* Step 1-2 (§6.2) for one newly delivered record: reordering, min RTT, RACK.xmit_ts. */
void tcp_rack_delivered(struct tcp_pcb *p, const struct tcp_seg *r, uint64_t now)
{
    struct tcp_rack *k = &p->rk;
    uint64_t d = now > r->xmit_us ? now - r->xmit_us : 0;
    uint32_t rtt = d > 0xffffffffu ? 0xffffffffu : (uint32_t)d;
    bool rtx = (r->flags & SEGF_EVER_RTX) != 0;
    if (!rtx) {
        /* sent once and delivered below data delivered by an earlier ACK: it was
         * overtaken, not lost */
        if (seq_leq(r->end, k->fack_ack))
            k->reord = true;
        tcp_rack_min_rtt(p, rtt, now);
    }
    if (seq_gt(r->end, k->fack))
        k->fack = r->end;
    /* A retransmitted segment ACKed sooner than min_RTT after its retransmission was most
     * likely delivered by an earlier transmission: its time says nothing. */
    if (rtx && (!k->have_min || rtt < k->min_rtt_us))
        return;
    if (!k->valid || sent_after(r->xmit_us, r->end, k->xmit_us, k->end)) {
        k->valid = true;
        k->xmit_us = r->xmit_us;
        k->end = r->end;
        k->rtt_us = rtt;
        k->advanced = true;
    }
}

static uint32_t reo_wnd(const struct tcp_pcb *p)
{
    if (!p->rk.reord && (p->in_recovery || p->sacked_segs >= RACK_DUPTHRESH))
        return 0;
    uint32_t w = p->rk.min_rtt_us / 4;
    if (p->srtt_us != 0 && w > p->srtt_us)
        w = p->srtt_us;
    return w;
}

/* Step 5 (§6.2): mark what was sent before the RACK segment and is overdue; arm the
 * reordering timer for the latest deadline still ahead (cancel it when none). */
static void detect_loss(struct net_core *c, struct tcp_pcb *p, uint64_t now)
{
    struct tcp_rack *k = &p->rk;
    uint64_t last = 0;
    if (k->valid) {
        uint32_t reo = reo_wnd(p);
        for (uint32_t i = p->sg_head; i != 0;) {
            struct tcp_seg *r = tcp_seg_of(c, i);
            i = r->next;
            if ((r->flags & SEGF_SACKED) || (r->flags & (SEGF_LOST | SEGF_RTX)) == SEGF_LOST)
                continue; /* delivered, or already waiting to be resent */
            if (!sent_after(k->xmit_us, k->end, r->xmit_us, r->end)) {
                /* Sent after the RACK segment: no verdict yet. Without retransmissions,
                 * sequence order is send order, so nothing further on can be older. */
                if (p->ever_rtx_segs == 0)
                    break;
                continue;
            }
            uint64_t due = r->xmit_us + k->rtt_us + reo;
            if (due <= now) {
                tcp_seg_mark_lost(p, r);
                TCP_TCTR(c, RACK_LOST);
            } else if (due > last) {
                last = due;
            }
        }
    }
    if (last != 0)
        timer_arm(c->wheel, &p->t_rack, last);
    else if (timer_pending(&p->t_rack))
        timer_cancel(c->wheel, &p->t_rack);
}

static void tlp_end(struct net_core *c, struct tcp_pcb *p)
{
    p->rk.tlp_out = false;
    if (timer_pending(&p->t_tlp))
        timer_cancel(c->wheel, &p->t_tlp);
}

static void enter_recovery(struct net_core *c, struct tcp_pcb *p)
{
    TCP_TCTR(c, FAST_RETRANS);
    tcp_cc_enter_recovery(c, p);
    p->fr_first = true;
    p->rtt_timing = false;
    tlp_end(c, p); /* the episode is recovery's now */
}

/* Is the ACK's first block a D-SACK (RFC 2883: below the cumulative ACK, or inside the
 * second block) covering the end of the probe? */
static bool dsack_for_probe(const struct tcp_pcb *p, const struct tcp_opts *o)
{
    if (o->nsack == 0)
        return false;
    uint32_t l = o->sack_l[0], r = o->sack_r[0];
    bool dsack = seq_leq(r, p->snd_una) ||
                 (o->nsack > 1 && seq_geq(l, o->sack_l[1]) && seq_leq(r, o->sack_r[1]));
    return dsack && seq_lt(l, p->rk.tlp_end) && seq_geq(r, p->rk.tlp_end);
}

/* §7.4: was the probe's retransmission the repair of a loss? */
static void tlp_on_ack(struct net_core *c, struct tcp_pcb *p, const struct tcp_opts *o, bool advanced,
                       bool pure_dup)
{
    struct tcp_rack *k = &p->rk;
    if (!k->tlp_out || seq_lt(p->snd_una, k->tlp_end))
        return;
    if (!k->tlp_rtx || dsack_for_probe(p, o)) {
        k->tlp_out = false; /* new data delivered, or both copies arrived */
        return;
    }
    if (advanced && seq_gt(p->snd_una, k->tlp_end)) {
        /* only the probe got through: it repaired a loss, which calls for a reduction */
        k->tlp_out = false;
        TCP_TCTR(c, TLP_RECOVERIES);
        tcp_cc_tlp_loss(c, p);
        return;
    }
    if (pure_dup && o->nsack == 0)
        k->tlp_out = false; /* a duplicate for the probe: the original had arrived */
}

/* Every acceptable ACK of a SACK connection (acked = bytes snd_una advanced by, snd_una
 * already moved; pure_dup = a duplicate ACK in the RFC 5681 sense). */
void tcp_rack_ack(struct net_core *c, struct tcp_pcb *p, const struct tcp_opts *o, uint32_t acked,
                  bool pure_dup)
{
    uint64_t now = env_now_us();
    uint32_t sacked_before = p->sacked_bytes;
    p->rk.fack_ack = p->rk.fack;
    p->rk.advanced = false;
    tcp_sack_update(p, o);
    tcp_segs_sacked(c, p, o, now);
    if (acked > 0)
        tcp_segs_acked(c, p, p->snd_una, now);
    tlp_on_ack(c, p, o, acked > 0, pure_dup);
    if (acked > 0)
        tcp_cc_ack(c, p, acked);
    if (pure_dup && ++p->dupacks >= RACK_DUPTHRESH && p->sacked_segs == 0 && p->sg_head != 0) {
        struct tcp_seg *h = tcp_seg_of(c, p->sg_head);
        if (h->flags == 0)
            tcp_seg_mark_lost(p, h); /* DupThresh fallback: the peer sends no blocks */
    }
    /* Without SACKed or retransmitted records every segment still out was sent after
     * everything delivered: nothing can be judged lost. */
    if (p->rk.advanced && (p->sacked_segs > 0 || p->ever_rtx_segs > 0))
        detect_loss(c, p, now);
    if (p->rexmit_bytes > 0 && !p->in_recovery)
        enter_recovery(c, p);
    if (p->in_recovery && !p->loss_state) {
        /* RFC 6937 DeliveredData = change in snd_una + change in SACKed bytes (negative when
         * the cumulative ACK passed data SACKed before: counted once, when SACKed) */
        int64_t delivered = (int64_t)acked + p->sacked_bytes - sacked_before;
        tcp_cc_prr(c, p, delivered > 0 ? (uint32_t)delivered : 0);
    }
}

/* §6.3 plus RFC 6675 §5.1 on a retransmission timeout (tcp_cc_rto has set the loss window
 * and RTO recovery). */
void tcp_rack_rto(struct net_core *c, struct tcp_pcb *p)
{
    uint64_t now = env_now_us();
    tlp_end(c, p);
    if (timer_pending(&p->t_rack))
        timer_cancel(c->wheel, &p->t_rack);
    if (p->rto_count > 1)
        tcp_sack_forget(c, p);
    uint32_t reo = reo_wnd(p);
    bool first = true;
    for (uint32_t i = p->sg_head; i != 0;) {
        struct tcp_seg *r = tcp_seg_of(c, i);
        i = r->next;
        if (r->flags & SEGF_SACKED)
            continue;
        if (first || r->xmit_us + p->rk.rtt_us + reo <= now)
            tcp_seg_mark_lost(p, r);
        first = false;
    }
    p->fr_first = false;
    (void)tcp_sack_rexmit(c, p, true);
    tcp_output(c, p);
}

/* §7.2: (re)arm the probe timer when the rules allow one, else make sure it is off. */
void tcp_tlp_arm(struct net_core *c, struct tcp_pcb *p)
{
    uint32_t flight = p->snd_max - p->snd_una;
    if (!p->sack_on || p->in_recovery || p->rk.tlp_out || p->sacked_segs > 0 || flight == 0 ||
        !tcp_can_send_data(p->state) || !timer_pending(&p->t_rtx)) {
        if (timer_pending(&p->t_tlp))
            timer_cancel(c->wheel, &p->t_tlp);
        return;
    }
    uint64_t pto = TLP_PTO_NO_RTT_US;
    if (p->srtt_us != 0) {
        pto = 2ull * p->srtt_us;
        if (flight <= p->mss)
            pto += TLP_WCDELACK_US;
    }
    uint64_t now = env_now_us();
    uint64_t at = now + pto;
    /* Capped by the RTO: a probe due later goes one tick before the RTO instead, and takes
     * its place (it re-arms the RTO), as Linux does: a single lost segment (PTO + 200 ms) is
     * then repaired by a probe, without collapsing cwnd to one segment. */
    uint64_t tick = c->wheel->tick_us;
    uint64_t rto_at = p->t_rtx.expires * tick;
    if (at + tick > rto_at)
        at = rto_at > now + tick ? rto_at - tick : now;
    timer_arm(c->wheel, &p->t_tlp, at);
}

/* §7.3: the probe. */
static void tlp_timer_fn(struct timer *t, void *arg)
{
    struct net_core *c = arg;
    struct tcp_pcb *p = PCB_OF(t, t_tlp);
    uint32_t flight = p->snd_max - p->snd_una;
    if (!p->sack_on || !tcp_can_send_data(p->state) || flight == 0 || p->in_recovery || p->rk.tlp_out ||
        p->sacked_segs > 0)
        return;
    p->rk.tlp_out = true; /* before sending: tcp_xmit must not re-arm the probe */
    int n = 0;
    if (seq_lt(p->snd_max, p->snd_end) && p->snd_wnd > flight) {
        uint32_t len = p->snd_end - p->snd_max;
        if (len > p->mss)
            len = p->mss;
        if (len > p->snd_wnd - flight)
            len = p->snd_wnd - flight;
        n = tcp_xmit(c, p, p->snd_max, len, 0);
        p->rk.tlp_rtx = false;
    } else if (p->fin_queued && p->snd_max == p->fin_seq) {
        n = tcp_xmit(c, p, p->snd_max, 0, 0); /* the FIN is the new data */
        p->rk.tlp_rtx = false;
    }
    if (n <= 0 && p->sg_tail != 0) {
        const struct tcp_seg *r = tcp_seg_of(c, p->sg_tail);
        uint32_t len = r->end - r->seq;
        n = tcp_xmit(c, p, r->seq, len < p->mss ? len : p->mss, 0);
        p->rk.tlp_rtx = true;
    }
    if (n > 0) {
        TCP_TCTR(c, TLP_PROBES);
        p->rk.tlp_end = p->snd_max;
    } else {
        p->rk.tlp_out = false;
    }
    /* §7.3: sent or not, the RTO (not the PTO) is re-armed: the last resort if TLP fails. */
    tcp_rearm_rtx(c, p);
}

/* The reordering window of the oldest suspects has passed (§6.2 step 5 by timer). */
static void rack_timer_fn(struct timer *t, void *arg)
{
    struct net_core *c = arg;
    struct tcp_pcb *p = PCB_OF(t, t_rack);
    if (!p->sack_on || !tcp_can_send_data(p->state) || p->sg_head == 0)
        return;
    uint32_t before = p->rexmit_bytes;
    detect_loss(c, p, env_now_us());
    if (p->rexmit_bytes == 0)
        return;
    if (p->rexmit_bytes != before)
        TCP_TCTR(c, REO_TIMEOUTS);
    if (!p->in_recovery) {
        enter_recovery(c, p);
        tcp_cc_prr(c, p, 0);
    }
    tcp_output(c, p);
}

/* (Here, not in tcp_timer.c: the guest kernel is position-independent code linked static
 * above 2 GiB, where taking the address of another file's function does not link.) */
void tcp_rack_timers_init(struct tcp_pcb *p)
{
    timer_init(&p->t_rack, rack_timer_fn);
    timer_init(&p->t_tlp, tlp_timer_fn);
}
