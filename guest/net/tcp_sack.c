/* SACK-based loss recovery for our sender (RFC 6675, simplified), used when SACK was
 * negotiated; without it the NewReno code in tcp_cc.c runs alone.
 *
 * Scoreboard: up to TCP_SB_MAX disjoint, sorted ranges [sb_l, sb_r) above snd_una that the
 * peer reported in SACK blocks (merged over ACKs, pruned as snd_una advances, cleared on an
 * RTO since a receiver may renege). Every byte of a hole (a gap between snd_una and a SACKed
 * range) has the same SACKed bytes above it, so "lost" (RFC 6675 IsLost: more than
 * (DupThresh - 1) * MSS bytes SACKed above, or DupThresh SACKed ranges above) is decided per
 * hole; the part above the highest SACKed range is never lost, only in flight.
 *
 * In recovery cwnd stays at ssthresh (no NewReno inflation) and every ACK runs
 * tcp_sack_recover: pipe (RFC 6675 SetPipe) = bytes in holes that are not lost plus bytes
 * retransmitted (below high_rxt); while cwnd - pipe allows a segment it sends, in order, the
 * next lost hole bytes above high_rxt, else new data.
 *
 * After an RTO with a non-empty scoreboard (loss_state, RFC 6675 §5.1) every hole, the top
 * one up to snd_max included, counts as lost: only the bytes the receiver does not hold are
 * resent, in slow start from one segment, instead of going back N.
 *
 * Lost retransmissions (which RFC 6675 leaves to the RTO, ~100 RTTs at a 200 ms minimum
 * here): a RACK-like check (RFC 8985's idea, for the oldest hole only): when the head hole
 * was retransmitted at time T, data sent after T has since been SACKed and more than
 * 5/4 SRTT have passed, that retransmission is taken as lost and sent again.
 */
#include "plat.h"
#include "tcp_int.h"

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

void tcp_sack_clear(struct tcp_pcb *p)
{
    p->nsb = 0;
    p->high_rxt = p->snd_una;
    p->head_rxt_us = 0;
}

/* Drop what snd_una has passed; clip a range it cuts. */
static void prune(struct tcp_pcb *p)
{
    unsigned k = 0;
    for (unsigned i = 0; i < p->nsb; i++) {
        if (seq_leq(p->sb_r[i], p->snd_una))
            continue;
        p->sb_l[k] = seq_lt(p->sb_l[i], p->snd_una) ? p->snd_una : p->sb_l[i];
        p->sb_r[k] = p->sb_r[i];
        k++;
    }
    p->nsb = (uint8_t)k;
}

/* Insert [l, r) keeping ranges sorted and disjoint (merging overlaps and neighbours). When
 * full, the highest range is given up (the lowest ones matter for the next holes). */
static void insert(struct tcp_pcb *p, uint32_t l, uint32_t r)
{
    unsigned i = 0;
    while (i < p->nsb && seq_lt(p->sb_r[i], l))
        i++;
    /* ranges i.. that touch [l, r) merge into it */
    unsigned j = i;
    while (j < p->nsb && seq_leq(p->sb_l[j], r)) {
        if (seq_lt(p->sb_l[j], l))
            l = p->sb_l[j];
        if (seq_gt(p->sb_r[j], r))
            r = p->sb_r[j];
        j++;
    }
    unsigned removed = j - i;
    if (removed == 0) {
        if (p->nsb == TCP_SB_MAX) {
            if (i == TCP_SB_MAX)
                return; /* above everything and no room */
            p->nsb--;   /* give up the highest range */
        }
        for (unsigned k = p->nsb; k > i; k--) {
            p->sb_l[k] = p->sb_l[k - 1];
            p->sb_r[k] = p->sb_r[k - 1];
        }
        p->nsb++;
    } else if (removed > 1) {
        for (unsigned k = j; k < p->nsb; k++) {
            p->sb_l[k - removed + 1] = p->sb_l[k];
            p->sb_r[k - removed + 1] = p->sb_r[k];
        }
        p->nsb = (uint8_t)(p->nsb - removed + 1);
    }
    p->sb_l[i] = l;
    p->sb_r[i] = r;
}

void tcp_sack_update(struct tcp_pcb *p, const struct tcp_opts *o)
{
    prune(p);
    for (unsigned b = 0; b < o->nsack; b++) {
        uint32_t l = o->sack_l[b], r = o->sack_r[b];
        /* only blocks inside what we sent and above the cumulative ACK (RFC 2883 D-SACKs
         * below snd_una and garbage are ignored) */
        if (!seq_lt(l, r) || seq_gt(r, p->snd_max) || seq_leq(r, p->snd_una))
            continue;
        if (seq_lt(l, p->snd_una))
            l = p->snd_una;
        insert(p, l, r);
    }
}

/* SACKed bytes in ranges i.. (everything above hole i). */
static uint32_t sacked_from(const struct tcp_pcb *p, unsigned i)
{
    uint32_t n = 0;
    for (; i < p->nsb; i++)
        n += p->sb_r[i] - p->sb_l[i];
    return n;
}

/* Is hole i (the gap below range i) lost? */
static bool hole_lost(const struct tcp_pcb *p, unsigned i)
{
    return p->loss_state || sacked_from(p, i) > 2u * p->mss || p->nsb - i >= 3;
}

bool tcp_sack_head_lost(const struct tcp_pcb *p)
{
    return p->nsb > 0 && hole_lost(p, 0) && seq_lt(p->snd_una, p->sb_l[0]);
}

static uint32_t pipe_of(const struct tcp_pcb *p)
{
    uint32_t pipe = 0, a = p->snd_una;
    for (unsigned i = 0; i <= p->nsb; i++) {
        uint32_t b = i < p->nsb ? p->sb_l[i] : p->snd_max;
        if (seq_lt(a, b)) {
            if (!hole_lost(p, i) || (i == p->nsb && !p->loss_state))
                pipe += b - a;
            if (seq_gt(p->high_rxt, a))
                pipe += min32(b - a, p->high_rxt - a);
        }
        if (i < p->nsb)
            a = p->sb_r[i];
    }
    return pipe;
}

/* The next lost bytes not yet retransmitted: [*seq, *seq + *len). */
static bool next_lost(const struct tcp_pcb *p, uint32_t *seq, uint32_t *len)
{
    uint32_t a = p->snd_una;
    unsigned holes = p->nsb + (p->loss_state ? 1u : 0u); /* after an RTO, the top one too */
    for (unsigned i = 0; i < holes; i++) {
        uint32_t b = i < p->nsb ? p->sb_l[i] : p->snd_max;
        if (seq_lt(a, b) && hole_lost(p, i)) {
            uint32_t s = seq_gt(p->high_rxt, a) ? p->high_rxt : a;
            if (seq_lt(s, b)) {
                *seq = s;
                *len = min32(b - s, p->mss);
                return true;
            }
        }
        if (i < p->nsb)
            a = p->sb_r[i];
    }
    return false;
}

static void mark_head_rxt(struct tcp_pcb *p, uint32_t seq)
{
    if (seq == p->snd_una) {
        p->head_rxt_us = plat_now_us();
        p->head_rxt_mark = p->snd_max;
    }
}

void tcp_sack_entered_recovery(struct tcp_pcb *p, uint32_t rxt_len)
{
    p->high_rxt = p->snd_una + rxt_len;
    mark_head_rxt(p, p->snd_una);
}

void tcp_sack_partial_ack(struct tcp_pcb *p)
{
    if (seq_lt(p->high_rxt, p->snd_una))
        p->high_rxt = p->snd_una;
    /* The new head was retransmitted at some earlier time we did not record: start its
     * clock now (later than the truth, so the lost-retransmission check only gets more
     * careful). */
    if (seq_lt(p->snd_una, p->high_rxt))
        mark_head_rxt(p, p->snd_una);
    else
        p->head_rxt_us = 0;
}

void tcp_sack_recover(struct net_core *c, struct tcp_pcb *p)
{
    /* RACK-like: the head's retransmission is lost if later data got through meanwhile. */
    if (p->head_rxt_us != 0 && seq_lt(p->snd_una, p->high_rxt) && p->nsb > 0 &&
        seq_gt(p->sb_r[p->nsb - 1], p->head_rxt_mark)) {
        uint64_t wait = (uint64_t)p->srtt_us + p->srtt_us / 4;
        if (plat_now_us() - p->head_rxt_us > wait) {
            uint32_t hole = seq_lt(p->snd_una, p->sb_l[0]) ? p->sb_l[0] - p->snd_una : p->mss;
            if (tcp_xmit(c, p, p->snd_una, min32(hole, p->mss), 0) > 0) {
                TCP_TCTR(c, RACK_RETRANS);
                mark_head_rxt(p, p->snd_una);
            }
        }
    }
    uint32_t pipe = pipe_of(p);
    for (int guard = 0; guard < 64 && pipe + p->mss <= p->cwnd; guard++) {
        uint32_t seq, len;
        if (next_lost(p, &seq, &len)) {
            int n = tcp_xmit(c, p, seq, len, 0);
            if (n <= 0)
                return;
            TCP_TCTR(c, SACK_RETRANS);
            mark_head_rxt(p, seq);
            p->high_rxt = seq + (uint32_t)n;
            pipe += (uint32_t)n;
            continue;
        }
        /* New data, within the peer's window. */
        uint32_t flight = p->snd_max - p->snd_una;
        if (p->snd_nxt != p->snd_max || !seq_lt(p->snd_nxt, p->snd_end) || p->snd_wnd <= flight)
            return;
        len = min32(min32(p->snd_end - p->snd_nxt, p->mss), p->snd_wnd - flight);
        int n = tcp_xmit(c, p, p->snd_nxt, len, 0);
        if (n <= 0)
            return;
        pipe += (uint32_t)n;
    }
}
