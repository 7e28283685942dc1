/* Congestion control: NewReno (RFC 5681 slow start / congestion avoidance with byte counting,
 * RFC 6582 fast retransmit and fast recovery with partial ACKs), initial window per RFC 6928.
 * With SACK, loss detection is RACK-TLP's (tcp_rack.c) and fast recovery follows RFC 6675 /
 * RFC 6937 (PRR) here: one reduction per episode, cwnd set from pipe on each ACK. */
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
    tcp_rack_init(p);
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
             * burst this allows is at most ssthresh, half the window before the loss.
             * After a timeout (loss_state) cwnd has been growing from one segment since:
             * it is kept, and slow start goes on up to ssthresh. */
            if (!p->loss_state)
                p->cwnd = p->ssthresh;
            p->in_recovery = false;
            p->loss_state = false;
            return;
        }
        if (p->sack_on) {
            /* SACK fast recovery: cwnd stays at ssthresh, pipe decides what may be sent
             * (tcp_sack.c). After a timeout the window grows meanwhile (below). */
            if (!p->loss_state)
                return;
        } else {
            /* Partial ACK: retransmit the next hole at once, deflate by the amount
             * acked, add back one MSS (step 4). */
            TCP_TCTR(c, FAST_RETRANS);
            (void)tcp_xmit(c, p, p->snd_una, p->mss, 0);
            p->cwnd = p->cwnd > acked ? p->cwnd - acked : 0;
            p->cwnd += p->mss;
            return;
        }
    }
    if (p->cwnd < p->ssthresh) {
        /* Slow start with appropriate byte counting, at most L = 2 MSS per ACK (RFC 3465
         * §2.3): a receiver that ACKs every other segment still doubles cwnd per RTT. */
        uint32_t l = 2u * p->mss;
        p->cwnd += acked < l ? acked : l;
        p->cwnd_acc = 0;
    } else {
        /* Congestion avoidance by byte counting (RFC 5681 §3.1's recommended way, RFC 3465
         * §2.1): one MSS each time a cwnd's worth of bytes has been ACKed, i.e. one MSS per
         * RTT whatever the peer's ACK ratio (per-ACK increments give half that against a
         * delayed-ACK receiver). */
        p->cwnd_acc += acked;
        if (p->cwnd_acc >= p->cwnd) {
            p->cwnd_acc -= p->cwnd;
            p->cwnd += p->mss;
        }
    }
    if (p->cwnd > (1u << 30))
        p->cwnd = 1u << 30;
}

/* A duplicate ACK. Returns true when the caller should retransmit now (third dup ACK). */
bool tcp_cc_dupack(struct net_core *c, struct tcp_pcb *p)
{
    (void)c;
    if (p->in_recovery) {
        p->cwnd += p->mss;                   /* inflate for the segment that left */
        return false;
    }
    /* Early retransmit (RFC 5827): with fewer than 4 segments outstanding and no new data
     * that may be sent (none queued, or cwnd full), there can never be 3 duplicates; the
     * threshold is outstanding - 1. */
    uint32_t flight = p->snd_max - p->snd_una;
    uint32_t out_segs = (flight + p->mss - 1) / p->mss;
    uint32_t thresh = 3;
    if (out_segs < 4 && (!seq_lt(p->snd_nxt, p->snd_end) || flight + p->mss > p->cwnd))
        thresh = out_segs > 2 ? out_segs - 1 : 1;
    if (++p->dupacks < thresh)
        return false;
    /* RFC 6582 §3.2 step 2: only if the cumulative ACK covers more than `recover`, so the
     * dup ACKs of an earlier recovery (or after an RTO) do not trigger a second reduction.
     * §4.2 ACK heuristic: after a timeout, duplicates that follow an ACK advancing by at most
     * 4 segments (with cwnd above one segment) signal a new loss, not the go-back-N resend
     * of segments the receiver already held; without it every loss during the slow start
     * after an RTO (snd_una still below recover) would cost another RTO. */
    if (!seq_gt(p->snd_una, p->recover) &&
        !(p->cwnd > p->mss && p->last_ack_adv <= 4u * p->mss))
        return false;
    p->ssthresh = half_flight(p);
    p->recover = p->snd_max;
    p->cwnd = p->ssthresh + 3u * p->mss;     /* RFC 6582 §3.2 step 2 */
    p->in_recovery = true;
    return true;
}

/* SACK connections: RACK found a loss outside recovery (tcp_rack.c). One reduction per
 * recovery episode (RFC 6675 §5: cwnd = ssthresh = FlightSize / 2, no inflation: pipe
 * accounts for what has left the network). */
void tcp_cc_enter_recovery(struct net_core *c, struct tcp_pcb *p)
{
    (void)c;
    p->ssthresh = half_flight(p);
    p->recover = p->snd_max;
    p->in_recovery = true;
    p->loss_state = false;
    p->dupacks = 0;
    p->cwnd_acc = 0;
    p->prr_delivered = 0;
    p->prr_out = 0;
    p->prr_recover_fs = flight_size(p);
}

/* Proportional Rate Reduction (RFC 6937, as Linux does) sets cwnd on each ACK of SACK fast
 * recovery instead of dropping it to ssthresh at once: while pipe is above ssthresh, send
 * ssthresh/RecoverFS of what is delivered (the reduction spread over the round trip, ACK
 * clock kept); below it, slow-start back towards ssthresh but no faster than delivery plus
 * one segment (PRR-SSRB). The first retransmission always goes. prr_out counts what is sent
 * meanwhile (tcp_output.c). `delivered`: bytes newly ACKed or SACKed by this ACK. */
void tcp_cc_prr(struct net_core *c, struct tcp_pcb *p, uint32_t delivered)
{
    p->prr_delivered += delivered;
    uint32_t pipe = tcp_sack_pipe(p);
    int64_t sndcnt;
    if (pipe > p->ssthresh) {
        uint64_t fs = p->prr_recover_fs ? p->prr_recover_fs : 1;
        uint64_t share = ((uint64_t)p->prr_delivered * p->ssthresh + fs - 1) / fs;
        sndcnt = (int64_t)share - p->prr_out;
    } else {
        int64_t limit = (int64_t)p->prr_delivered - p->prr_out;
        if (limit < (int64_t)delivered)
            limit = delivered;
        limit += p->mss;
        sndcnt = (int64_t)(p->ssthresh - pipe);
        if (sndcnt > limit)
            sndcnt = limit;
    }
    if (sndcnt < 0)
        sndcnt = 0;
    if (sndcnt == 0 && p->prr_out == 0 && p->rexmit_bytes > 0)
        sndcnt = p->mss; /* the fast retransmit itself */
    (void)c;
    p->cwnd = pipe + (uint32_t)sndcnt;
}

/* A tail loss probe's retransmission repaired a loss (RFC 8985 §7.4): the reduction one
 * loss calls for, from the window in use (the flight is only the tail by now). */
void tcp_cc_tlp_loss(struct net_core *c, struct tcp_pcb *p)
{
    (void)c;
    uint32_t h = p->cwnd / 2;
    p->ssthresh = h > 2u * p->mss ? h : 2u * p->mss;
    if (p->cwnd > p->ssthresh)
        p->cwnd = p->ssthresh;
    p->cwnd_acc = 0;
}

void tcp_cc_rto(struct net_core *c, struct tcp_pcb *p)
{
    (void)c;
    if (p->rto_count <= 1)                   /* RFC 5681 eq. (4), first timeout only */
        p->ssthresh = half_flight(p);
    p->cwnd = p->mss;                        /* loss window: one segment */
    p->cwnd_acc = 0;
    p->recover = p->snd_max;
    p->dupacks = 0;
    /* With SACK, RTO recovery (loss_state): RACK marks what is lost (tcp_rack_rto) and only
     * that is resent, in slow start, skipping what the receiver holds; recovery ends when
     * snd_una passes `recover`. Without SACK: go back N (tcp_timer.c). */
    p->in_recovery = p->sack_on;
    p->loss_state = p->sack_on;
}
