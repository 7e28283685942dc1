/* Congestion control: NewReno (RFC 5681 slow start / congestion avoidance, RFC 6582 fast
 * retransmit and fast recovery with partial ACKs), initial window per RFC 6928. */
#include "tcp_int.h"

static uint32_t flight_size(const struct tcp_pcb *p) { return p->snd_max - p->snd_una; }

static uint32_t half_flight(const struct tcp_pcb *p)
{
    uint32_t h = flight_size(p) / 2;
    uint32_t min = 2u * p->mss;
    return h > min ? h : min;   /* RFC 5681 eq. (4) */
}

void tcp_cc_init(struct net_core *c, struct tcp_pcb *p)
{
    (void)c;
    uint32_t iw = 10u * p->mss;              /* RFC 6928: min(10*MSS, max(2*MSS, 14600)) */
    uint32_t cap = 2u * p->mss > 14600u ? 2u * p->mss : 14600u;
    p->cwnd = iw < cap ? iw : cap;
    p->ssthresh = 0x7fffffffu;               /* RFC 5681 §3.1: arbitrarily high */
    p->recover = p->iss;
    p->in_recovery = false;
    p->dupacks = 0;
    tcp_sack_clear(p);
}

/* New data acknowledged (snd_una already advanced by `acked`). */
void tcp_cc_ack(struct net_core *c, struct tcp_pcb *p, uint32_t acked)
{
    p->dupacks = 0;
    if (p->in_recovery) {
        if (seq_geq(p->snd_una, p->recover)) {
            /* Full ACK (RFC 6582 §3.2 step 3): leave recovery, deflate the window to
             * ssthresh (option 2). Option 1, min(ssthresh, FlightSize + MSS), collapses
             * cwnd to one segment when the full ACK empties the pipe, as it usually does,
             * and the next loss then has no duplicate ACKs to be found by: an RTO. The
             * burst this allows is at most ssthresh, half the window before the loss. */
            p->cwnd = p->ssthresh;
            p->in_recovery = false;
            p->loss_state = false;
            p->head_rxt_us = 0;
        } else if (p->sack_on) {
            /* SACK recovery: no deflation; tcp_sack_recover picks what to send. After a
             * timeout (loss_state) the window grows in slow start meanwhile. */
            if (p->loss_state)
                p->cwnd += acked < p->mss ? acked : p->mss;
            tcp_sack_partial_ack(p);
        } else {
            /* Partial ACK: retransmit the next hole at once, deflate by the amount
             * acked, add back one MSS (step 4). */
            TCP_TCTR(c, FAST_RETRANS);
            (void)tcp_xmit(c, p, p->snd_una, p->mss, 0);
            p->cwnd = p->cwnd > acked ? p->cwnd - acked : 0;
            p->cwnd += p->mss;
        }
        return;
    }
    if (p->cwnd < p->ssthresh) {
        /* Slow start, with appropriate byte counting limited to one MSS per ACK (L = 1,
         * RFC 3465 as RFC 5681 §3.1 allows). */
        p->cwnd += acked < p->mss ? acked : p->mss;
    } else {
        /* Congestion avoidance: about one MSS per RTT (RFC 5681 eq. (3)). */
        uint32_t inc = (uint32_t)((uint64_t)p->mss * p->mss / (p->cwnd ? p->cwnd : 1));
        p->cwnd += inc ? inc : 1;
    }
    if (p->cwnd > (1u << 30))
        p->cwnd = 1u << 30;
}

/* A duplicate ACK. Returns true when the caller should retransmit now (third dup ACK). */
bool tcp_cc_dupack(struct net_core *c, struct tcp_pcb *p)
{
    (void)c;
    if (p->in_recovery) {
        if (!p->sack_on)
            p->cwnd += p->mss;               /* inflate for the segment that left */
        return false;                        /* (with SACK the pipe accounts for it) */
    }
    /* Early retransmit (RFC 5827): with fewer than 4 segments outstanding and no new data
     * that may be sent (none queued, or cwnd full), there can never be 3 duplicates; the
     * threshold is outstanding - 1. */
    uint32_t flight = p->snd_max - p->snd_una;
    uint32_t out_segs = (flight + p->mss - 1) / p->mss;
    uint32_t thresh = 3;
    if (out_segs < 4 && (!seq_lt(p->snd_nxt, p->snd_end) || flight + p->mss > p->cwnd))
        thresh = out_segs > 2 ? out_segs - 1 : 1;
    /* With SACK, enough data SACKed above snd_una marks it lost (RFC 6675 IsLost) even when
     * some duplicate ACKs were lost on the way. */
    if (++p->dupacks < thresh && !(p->sack_on && tcp_sack_head_lost(p)))
        return false;
    /* RFC 6582 §3.2 step 2: only if the cumulative ACK covers more than `recover`, so the
     * dup ACKs of an earlier recovery (or after an RTO) do not trigger a second reduction.
     * §4.2 ACK heuristic: after a timeout, duplicates that follow an ACK advancing by at most
     * 4 segments (with cwnd above one segment) signal a new loss, not the go-back-N resend
     * of segments the receiver already held; without it every loss during the slow start
     * after an RTO (snd_una still below recover) would cost another RTO. */
    /* With SACK the scoreboard (cleared at the timeout) says it directly: a hole at snd_una
     * with enough SACKed above it is a new loss. */
    if (!seq_gt(p->snd_una, p->recover) &&
        !(p->cwnd > p->mss && p->last_ack_adv <= 4u * p->mss) &&
        !(p->sack_on && tcp_sack_head_lost(p)))
        return false;
    p->ssthresh = half_flight(p);
    p->recover = p->snd_max;
    p->cwnd = p->sack_on ? p->ssthresh : p->ssthresh + 3u * p->mss; /* RFC 6675 §5 / 6582 */
    p->in_recovery = true;
    return true;
}

void tcp_cc_rto(struct net_core *c, struct tcp_pcb *p)
{
    (void)c;
    if (p->rto_count <= 1)                   /* RFC 5681 eq. (4), first timeout only */
        p->ssthresh = half_flight(p);
    p->cwnd = p->mss;                        /* loss window: one segment */
    p->in_recovery = false;
    p->loss_state = false;
    p->recover = p->snd_max;
    p->dupacks = 0;
    if (p->sack_on && p->rto_count <= 1 && p->nsb > 0) {
        /* SACK loss recovery after a timeout (RFC 6675 §5.1): every byte not SACKed is
         * taken as lost and resent in order, in slow start, skipping what the receiver
         * holds. A second timeout in a row forgets the scoreboard (the receiver may have
         * reneged) and goes back N. */
        p->in_recovery = true;
        p->loss_state = true;
        p->high_rxt = p->snd_una;
        p->head_rxt_us = 0;
    } else {
        tcp_sack_clear(p);
    }
}
