/* TCP input: segment arrival processing (RFC 9293 §3.10.7), with the RFC 5961 checks for
 * RSTs, SYNs and ACKs in synchronized states and RFC 7323 PAWS. The received payload stays
 * in its mbuf: the mbuf is trimmed to the in-window bytes and queued (in order: delivered
 * to the app by event; out of order: kept sorted until the hole fills). Segments for no
 * connection, for a listener and for SYN_SENT go to tcp_handshake.c. */
#include "csum.h"
#include "stack_env.h"
#include "tcp_int.h"

static void drop(struct mbuf *m)
{
    if (m != NULL)
        mbuf_free(m);
}

static void challenge_ack(struct net_core *c, struct tcp_pcb *p)
{
    TCP_TCTR(c, CHALLENGE_ACK);
    tcp_send_ack(c, p);
}

/* ---- receive queues ---------------------------------------------------------------- */

static void rq_append(struct tcp_pcb *p, struct mbuf *m)
{
    m->next = NULL;
    if (p->rq_tail != NULL)
        p->rq_tail->next = m;
    else
        p->rq_head = m;
    p->rq_tail = m;
    if (p->rq_post == NULL)
        p->rq_post = m;
    p->rcv_held += m->len;
}

#define OOO_FIN (1ull << 32)

static void ooo_insert(struct net_core *c, struct tcp_pcb *p, struct mbuf *m, uint32_t seq, bool fin)
{
    if (p->ooo_cnt >= c->tcp->tun.ooo_max) {
        TCP_TCTR(c, OOO_DROPPED);
        mbuf_free(m);
        return;
    }
    struct mbuf **pp = &p->ooo;
    while (*pp != NULL && seq_lt((uint32_t)(*pp)->aux, seq))
        pp = &(*pp)->next;
    if (*pp != NULL && (uint32_t)(*pp)->aux == seq && (*pp)->len >= m->len && !fin) {
        TCP_TCTR(c, OOO_DROPPED); /* a duplicate of what we hold */
        mbuf_free(m);
        return;
    }
    m->aux = seq | (fin ? OOO_FIN : 0);
    m->next = *pp;
    *pp = m;
    p->ooo_cnt++;
    p->sack_last = seq;
    TCP_TCTR(c, OOO_QUEUED);
}

/* Move what the out-of-order queue now continues into the in-order queue. Returns true if
 * a FIN became in order. */
static bool ooo_pull(struct net_core *c, struct tcp_pcb *p, bool deliver)
{
    bool fin = false;
    while (p->ooo != NULL && seq_leq((uint32_t)p->ooo->aux, p->rcv_nxt) && !fin) {
        struct mbuf *m = p->ooo;
        p->ooo = m->next;
        p->ooo_cnt--;
        uint32_t seq = (uint32_t)m->aux;
        bool mfin = (m->aux & OOO_FIN) != 0;
        uint32_t end = seq + m->len;
        if (seq_lt(end, p->rcv_nxt) || (end == p->rcv_nxt && !mfin)) {
            mbuf_free(m);
            continue;
        }
        uint32_t cut = p->rcv_nxt - seq;
        if (cut > 0)
            mbuf_adj(m, cut);
        p->rcv_nxt = end;
        if (m->len > 0 && deliver) {
            m->aux = p->rcv_nxt - m->len;
            rq_append(p, m);
        } else {
            if (m->len > 0)
                c->counters.tcp[TCPC_DISCARDED] += m->len;
            mbuf_free(m);
        }
        fin = mfin;
    }
    return fin;
}

/* ---- ACK processing ------------------------------------------------------------------ */

/* Release acknowledged app memory: [old snd_una, ack) intersected with the data range. */
static void ack_data(struct net_core *c, struct tcp_pcb *p, uint32_t ack)
{
    uint32_t from = seq_max(p->snd_una, p->iss + 1);
    uint32_t to = seq_min(ack, p->snd_end);
    if (!seq_lt(from, to))
        return;
    uint32_t n = to - from;
    p->pend_sent += n;
    struct tcp_core *tc = c->tcp;
    while (n > 0 && p->sq_head != NULL) {
        struct tcp_slice *s = p->sq_head;
        if (s->len <= n) {
            n -= s->len;
            p->sq_seq += s->len;
            p->sq_head = s->next;
            if (p->cur == s)
                p->cur = NULL;
            s->next = tc->free_slices;
            tc->free_slices = s;
            tc->slices_free++;
        } else {
            s->base += n;
            s->len -= n;
            p->sq_seq += n;
            if (p->cur == s)
                p->cur_seq += n;
            n = 0;
        }
    }
    if (p->sq_head == NULL)
        p->sq_tail = NULL;
}

static bool fin_acked(const struct tcp_pcb *p) { return p->fin_queued && seq_gt(p->snd_una, p->fin_seq); }

/* Returns false if the segment must be dropped after this (challenge ACK sent). */
static bool process_ack(struct net_core *c, struct tcp_pcb *p, const struct tcp_rx_seg *s)
{
    if (seq_gt(s->ack, p->snd_max)) {
        challenge_ack(c, p); /* RFC 5961 §5.2 / RFC 9293: ACK for something not sent */
        return false;
    }
    if (seq_lt(s->ack, p->snd_una - p->max_sndwnd)) {
        challenge_ack(c, p);
        return false;
    }
    uint32_t wnd = s->wnd << p->snd_ws;
    if (seq_gt(s->ack, p->snd_una)) {
        uint32_t acked = s->ack - p->snd_una;
        p->last_ack_adv = acked;
        ack_data(c, p, s->ack);
        if (p->rtt_timing && seq_gt(s->ack, p->rtt_seq)) {
            tcp_rtt_sample(c, p, (uint32_t)(env_now_us() - p->rtt_start));
            p->rtt_timing = false;
        }
        p->snd_una = s->ack;
        if (seq_lt(p->snd_nxt, p->snd_una))
            p->snd_nxt = p->snd_una;
        p->rto_count = 0;
        p->probes = 0;
        if (p->sack_on)
            tcp_rack_ack(c, p, &s->o, acked, false); /* RACK-TLP, tcp_rack.c */
        else
            tcp_cc_ack(c, p, acked);
        tcp_rearm_rtx(c, p);
        if (p->sack_on)
            tcp_tlp_arm(c, p);
        if (p->pend_sent != 0)
            tcp_pend(c, p, 0); /* IX_EV_TCP_SENT: the app may reuse that memory */
    } else if (p->sack_on) {
        /* SACK: every ACK's blocks count (RACK); what is lost is resent by tcp_output. A
         * duplicate in the RFC 5681 sense only matters for the no-blocks fallback. */
        bool dup = s->ack == p->snd_una && s->plen == 0 && !(s->flags & (TCP_SYN | TCP_FIN)) &&
                   wnd >= p->snd_wnd && p->snd_una != p->snd_max;
        if (dup || s->o.nsack > 0) {
            tcp_rack_ack(c, p, &s->o, 0, dup);
            tcp_tlp_arm(c, p);
        }
    } else if (s->ack == p->snd_una && s->plen == 0 && !(s->flags & (TCP_SYN | TCP_FIN)) &&
               wnd >= p->snd_wnd && p->snd_una != p->snd_max) {
        /* A duplicate ACK (RFC 5681 §2 definition, relaxed to a window that grew: a
         * receiver whose app reads while a hole is open advertises more room on its
         * duplicates, and ignoring those turns a fast retransmit into an RTO). */
        if (tcp_cc_dupack(c, p)) {
            TCP_TCTR(c, FAST_RETRANS);
            p->rtt_timing = false;
            (void)tcp_xmit(c, p, p->snd_una, p->mss, 0);
        } else if (!p->in_recovery && p->dupacks <= 2) {
            /* Limited transmit (RFC 3042): each of the first two duplicate ACKs sends one
             * new segment if the peer's window allows, so a small window still produces
             * the three duplicates fast retransmit needs instead of waiting for the RTO.
             * After a timeout (go-back-N, snd_nxt < snd_max) the segment at snd_nxt is sent
             * the same way: it is new to this round and elicits a duplicate just as well. */
            uint32_t flight = p->snd_nxt - p->snd_una;
            uint32_t left = seq_lt(p->snd_nxt, p->snd_end) ? p->snd_end - p->snd_nxt : 0;
            uint32_t room = p->snd_wnd > flight ? p->snd_wnd - flight : 0;
            uint32_t n = left < p->mss ? left : p->mss;
            if (n > 0 && n <= room &&
                flight + n <= p->cwnd + 2u * p->mss)
                (void)tcp_xmit(c, p, p->snd_nxt, n, 0);
        }
    }
    /* Send window update (RFC 9293 §3.10.7.4, SND.WL1/WL2 rule). */
    if (seq_lt(p->snd_wl1, s->seq) || (p->snd_wl1 == s->seq && seq_leq(p->snd_wl2, s->ack))) {
        if (p->snd_wnd == 0 && wnd > 0)
            p->probes = 0;
        p->snd_wnd = wnd;
        p->snd_wl1 = s->seq;
        p->snd_wl2 = s->ack;
        if (wnd > p->max_sndwnd)
            p->max_sndwnd = wnd;
    }
    return true;
}

/* ---- the main path --------------------------------------------------------------------- */

static void fin_arrived(struct net_core *c, struct tcp_pcb *p)
{
    p->rcv_nxt++;
    p->fin_rcvd = true;
    switch (p->state) {
    case TCPS_ESTABLISHED:
        p->state = TCPS_CLOSE_WAIT;
        tcp_pend(c, p, PEND_EOF);
        break;
    case TCPS_FIN_WAIT_1:
        if (fin_acked(p))
            tcp_enter_time_wait(c, p);
        else
            p->state = TCPS_CLOSING; /* simultaneous close */
        break;
    case TCPS_FIN_WAIT_2:
        tcp_enter_time_wait(c, p);
        break;
    default:
        break;
    }
}

static void synced_input(struct net_core *c, struct tcp_pcb *p, struct tcp_rx_seg *s, struct mbuf *m)
{
    bool fin = (s->flags & TCP_FIN) != 0;
    uint32_t seg_len = s->plen + ((s->flags & TCP_SYN) ? 1u : 0u) + (fin ? 1u : 0u);

    /* A retransmitted SYN while we are in SYN_RECEIVED: our SYN-ACK was lost. */
    if (p->state == TCPS_SYN_RECEIVED && (s->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN) {
        if (s->seq == p->irs)
            (void)tcp_xmit(c, p, p->iss, 0, 0);
        drop(m);
        return;
    }
    /* PAWS (RFC 7323 §5.3): an old timestamp means an old duplicate. */
    if (p->ts_on && s->o.ts_ok && !(s->flags & TCP_RST) && seq_lt(s->o.tsval, p->ts_recent)) {
        TCP_TCTR(c, RX_OUT_OF_WINDOW);
        tcp_send_ack(c, p);
        drop(m);
        return;
    }
    /* Acceptability (RFC 9293 §3.10.7.4 table). A zero window still admits a segment at
     * rcv_nxt, whose data is then trimmed away but whose ACK is processed. */
    uint32_t rwnd = seq_gt(p->rcv_adv, p->rcv_nxt) ? p->rcv_adv - p->rcv_nxt : 0;
    bool ok;
    if (seg_len == 0 || rwnd == 0)
        ok = rwnd == 0 ? s->seq == p->rcv_nxt : seq_between(s->seq, p->rcv_nxt, p->rcv_nxt + rwnd);
    else
        ok = seq_between(s->seq, p->rcv_nxt, p->rcv_nxt + rwnd) ||
             seq_between(s->seq + seg_len - 1, p->rcv_nxt, p->rcv_nxt + rwnd);
    if (!ok) {
        if (!(s->flags & TCP_RST)) {
            TCP_TCTR(c, RX_OUT_OF_WINDOW);
            if (p->state == TCPS_TIME_WAIT && fin)
                tcp_arm_misc(c, p, 2ull * c->tcp->tun.msl_us); /* FIN again: restart 2MSL */
            tcp_send_ack(c, p);
        }
        drop(m);
        return;
    }
    /* RST (RFC 5961 §3.2): exact match resets, anything else in window is challenged. */
    if (s->flags & TCP_RST) {
        if (s->seq == p->rcv_nxt) {
            TCP_TCTR(c, RST_RX);
            int reason = (!p->synced && !p->passive) ? IX_ECONNREFUSED : IX_ECONNRESET;
            tcp_conn_dead(c, p, reason);
        } else {
            challenge_ack(c, p);
        }
        drop(m);
        return;
    }
    if (s->flags & TCP_SYN) {
        challenge_ack(c, p); /* RFC 5961 §4 */
        drop(m);
        return;
    }
    if (!(s->flags & TCP_ACK)) {
        drop(m);
        return;
    }
    /* Timestamps: remember the peer's clock for echoing (RFC 7323 §4.3). */
    if (p->ts_on && s->o.ts_ok && seq_leq(s->seq, p->rcv_nxt))
        p->ts_recent = s->o.tsval;
    tcp_keepalive_reset(c, p);

    if (p->state == TCPS_SYN_RECEIVED) {
        if (!(seq_gt(s->ack, p->snd_una) && seq_leq(s->ack, p->snd_max))) {
            if (tcp_cookie_supersede(c, &p, s)) { /* the peer took an earlier cookie SYN-ACK */
                if (p != NULL)
                    synced_input(c, p, s, m);
                else
                    drop(m);
                return;
            }
            TCP_TCTR(c, RST_BAD_ACK);
            tcp_send_rst(c, p->laddr, p->raddr, p->lport, p->rport, s->ack, 0, false);
            drop(m);
            return;
        }
        if (!tcp_pcb_promote(c, p)) {
            TCP_TCTR(c, SYN_DROPPED); /* no block for one more connection: like a full
                                       * accept queue, the peer retransmits */
            drop(m);
            return;
        }
        if (p->rtt_timing && p->rto_count == 0)
            tcp_rtt_sample(c, p, (uint32_t)(env_now_us() - p->rtt_start));
        p->rtt_timing = false;
        p->snd_una = s->ack;
        p->rto_count = 0;
        p->snd_wnd = s->wnd << p->snd_ws;
        p->max_sndwnd = p->snd_wnd;
        p->snd_wl1 = s->seq;
        p->snd_wl2 = s->ack;
        p->state = TCPS_ESTABLISHED;
        p->synced = true;
        tcp_rearm_rtx(c, p);
        tcp_keepalive_reset(c, p);
        if (p->passive) {
            TCP_TCTR(c, CONN_PASSIVE);
            tcp_pend(c, p, PEND_KNOCK);
        } else {
            TCP_TCTR(c, CONN_ACTIVE);
            p->accepted = true;
            p->conn_outcome = 0;
            tcp_pend(c, p, PEND_CONNECTED);
        }
    } else {
        if (!process_ack(c, p, s)) {
            drop(m);
            return;
        }
        switch (p->state) {
        case TCPS_FIN_WAIT_1:
            if (fin_acked(p)) {
                p->state = TCPS_FIN_WAIT_2;
                tcp_arm_misc(c, p, c->tcp->tun.fin_wait2_us);
                tcp_pend(c, p, PEND_DEAD); /* reason 0: our side is done */
            }
            break;
        case TCPS_CLOSING:
            if (fin_acked(p)) {
                tcp_enter_time_wait(c, p);
                tcp_pend(c, p, PEND_DEAD);
            }
            break;
        case TCPS_LAST_ACK:
            if (fin_acked(p)) {
                drop(m);
                tcp_conn_dead(c, p, 0);
                return;
            }
            break;
        default:
            break;
        }
    }

    /* Segment text (RFC 9293 §3.10.7.4 seventh). */
    bool data_state = p->state == TCPS_ESTABLISHED || p->state == TCPS_FIN_WAIT_1 ||
                      p->state == TCPS_FIN_WAIT_2;
    if (!data_state || (s->plen == 0 && !fin)) {
        drop(m);
        tcp_output(c, p);
        return;
    }
    uint32_t seq = s->seq;
    uint32_t plen = s->plen;
    mbuf_adj(m, m->len - plen);     /* m now holds exactly the payload */
    bool quick = false;
    if (seq_lt(seq, p->rcv_nxt)) {  /* partly old: cut the front */
        uint32_t cut = p->rcv_nxt - seq;
        quick = true;
        if (cut >= plen) {
            cut = plen;
            if (!(fin && seq + plen == p->rcv_nxt))
                fin = false;        /* an old FIN: its ACK is just our current ACK */
        }
        mbuf_adj(m, cut);
        seq += cut;
        plen -= cut;
    }
    uint32_t wend = p->rcv_nxt + rwnd;
    if (seq_gt(seq + plen, wend)) { /* beyond the window: cut the tail (and the FIN) */
        uint32_t keep = seq_gt(wend, seq) ? wend - seq : 0;
        mbuf_trim(m, keep);
        plen = keep;
        fin = false;
        quick = true;
    }
    bool deliver = !p->app_closed;
    bool had_ooo = p->ooo != NULL;
    if (seq == p->rcv_nxt) {
        bool fin_now = fin;
        p->rcv_nxt += plen;
        if (plen > 0 && deliver) {
            m->aux = seq;
            rq_append(p, m);
        } else {
            if (plen > 0)
                c->counters.tcp[TCPC_DISCARDED] += plen;
            drop(m);
        }
        if (!fin_now && had_ooo)
            fin_now = ooo_pull(c, p, deliver);
        if (fin_now)
            fin_arrived(c, p);
        p->unacked_segs++;
        if (fin_now || had_ooo || quick || p->unacked_segs >= 2 || p->quickack) {
            if (p->quickack)
                p->quickack--;
            tcp_send_ack(c, p);
        } else {
            tcp_arm_dack(c, p);
        }
        tcp_flush_pcb(c, p);
    } else if (plen > 0 || fin) {
        ooo_insert(c, p, m, seq, fin);
        tcp_send_ack(c, p);         /* duplicate ACK tells the sender about the hole */
    } else {
        drop(m);
        tcp_send_ack(c, p);
    }
    tcp_output(c, p);
}

void tcp_input(struct net_core *c, struct mbuf *m, uint32_t src, uint32_t dst)
{
    if (c->tcp == NULL) {
        mbuf_free(m);
        return;
    }
    tcp_flush_events(c);
    const uint8_t *h = m->data;
    if (m->len < TCP_HLEN_MIN || tcp_hlen(h) < TCP_HLEN_MIN || tcp_hlen(h) > m->len ||
        dst != c->cfg.addr ||
        csum_fold(csum_partial(h, m->len, csum_pseudo(src, dst, NET_PROTO_TCP, m->len))) != 0) {
        TCP_TCTR(c, RX_BAD);
        mbuf_free(m);
        return;
    }
    TCP_TCTR(c, RX_SEGS);
    struct tcp_rx_seg s;
    s.seq = tcp_seq(h);
    s.ack = tcp_ack(h);
    s.wnd = tcp_win(h);
    s.flags = tcp_flags(h);
    s.plen = m->len - tcp_hlen(h);
    tcp_parse_opts(h, m->len, &s.o);
    uint16_t sport = tcp_sport(h), dport = tcp_dport(h);

    struct tcp_pcb *p = tcp_pcb_lookup(c, src, sport, dport);
    if (p != NULL && p->state == TCPS_TIME_WAIT && (s.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN &&
        seq_gt(s.seq, p->rcv_nxt) && tcp_listener_find(c, dport) != NULL) {
        /* A new incarnation of the connection (RFC 9293 §3.10.7.4 / RFC 6191): its SYN is
         * beyond the old sequence space, so TIME_WAIT can end early. */
        tcp_pcb_free(c, p);
        p = NULL;
    }
    if (p == NULL) {
        struct tcp_listener *l = tcp_listener_find(c, dport);
        if (l != NULL && (s.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_ACK)
            p = tcp_cookie_open(c, l, src, dst, sport, dport, &s); /* it may carry data */
        if (p == NULL) {
            if (l != NULL && (s.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN)
                tcp_passive_open(c, l, src, dst, sport, dport, &s);
            else
                tcp_reset_no_pcb(c, src, dst, sport, dport, &s);
            mbuf_free(m);
            return;
        }
    }
    if (p->state == TCPS_SYN_SENT) {
        tcp_syn_sent_input(c, p, &s);
        mbuf_free(m);
        return;
    }
    synced_input(c, p, &s, m);
}
