/* TCP connection set-up on input: the answer to a segment for no connection, a SYN that
 * reaches a listener (LISTEN -> SYN_RECEIVED), and a segment for a connection in SYN_SENT
 * (RFC 9293 §3.10.7.1-3). The options of the SYN decide the connection's window scaling,
 * timestamps, SACK and MSS here. What follows the handshake is in tcp_input.c. */
#include "stack_env.h"
#include "tcp_int.h"

/* RFC 9293 §3.10.7.1: answer a segment for no connection with a RST (never a RST). */
void tcp_reset_no_pcb(struct net_core *c, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                      const struct tcp_rx_seg *s)
{
    if (s->flags & TCP_RST)
        return;
    TCP_TCTR(c, RX_NO_PCB);
    if (s->flags & TCP_ACK) {
        tcp_send_rst(c, dst, src, dport, sport, s->ack, 0, false);
    } else {
        uint32_t len = s->plen + ((s->flags & TCP_SYN) ? 1u : 0u) + ((s->flags & TCP_FIN) ? 1u : 0u);
        tcp_send_rst(c, dst, src, dport, sport, 0, s->seq + len, true);
    }
}

/* Effective payload per segment: the smaller MSS, less the timestamp option we will
 * carry in every segment (RFC 9293 §3.7.1). */
static void set_mss(struct net_core *c, struct tcp_pcb *p, const struct tcp_opts *o)
{
    uint32_t mss = o->mss_ok ? o->mss : 536u;
    uint32_t ours = tcp_our_mss(c);
    if (mss > ours)
        mss = ours;
    if (p->ts_on)
        mss -= 12;
    if (mss < 64)
        mss = 64; /* absurd peer values: keep the stack sane */
    p->mss = (uint16_t)mss;
}


/* The options a SYN (or SYN-ACK) carries decide window scaling, timestamps, SACK and the MSS
 * for the life of the connection (RFC 7323, RFC 2018, RFC 9293 §3.7.1). */
static void adopt_syn_options(struct net_core *c, struct tcp_pcb *p, const struct tcp_rx_seg *s)
{
    const struct tcp_tunables *tun = &c->tcp->tun;
    p->ws_on = s->o.ws_ok && tun->wscale;
    if (p->ws_on) {
        p->snd_ws = s->o.ws;
    } else {
        p->snd_ws = 0;
        p->rcv_ws = 0;
    }
    p->ts_on = s->o.ts_ok && tun->timestamps;
    if (p->ts_on)
        p->ts_recent = s->o.tsval;
    p->sack_seen = s->o.sack_ok;
    p->sack_on = s->o.sack_ok && tun->sack;
    set_mss(c, p, &s->o);
}

/* A SYN for a listener: a new connection in SYN_RECEIVED answers with a SYN-ACK; it counts
 * against the listener's backlog until the app accepts or rejects it. Half-open
 * connections take blocks from the half-open reserve, at most min(backlog, reserve) per
 * listener; past that bound the SYN is answered with a SYN cookie (tcp_synflood.c) and
 * forgotten. */
void tcp_passive_open(struct net_core *c, struct tcp_listener *l, uint32_t src, uint32_t dst,
                      uint16_t sport, uint16_t dport, const struct tcp_rx_seg *s)
{
    if (l->pending - l->half >= l->backlog) {
        TCP_TCTR(c, SYN_DROPPED); /* accept queue full, like Linux: the SYN retry comes back */
        return;
    }
    struct tcp_pcb *p = l->half < l->backlog ? tcp_pcb_alloc_half(c) : NULL;
    if (p == NULL) {
        tcp_cookie_syn_ack(c, src, dst, sport, dport, s);
        return;
    }
    l->half++;
    tcp_syn_recv_init(c, p, l, src, dst, sport, dport, s, tcp_isn_tuple(c, dst, src, dport, sport));
    tcp_pcb_hash(c, p);
    (void)tcp_xmit(c, p, p->iss, 0, 0);
}

/* A control block in SYN_RECEIVED for the SYN s (a real one, or one rebuilt from a cookie),
 * with our ISS iss; counted in the listener's pending connections. */
void tcp_syn_recv_init(struct net_core *c, struct tcp_pcb *p, struct tcp_listener *l, uint32_t src,
                       uint32_t dst, uint16_t sport, uint16_t dport, const struct tcp_rx_seg *s, uint32_t iss)
{
    tcp_pcb_init_conn(c, p);
    p->laddr = dst;
    p->raddr = src;
    p->rport = sport;
    p->lport = dport;
    p->passive = true;
    p->listener = l;
    if (l != NULL) /* NULL: the scratch block of a cookie SYN-ACK */
        l->pending++;
    p->state = TCPS_SYN_RECEIVED;
    p->irs = s->seq;
    p->rcv_nxt = s->seq + 1;
    p->rcv_adv = p->rcv_nxt;
    p->iss = iss;
    p->snd_una = p->snd_nxt = p->snd_max = p->iss;
    p->snd_end = p->fin_seq = p->sq_seq = p->iss + 1;
    adopt_syn_options(c, p, s);
    p->snd_wnd = s->wnd; /* never scaled in a SYN */
    p->max_sndwnd = p->snd_wnd;
    p->snd_wl1 = s->seq;
    p->snd_wl2 = p->iss;
    tcp_cc_init(c, p);
}

/* A segment for our SYN_SENT connection: an acceptable SYN-ACK establishes it, a RST with an
 * acceptable ACK refuses it, a bare SYN is a simultaneous open. */
void tcp_syn_sent_input(struct net_core *c, struct tcp_pcb *p, struct tcp_rx_seg *s)
{
    if (s->flags & TCP_ACK) {
        if (seq_leq(s->ack, p->iss) || seq_gt(s->ack, p->snd_max)) {
            if (!(s->flags & TCP_RST)) {
                TCP_TCTR(c, RST_BAD_ACK);
                tcp_send_rst(c, p->laddr, p->raddr, p->lport, p->rport, s->ack, 0, false);
            }
            return;
        }
    }
    if (s->flags & TCP_RST) {
        if (s->flags & TCP_ACK) {
            TCP_TCTR(c, RST_RX);
            tcp_conn_dead(c, p, IX_ECONNREFUSED);
        }
        return;
    }
    if (!(s->flags & TCP_SYN))
        return;
    p->irs = s->seq;
    p->rcv_nxt = s->seq + 1;
    p->rcv_adv = p->rcv_nxt;
    adopt_syn_options(c, p, s); /* we offered SACK iff tun->sack */
    tcp_cc_init(c, p);
    p->snd_wnd = s->wnd;
    p->max_sndwnd = p->snd_wnd;
    p->snd_wl1 = s->seq;
    p->snd_wl2 = s->ack;
    if (s->flags & TCP_ACK) {
        if (p->rtt_timing && p->rto_count == 0)
            tcp_rtt_sample(c, p, (uint32_t)(env_now_us() - p->rtt_start));
        p->rtt_timing = false;
        p->snd_una = s->ack;
        p->rto_count = 0;
        p->state = TCPS_ESTABLISHED;
        p->synced = true;
        TCP_TCTR(c, CONN_ACTIVE);
        tcp_rearm_rtx(c, p);
        tcp_send_ack(c, p);
        tcp_keepalive_reset(c, p);
        p->conn_outcome = 0;
        tcp_pend(c, p, PEND_CONNECTED);
        tcp_output(c, p);
    } else {
        /* Simultaneous open (RFC 9293 §3.5, figure 8): SYN-ACK our original ISS. */
        p->state = TCPS_SYN_RECEIVED;
        (void)tcp_xmit(c, p, p->iss, 0, 0);
    }
}
