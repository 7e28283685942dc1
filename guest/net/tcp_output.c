/* TCP output: building segments and deciding what to send.
 *
 * Zero copy: the header (with options) is written into a small mbuf; the payload is passed
 * to ipv4_output as iov slices pointing straight into the app memory referenced by
 * tcp_sendv. Retransmissions re-reference the same memory. The checksum is computed over
 * the slices in place (reading is not copying).
 *
 * The one copy: a segment's bytes may lie in more slices than a frame can reference
 * (NET_IOV_MAX), when the app sends many small pieces. Rather than send a runt per
 * NET_IOV_MAX slices, the segment's payload is copied into its header mbuf behind the
 * header (at most one MSS) and counted in counters.copies, byte for byte.
 */
#include "csum.h"
#include "ipv4.h"
#include "tcp_int.h"

/* Receive window to advertise (bytes, unscaled). Never shrinks the right edge already
 * advertised (RFC 9293 §3.8.6.2.2 MUST) and avoids silly-window growth: a larger window
 * is offered only when it grows by min(rcvbuf / 2, MSS) or more. */
uint32_t tcp_rcv_window(const struct net_core *c, const struct tcp_pcb *p)
{
    const struct tcp_tunables *tun = &c->tcp->tun;
    uint32_t avail = tun->rcvbuf > p->rcv_held ? tun->rcvbuf - p->rcv_held : 0;
    uint32_t cur = seq_gt(p->rcv_adv, p->rcv_nxt) ? p->rcv_adv - p->rcv_nxt : 0;
    if (avail <= cur)
        return cur;
    uint32_t step = tun->rcvbuf / 2;
    if (step > tcp_our_mss(c))
        step = tcp_our_mss(c);
    if (avail - cur < step)
        return cur;
    return avail;
}

/* Find the slice containing seq (which must lie in [sq_seq, snd_end)); sets *off. Uses
 * the cursor left by the previous lookup so streaming sends are O(1) per segment. */
static struct tcp_slice *slice_at(struct tcp_pcb *p, uint32_t seq, uint32_t *off)
{
    struct tcp_slice *s = p->sq_head;
    uint32_t s_seq = p->sq_seq;
    if (p->cur != NULL && seq_geq(seq, p->cur_seq)) {
        s = p->cur;
        s_seq = p->cur_seq;
    }
    while (s != NULL && seq_geq(seq, s_seq + s->len)) {
        s_seq += s->len;
        s = s->next;
    }
    if (s != NULL) {
        p->cur = s;
        p->cur_seq = s_seq;
        *off = seq - s_seq;
    }
    return s;
}

_Static_assert(MBUF_DATA_MAX >= NET_MTU, "a copied segment (header and one MSS) fits in one mbuf");

/* Copy len bytes of the send queue from seq on into dst (the slices must hold them). */
static void copy_slices(struct tcp_pcb *p, uint32_t seq, uint32_t len, uint8_t *dst)
{
    uint32_t off = 0, done = 0;
    for (struct tcp_slice *s = slice_at(p, seq, &off); s != NULL && done < len; s = s->next) {
        uint32_t n = s->len - off;
        if (n > len - done)
            n = len - done;
        __builtin_memcpy(dst + done, s->base + off, n);
        done += n;
        off = 0;
    }
}

/* Build and send one segment starting at seq. Data up to maxlen is taken from the send
 * queue; SYN and FIN flags are added when seq reaches them. Returns the sequence space
 * consumed (0 for a pure ACK) or a negative IX_E* code. */
/* SACK blocks (RFC 2018 §4) for the out-of-order queue: contiguous mbufs merged into
 * ranges; the first block holds the latest segment received (sack_last), the others follow
 * in sequence order. Returns the number of blocks (<= max). */
static uint32_t sack_blocks(const struct tcp_pcb *p, uint32_t *l, uint32_t *r, uint32_t max)
{
    uint32_t rl[16], rr[16], n = 0;
    for (const struct mbuf *m = p->ooo; m != NULL; m = m->next) {
        uint32_t s = (uint32_t)m->aux, e = s + m->len;
        if (m->len == 0)
            continue; /* a bare FIN: SACK covers data octets */
        if (n > 0 && seq_leq(s, rr[n - 1])) {
            if (seq_gt(e, rr[n - 1]))
                rr[n - 1] = e;
        } else if (n < 16) {
            rl[n] = s;
            rr[n] = e;
            n++;
        } else {
            break;
        }
    }
    uint32_t first = 0;
    for (uint32_t i = 0; i < n; i++)
        if (seq_geq(p->sack_last, rl[i]) && seq_lt(p->sack_last, rr[i]))
            first = i;
    uint32_t k = 0;
    if (n > 0 && max > 0) {
        l[k] = rl[first];
        r[k] = rr[first];
        k++;
    }
    for (uint32_t i = 0; i < n && k < max; i++) {
        if (i == first)
            continue;
        l[k] = rl[i];
        r[k] = rr[i];
        k++;
    }
    return k;
}

int tcp_xmit(struct net_core *c, struct tcp_pcb *p, uint32_t seq, uint32_t maxlen, unsigned xf)
{
    struct tcp_core *tc = c->tcp;
    uint8_t flags = TCP_ACK;
    bool syn = false;
    uint32_t len = 0;
    struct net_iov iov[NET_IOV_MAX];
    int niov = 0;
    bool copy = false; /* the payload spans more slices than a frame references: copy it */

    if (!(xf & XF_ACKONLY)) {
        if ((p->state == TCPS_SYN_SENT || p->state == TCPS_SYN_RECEIVED) && seq == p->iss) {
            syn = true;
            flags = p->state == TCPS_SYN_SENT ? TCP_SYN : (TCP_SYN | TCP_ACK);
        } else if (seq_lt(seq, p->snd_end) && seq_geq(seq, p->sq_seq)) {
            uint32_t want = p->snd_end - seq;
            if (want > maxlen)
                want = maxlen;
            uint32_t off;
            struct tcp_slice *s = slice_at(p, seq, &off);
            while (s != NULL && len < want && niov < NET_IOV_MAX) {
                uint32_t n = s->len - off;
                if (n > want - len)
                    n = want - len;
                iov[niov].base = s->base + off;
                iov[niov].len = n;
                niov++;
                len += n;
                off = 0;
                s = s->next;
            }
            if (len < want && s != NULL) {
                copy = true;
                niov = 0;
                len = want;
            }
        }
        if (p->fin_queued && seq + len == p->fin_seq && !syn)
            flags |= TCP_FIN;
        if (len > 0 && seq + len == p->snd_end)
            flags |= TCP_PSH;
    }

    /* SACK connections record every segment sent after the handshake (tcp_sack.c); new
     * sequence space goes out only once a record for it is certain. */
    uint32_t seq_used = len + ((flags & TCP_FIN) ? 1u : 0u);
    bool track = p->sack_on && !syn && seq_used > 0;
    if (track && seq_gt(seq + seq_used, p->snd_max) && !tcp_seg_reserve(c, p)) {
        TCP_TCTR(c, SEG_NOREC);
        if (!timer_pending(&p->t_rtx))
            tcp_rearm_rtx(c, p); /* retried by the RTO/persist timer if no ACK comes */
        return -IX_ENOMEM;
    }

    struct mbuf *m = mbuf_alloc(c->pool);
    if (m == NULL) {
        TCP_TCTR(c, TX_FAIL);
        return -IX_ENOMEM;
    }
    uint32_t hlen = TCP_HLEN_MIN;
    bool offer_ts = syn ? (p->state == TCPS_SYN_SENT ? tc->tun.timestamps : p->ts_on) : p->ts_on;
    bool offer_ws = syn && (p->state == TCPS_SYN_SENT ? tc->tun.wscale : p->ws_on);
    bool offer_sack = syn && (p->state == TCPS_SYN_SENT ? tc->tun.sack : p->sack_on);
    if (syn)
        hlen += 4;
    if (offer_ws)
        hlen += 4;
    if (offer_ts)
        hlen += 12;
    if (offer_sack)
        hlen += 4;
    /* SACK blocks while out-of-order data is held, as long as payload + blocks fit in the
     * segment size (full-size data segments go without; pure ACKs always have room). */
    uint32_t sl[TCP_SACK_MAX], sr[TCP_SACK_MAX], nsack = 0;
    if (!syn && p->sack_on && p->ooo != NULL && (flags & TCP_ACK)) {
        uint32_t room = p->mss > len ? p->mss - len : 0;
        uint32_t max = offer_ts ? 3 : 4;
        if (room < 4 + 8 * max)
            max = room >= 12 ? (room - 4) / 8 : 0;
        nsack = sack_blocks(p, sl, sr, max);
        if (nsack > 0)
            hlen += 4 + 8 * nsack;
    }
    uint8_t *h = mbuf_append(m, hlen + (copy ? len : 0));
    if (h == NULL) {
        mbuf_free(m);
        TCP_TCTR(c, TX_FAIL);
        return -IX_ENOMEM;
    }
    if (copy) {
        copy_slices(p, seq, len, h + hlen);
        c->counters.copies += len;
    }

    /* Window: unscaled in SYNs (RFC 7323 §2.2), scaled otherwise. */
    uint32_t wnd = tcp_rcv_window(c, p);
    uint32_t wfield;
    uint32_t edge;
    if (syn) {
        wfield = wnd > 0xffff ? 0xffff : wnd;
        edge = p->rcv_nxt + wfield;
    } else {
        wfield = wnd >> p->rcv_ws;
        if (wfield > 0xffff)
            wfield = 0xffff;
        edge = p->rcv_nxt + (wfield << p->rcv_ws);
    }
    if ((flags & TCP_ACK) && seq_gt(edge, p->rcv_adv))
        p->rcv_adv = edge;
    uint32_t ack = (flags & TCP_ACK) ? p->rcv_nxt : 0;
    tcp_write(h, p->lport, p->rport, seq, ack, hlen, flags, (uint16_t)wfield);
    uint32_t o = TCP_HLEN_MIN;
    if (syn)
        o += tcp_put_opt_mss(h + o, tcp_our_mss(c));
    if (offer_ws)
        o += tcp_put_opt_wscale(h + o, p->rcv_ws);
    if (offer_ts)
        o += tcp_put_opt_ts(h + o, tcp_now_ms(), p->ts_recent);
    if (offer_sack)
        o += tcp_put_opt_sack_ok(h + o);
    if (nsack > 0)
        o += tcp_put_opt_sack(h + o, sl, sr, nsack);

    uint32_t sum = csum_pseudo(p->laddr, p->raddr, NET_PROTO_TCP, hlen + len);
    sum = csum_partial(h, hlen + (copy ? len : 0), sum);
    uint32_t at = hlen;
    for (int i = 0; i < niov; i++) {
        sum = csum_partial_at(iov[i].base, iov[i].len, sum, at);
        at += iov[i].len;
    }
    tcp_set_csum(h, csum_fold(sum));

    int rc = ipv4_output(c, m, iov, niov, p->raddr, NET_PROTO_TCP);
    if (rc < 0) {
        TCP_TCTR(c, TX_FAIL);
        /* Make sure something retries: the RTO/persist timer also resumes stalled output.
         * Never for a stateless SYN-ACK: its scratch block is gone when we return, and the
         * peer's SYN retry gets a new cookie. */
        if (!(xf & XF_STATELESS) && !timer_pending(&p->t_rtx))
            tcp_rearm_rtx(c, p);
        return rc;
    }
    TCP_TCTR(c, TX_SEGS);
    if (xf & XF_STATELESS)
        return 1;
    if (flags & TCP_ACK) {
        p->unacked_segs = 0;
        if (timer_pending(&p->t_dack))
            timer_cancel(c->wheel, &p->t_dack);
    }
    uint32_t used = len + (syn ? 1u : 0u) + ((flags & TCP_FIN) ? 1u : 0u);
    if (used == 0)
        return 0;
    uint32_t end = seq + used;
    bool rtx = seq_lt(seq, p->snd_max);
    bool new_data = seq_gt(end, p->snd_max);
    if (track) {
        tcp_seg_sent(c, p, seq, end);
        if (p->in_recovery)
            p->prr_out += used; /* PRR: what recovery has sent (tcp_cc.c) */
    }
    if (rtx) {
        TCP_TCTR(c, RETRANS);
        /* Karn: a retransmission makes the RTT sample ambiguous. */
        if (p->rtt_timing && seq_leq(seq, p->rtt_seq))
            p->rtt_timing = false;
    } else if (!p->rtt_timing) {
        p->rtt_timing = true;
        p->rtt_seq = seq;
        p->rtt_start = env_now_us();
    }
    if (seq == p->snd_nxt || seq_gt(end, p->snd_nxt))
        p->snd_nxt = seq_max(p->snd_nxt, end);
    if (seq_gt(end, p->snd_max))
        p->snd_max = end;
    if (!timer_pending(&p->t_rtx))
        tcp_rearm_rtx(c, p);
    if (track && new_data)
        tcp_tlp_arm(c, p); /* RFC 8985 §7.2: restart the probe timer after new data */
    return (int)used;
}

void tcp_send_ack(struct net_core *c, struct tcp_pcb *p)
{
    (void)tcp_xmit(c, p, p->snd_nxt, 0, XF_ACKONLY);
}

/* A segment one byte below snd_una with no data: old, so the peer answers with an ACK that
 * carries its current window (zero-window probe, keepalive; as Linux does). */
void tcp_send_probe(struct net_core *c, struct tcp_pcb *p)
{
    TCP_TCTR(c, PROBES);
    (void)tcp_xmit(c, p, p->snd_una - 1, 0, XF_ACKONLY);
}

void tcp_send_rst(struct net_core *c, uint32_t laddr, uint32_t raddr, uint16_t lport, uint16_t rport,
                  uint32_t seq, uint32_t ack, bool with_ack)
{
    struct mbuf *m = mbuf_alloc(c->pool);
    if (m == NULL) {
        TCP_TCTR(c, TX_FAIL);
        return;
    }
    uint8_t *h = mbuf_append(m, TCP_HLEN_MIN);
    if (h == NULL) {
        mbuf_free(m);
        return;
    }
    tcp_write(h, lport, rport, seq, with_ack ? ack : 0, TCP_HLEN_MIN,
              (uint8_t)(TCP_RST | (with_ack ? TCP_ACK : 0)), 0);
    uint32_t sum = csum_pseudo(laddr, raddr, NET_PROTO_TCP, TCP_HLEN_MIN);
    tcp_set_csum(h, csum_fold(csum_partial(h, TCP_HLEN_MIN, sum)));
    TCP_TCTR(c, RST_TX);
    if (ipv4_output(c, m, NULL, 0, raddr, NET_PROTO_TCP) == 0)
        TCP_TCTR(c, TX_SEGS);
}

/* Send new (or, after an RTO rolled snd_nxt back, old) data as the windows allow, then
 * the FIN once all data is out. No Nagle: the API hands over whole messages already.
 * With SACK, segments marked lost go first (tcp_sack.c), and cwnd is measured against the
 * RFC 6675 pipe instead of everything outstanding (SACKed and lost bytes have left the
 * network); the peer's window still bounds the sequence space outstanding. */
void tcp_output(struct net_core *c, struct tcp_pcb *p)
{
    if (!tcp_can_send_data(p->state))
        return;
    if (p->sack_on && !tcp_sack_rexmit(c, p, false))
        return;
    for (int guard = 0; guard < 1024; guard++) {
        uint32_t flight = p->snd_nxt - p->snd_una;
        uint32_t data_left = seq_lt(p->snd_nxt, p->snd_end) ? p->snd_end - p->snd_nxt : 0;
        if (data_left == 0) {
            if (p->fin_queued && p->snd_nxt == p->fin_seq)
                (void)tcp_xmit(c, p, p->snd_nxt, 0, 0);
            return;
        }
        uint32_t usable;
        if (p->sack_on) {
            uint32_t pipe = tcp_sack_pipe(p);
            uint32_t cw = p->cwnd > pipe ? p->cwnd - pipe : 0;
            uint32_t rw = p->snd_wnd > flight ? p->snd_wnd - flight : 0;
            usable = cw < rw ? cw : rw;
        } else {
            uint32_t wnd = p->snd_wnd < p->cwnd ? p->snd_wnd : p->cwnd;
            usable = wnd > flight ? wnd - flight : 0;
        }
        uint32_t len = data_left;
        if (len > p->mss)
            len = p->mss;
        if (len > usable)
            len = usable;
        if (len == 0) {
            /* Peer window closed with nothing in flight: the persist timer probes it. */
            if (flight == 0 && !timer_pending(&p->t_rtx))
                tcp_rearm_rtx(c, p);
            return;
        }
        /* Sender-side silly window avoidance (RFC 9293 §3.8.6.2.1): wait for a larger
         * window while data is in flight rather than send a runt. */
        if (len < p->mss && len < data_left && flight > 0)
            return;
        if (tcp_xmit(c, p, p->snd_nxt, len, 0) <= 0)
            return;
    }
}
