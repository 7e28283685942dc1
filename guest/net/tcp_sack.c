/* SACK loss recovery for our sender, used when SACK was negotiated (without it the NewReno
 * code in tcp_cc.c runs alone): the per-segment records of what is in flight, the SACK
 * scoreboard, the RFC 6675 pipe, and the retransmission of what is marked lost. Which
 * segments are lost is decided by RACK-TLP (tcp_rack.c, RFC 8985).
 *
 * Records (struct tcp_seg): every transmission of sequence space after the handshake is
 * recorded with the range it covered, the time it was last sent and flags (SACKed, lost,
 * a retransmission in flight, ever retransmitted). They cover exactly [snd_una, snd_max)
 * in sequence order, one record per segment; a retransmission with other boundaries splits
 * records. RACK needs the send time of every segment, including retransmissions, which a
 * range scoreboard cannot give: that is what lets a lost retransmission of any hole be
 * found and resent without waiting for the RTO. The records hold no data: a retransmission
 * re-references the app memory of the send queue (zero copy).
 *
 * Pool: a per-core array (tcp_segs_pool_size), free list by index. New data is sent only
 * when a record can be had (tcp_seg_reserve, one spare per connection); a connection past
 * TCP_SEG_CONN_MAX records, or a core whose pool is empty, merges new data into its last
 * record while that one is untouched (coarser loss detection, never untracked data); if not
 * even that is possible the send waits for ACKs to free records (the RTO/persist timer
 * retries). A split that finds the pool empty is skipped (the whole record is treated as
 * resent: slower, still correct).
 *
 * Scoreboard ranges (sb_l/sb_r, up to TCP_SB_MAX): what the peer reported, merged over
 * ACKs and pruned as snd_una advances; kept beside the records for the TLP rule "no SACKed
 * data" and to report what the receiver holds.
 *
 * pipe (RFC 6675 SetPipe, per record): bytes neither SACKed nor lost, plus bytes whose
 * retransmission is in flight. Lost records are resent first, in sequence order, while
 * cwnd - pipe allows (NextSeg rule 1); then new data (rule 2, in tcp_output).
 */
#include "stack_env.h"
#include "tcp_int.h"

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

void tcp_sack_clear(struct tcp_pcb *p) { p->nsb = 0; }

/* ---- scoreboard ranges ---------------------------------------------------------------- */

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

/* A block worth using: inside what we sent and above the cumulative ACK (RFC 2883 D-SACKs
 * below snd_una and garbage are ignored); clipped at snd_una. */
static bool block_ok(const struct tcp_pcb *p, uint32_t *l, uint32_t r)
{
    if (!seq_lt(*l, r) || seq_gt(r, p->snd_max) || seq_leq(r, p->snd_una))
        return false;
    if (seq_lt(*l, p->snd_una))
        *l = p->snd_una;
    return true;
}

void tcp_sack_update(struct tcp_pcb *p, const struct tcp_opts *o)
{
    prune(p);
    for (unsigned b = 0; b < o->nsack; b++) {
        uint32_t l = o->sack_l[b], r = o->sack_r[b];
        if (block_ok(p, &l, r))
            insert(p, l, r);
    }
}

/* ---- record pool ------------------------------------------------------------------------ */

uint32_t tcp_segs_pool_size(unsigned max_conns) { return max_conns * 4u + 2048u; }

void tcp_segs_pool_init(struct tcp_core *tc, struct tcp_seg *segs, uint32_t n)
{
    tc->segs = segs;
    tc->nsegs = n;
    tc->free_seg = 0;
    for (uint32_t i = n; i >= 1; i--) {
        segs[i].next = tc->free_seg;
        tc->free_seg = i;
    }
    tc->segs_free = n;
}

static uint32_t seg_alloc(struct tcp_core *tc)
{
    uint32_t i = tc->free_seg;
    if (i != 0) {
        tc->free_seg = tc->segs[i].next;
        tc->segs_free--;
    }
    return i;
}

static void seg_put(struct tcp_core *tc, uint32_t i)
{
    tc->segs[i].next = tc->free_seg;
    tc->free_seg = i;
    tc->segs_free++;
}

/* What a record's flags contribute to the per-connection sums (add or take away `len`
 * bytes and `n` records). SACKED excludes LOST and RTX (set_flags keeps it so). */
static void account(struct tcp_pcb *p, uint32_t fl, uint32_t len, uint32_t n, bool add)
{
#define ADJ(field, v) (p->field = add ? p->field + (v) : p->field - (v))
    if (fl & SEGF_SACKED) {
        ADJ(sacked_bytes, len);
        ADJ(sacked_segs, n);
    } else {
        if (fl & SEGF_LOST)
            ADJ(lost_bytes, len);
        if (fl & SEGF_RTX)
            ADJ(rtx_bytes, len);
        if ((fl & (SEGF_LOST | SEGF_RTX)) == SEGF_LOST)
            ADJ(rexmit_bytes, len);
    }
    if (fl & SEGF_EVER_RTX)
        ADJ(ever_rtx_segs, n);
#undef ADJ
}

static void set_flags(struct tcp_pcb *p, struct tcp_seg *r, uint32_t fl)
{
    if (fl & SEGF_SACKED)
        fl &= ~(SEGF_LOST | SEGF_RTX);
    uint32_t len = r->end - r->seq;
    account(p, r->flags, len, 1, false);
    r->flags = fl;
    account(p, fl, len, 1, true);
}

void tcp_seg_mark_lost(struct tcp_pcb *p, struct tcp_seg *r)
{
    set_flags(p, r, (r->flags | SEGF_LOST) & ~SEGF_RTX);
}

/* Split record i at s (strictly inside it): [seq, s) stays, [s, end) follows as a new
 * record with the same flags and time. False when the pool is empty. */
static bool split(struct net_core *c, struct tcp_pcb *p, uint32_t i, uint32_t s)
{
    struct tcp_core *tc = c->tcp;
    uint32_t j = seg_alloc(tc);
    if (j == 0)
        return false;
    struct tcp_seg *r = &tc->segs[i], *n = &tc->segs[j];
    *n = *r;
    n->seq = s;
    r->end = s;
    r->next = j;
    if (p->sg_tail == i)
        p->sg_tail = j;
    p->sg_count++;
    account(p, n->flags, 0, 1, true); /* bytes unchanged, one record more */
    return true;
}

static bool tail_mergeable(struct net_core *c, const struct tcp_pcb *p)
{
    if (p->sg_tail == 0)
        return false;
    const struct tcp_seg *t = tcp_seg_of(c, p->sg_tail);
    return t->flags == 0 && t->end == p->snd_max && t->end - t->seq < TCP_SEG_MERGE_MAX;
}

bool tcp_seg_reserve(struct net_core *c, struct tcp_pcb *p)
{
    if (p->sg_spare != 0)
        return true;
    if (p->sg_count < TCP_SEG_CONN_MAX && (p->sg_spare = seg_alloc(c->tcp)) != 0)
        return true;
    return tail_mergeable(c, p);
}

/* [seq, end) has just been sent (before snd_max moves): the part below snd_max is a
 * retransmission (those records get the new time and RTX), the part above is new data (a
 * new record, or merged into the last one when no record could be reserved). */
void tcp_seg_sent(struct net_core *c, struct tcp_pcb *p, uint32_t seq, uint32_t end)
{
    struct tcp_core *tc = c->tcp;
    uint64_t now = env_now_us();
    uint32_t top = p->snd_max;
    if (seq_lt(seq, top)) {
        uint32_t e = seq_lt(end, top) ? end : top;
        uint32_t i = p->sg_head;
        while (i != 0 && seq_leq(tc->segs[i].end, seq))
            i = tc->segs[i].next;
        if (i != 0 && seq_lt(tc->segs[i].seq, seq) && split(c, p, i, seq))
            i = tc->segs[i].next;
        for (; i != 0 && seq_lt(tc->segs[i].seq, e); i = tc->segs[i].next) {
            struct tcp_seg *r = &tc->segs[i];
            if (seq_gt(r->end, e))
                (void)split(c, p, i, e);
            set_flags(p, r, (r->flags | SEGF_RTX | SEGF_EVER_RTX) & ~SEGF_SACKED);
            r->xmit_us = now;
        }
    }
    if (!seq_gt(end, top))
        return;
    uint32_t s = seq_gt(seq, top) ? seq : top;
    if (p->sg_spare != 0) {
        uint32_t j = p->sg_spare;
        p->sg_spare = 0;
        struct tcp_seg *r = &tc->segs[j];
        r->next = 0;
        r->seq = s;
        r->end = end;
        r->flags = 0;
        r->xmit_us = now;
        if (p->sg_tail != 0)
            tc->segs[p->sg_tail].next = j;
        else
            p->sg_head = j;
        p->sg_tail = j;
        p->sg_count++;
    } else if (tail_mergeable(c, p)) {
        struct tcp_seg *t = &tc->segs[p->sg_tail];
        t->end = end;
        t->xmit_us = now;
    }
    /* (else cannot happen: tcp_xmit reserved a record before sending new data) */
}

void tcp_segs_free(struct net_core *c, struct tcp_pcb *p)
{
    struct tcp_core *tc = c->tcp;
    while (p->sg_head != 0) {
        uint32_t i = p->sg_head;
        p->sg_head = tc->segs[i].next;
        seg_put(tc, i);
    }
    if (p->sg_spare != 0)
        seg_put(tc, p->sg_spare);
    p->sg_spare = p->sg_tail = p->sg_count = 0;
    p->sacked_bytes = p->sacked_segs = p->lost_bytes = p->rtx_bytes = 0;
    p->rexmit_bytes = p->ever_rtx_segs = 0;
}

/* The cumulative ACK reached `ack` (snd_una already moved): records below it are
 * delivered (RACK hears of those not SACKed before) and freed; one it cuts is trimmed. */
void tcp_segs_acked(struct net_core *c, struct tcp_pcb *p, uint32_t ack, uint64_t now)
{
    struct tcp_core *tc = c->tcp;
    while (p->sg_head != 0) {
        uint32_t i = p->sg_head;
        struct tcp_seg *r = &tc->segs[i];
        if (!seq_leq(r->end, ack)) {
            if (seq_lt(r->seq, ack)) {
                account(p, r->flags, ack - r->seq, 0, false);
                r->seq = ack;
            }
            return;
        }
        if (!(r->flags & SEGF_SACKED))
            tcp_rack_delivered(p, r, now);
        account(p, r->flags, r->end - r->seq, 1, false);
        p->sg_head = r->next;
        if (p->sg_head == 0)
            p->sg_tail = 0;
        p->sg_count--;
        seg_put(tc, i);
    }
}

/* Records wholly inside a SACK block of this ACK are delivered: RACK hears of each newly
 * SACKed one, which then leaves pipe. A record a block covers only in part stays as it is
 * (boundaries normally match: the peer SACKs the segments we sent). */
void tcp_segs_sacked(struct net_core *c, struct tcp_pcb *p, const struct tcp_opts *o, uint64_t now)
{
    struct tcp_core *tc = c->tcp;
    for (unsigned b = 0; b < o->nsack; b++) {
        uint32_t l = o->sack_l[b], rr = o->sack_r[b];
        if (!block_ok(p, &l, rr))
            continue;
        for (uint32_t i = p->sg_head; i != 0; i = tc->segs[i].next) {
            struct tcp_seg *r = &tc->segs[i];
            if (seq_leq(r->end, l))
                continue;
            if (seq_gt(r->end, rr))
                break;
            if (seq_geq(r->seq, l) && !(r->flags & SEGF_SACKED)) {
                tcp_rack_delivered(p, r, now);
                set_flags(p, r, SEGF_SACKED | (r->flags & SEGF_EVER_RTX));
            }
        }
    }
}

/* A second timeout in a row: the receiver may have reneged on what it SACKed (RFC 2018
 * §8), so nothing is taken as held any more. */
void tcp_sack_forget(struct net_core *c, struct tcp_pcb *p)
{
    for (uint32_t i = p->sg_head; i != 0; i = tcp_seg_of(c, i)->next) {
        struct tcp_seg *r = tcp_seg_of(c, i);
        if (r->flags & SEGF_SACKED)
            set_flags(p, r, r->flags & ~SEGF_SACKED);
    }
    p->nsb = 0;
}

uint32_t tcp_sack_pipe(const struct tcp_pcb *p)
{
    uint32_t out = p->snd_max - p->snd_una;
    uint32_t gone = p->sacked_bytes + p->lost_bytes;
    return (out > gone ? out - gone : 0) + p->rtx_bytes;
}

/* Resend lost records in sequence order while cwnd - pipe leaves room (RFC 6675 NextSeg
 * rule 1). `force`: the first goes regardless (the RTO's retransmission). Returns false
 * when it had to stop (window used up or the send failed), true when nothing lost is left
 * unsent. */
bool tcp_sack_rexmit(struct net_core *c, struct tcp_pcb *p, bool force)
{
    if (p->rexmit_bytes == 0)
        return true;
    uint32_t pipe = tcp_sack_pipe(p);
    uint32_t i = p->sg_head;
    while (i != 0 && p->rexmit_bytes > 0) {
        struct tcp_seg *r = tcp_seg_of(c, i);
        if ((r->flags & (SEGF_LOST | SEGF_RTX | SEGF_SACKED)) != SEGF_LOST) {
            i = r->next;
            continue;
        }
        uint32_t len = min32(r->end - r->seq, p->mss);
        if (!force && pipe + len > p->cwnd)
            return false;
        bool again = (r->flags & SEGF_EVER_RTX) != 0;
        int n = tcp_xmit(c, p, r->seq, len, 0);
        if (n <= 0)
            return false;
        force = false;
        if (p->fr_first)
            p->fr_first = false; /* counted as the fast retransmit */
        else if (again)
            TCP_TCTR(c, RACK_RETRANS);
        else
            TCP_TCTR(c, SACK_RETRANS);
        pipe += (uint32_t)n;
        i = r->next; /* a record split by a partial resend: its rest comes next */
    }
    return p->rexmit_bytes == 0;
}
