/* Moving TCP connections between cores: drain, export, import, release (tcp_migrate.h). */
#include "tcp_migrate.h"
#include "rss.h"
#include "tcp_int.h"

uint32_t tcp_mig_group(const struct net_core *c, uint32_t raddr, uint16_t rport, uint16_t lport)
{
    const struct net_rss *r = c->rss;
    if (r == NULL || r->reta_size == 0)
        return 0;
    /* as the NIC hashes a received segment: source = the peer */
    return rss_hash(r->key, raddr, c->cfg.addr, rport, lport) & (r->reta_size - 1);
}

static uint32_t group_of(const struct net_core *c, const struct tcp_pcb *p)
{
    return tcp_mig_group(c, p->raddr, p->rport, p->lport);
}

bool tcp_mig_holding(const struct net_core *c, const struct tcp_pcb *p)
{
    const struct tcp_core *tc = c->tcp;
    return tc->mig_hold_on && tcp_mig_has(&tc->mig_hold, group_of(c, p));
}

void tcp_mig_hold(struct net_core *c, const struct tcp_mig_groups *g)
{
    struct tcp_core *tc = c->tcp;
    if (tc == NULL)
        return;
    if (g != NULL) {
        tc->mig_hold = *g;
        tc->mig_hold_on = true;
        return;
    }
    if (!tc->mig_hold_on)
        return;
    /* post what was held, connection by connection */
    struct tcp_mig_groups was = tc->mig_hold;
    tc->mig_hold_on = false;
    for (unsigned i = 0; i < tc->npcbs; i++) {
        struct tcp_pcb *p = &tc->pcbs[i];
        if (p->in_use && tcp_mig_has(&was, group_of(c, p)))
            tcp_flush_pcb(c, p);
    }
}

/* Why p cannot move now (TCP_MIGB_*), 0 if it can. */
static uint32_t busy_why(const struct tcp_pcb *p)
{
    if (p->state != TCPS_ESTABLISHED && p->state != TCPS_CLOSE_WAIT)
        return TCP_MIGB_STATE;
    if (!p->synced || !p->accepted || p->app_closed || p->fin_queued)
        return TCP_MIGB_APP;
    if (p->snd_una != p->snd_end || p->snd_max != p->snd_una || p->sq_head != NULL || p->sg_head != 0)
        return TCP_MIGB_SENDING; /* bytes of the app's memory still queued or in flight */
    if (p->posted_unread != 0)
        return TCP_MIGB_READING; /* the app still holds received bytes */
    if (p->ooo != NULL)
        return TCP_MIGB_OOO;
    if (p->pend_sent != 0 || (p->pend & (uint8_t)~PEND_EOF) != 0)
        return TCP_MIGB_EVENTS; /* the app has not heard everything yet */
    return p->rq_post == p->rq_head ? 0 : TCP_MIGB_READING; /* nothing posted (rq_off then counts nothing read) */
}


void tcp_mig_count(struct net_core *c, const struct tcp_mig_groups *g, uint32_t *total, uint32_t *busy)
{
    tcp_mig_count_why(c, g, total, busy, NULL);
}

void tcp_mig_count_why(struct net_core *c, const struct tcp_mig_groups *g, uint32_t *total, uint32_t *busy, uint32_t *why)
{
    struct tcp_core *tc = c->tcp;
    *total = *busy = 0;
    if (why)
        *why = 0;
    if (tc == NULL)
        return;
    for (unsigned i = 0; i < tc->npcbs; i++) {
        const struct tcp_pcb *p = &tc->pcbs[i];
        if (!p->in_use || p->state == TCPS_CLOSED || !tcp_mig_has(g, group_of(c, p)))
            continue;
        (*total)++;
        uint32_t w = busy_why(p);
        if (w != 0)
            (*busy)++;
        if (why)
            *why |= w;
    }
}

static void fill(struct tcp_mig_rec *r, const struct tcp_pcb *p)
{
    *r = (struct tcp_mig_rec){
        .laddr = p->laddr, .raddr = p->raddr, .lport = p->lport, .rport = p->rport,
        .state = p->state, .snd_ws = p->snd_ws, .rcv_ws = p->rcv_ws, .mss = p->mss,
        .iss = p->iss, .irs = p->irs, .snd_una = p->snd_una, .snd_wnd = p->snd_wnd,
        .max_sndwnd = p->max_sndwnd, .snd_wl1 = p->snd_wl1, .snd_wl2 = p->snd_wl2,
        .cwnd = p->cwnd, .ssthresh = p->ssthresh, .recover = p->recover,
        .srtt_us = p->srtt_us, .rttvar_us = p->rttvar_us, .rto_us = p->rto_us,
        .rcv_nxt = p->rcv_nxt, .rcv_adv = p->rcv_adv, .ts_recent = p->ts_recent,
        .last_rx_us = p->last_rx_us, .rq = p->rq_head, .rq_off = p->rq_off, .rq_bytes = p->rcv_held,
    };
    r->flags = (uint8_t)((p->ts_on ? TCP_MIGF_TS : 0) | (p->ws_on ? TCP_MIGF_WS : 0) | (p->sack_on ? TCP_MIGF_SACK : 0) |
                         (p->sack_seen ? TCP_MIGF_SACK_SEEN : 0) | (p->fin_rcvd ? TCP_MIGF_FIN_RCVD : 0));
}

int tcp_mig_export(struct net_core *c, const struct tcp_mig_groups *g, struct tcp_mig_rec *recs, uint32_t max)
{
    struct tcp_core *tc = c->tcp;
    if (tc == NULL)
        return 0;
    uint32_t total, busy;
    tcp_mig_count(c, g, &total, &busy);
    if (busy != 0)
        return -IX_EAGAIN;
    if (total > max)
        return -IX_ENOMEM;
    uint32_t n = 0;
    for (unsigned i = 0; i < tc->npcbs && n < total; i++) {
        struct tcp_pcb *p = &tc->pcbs[i];
        if (!p->in_use || p->state == TCPS_CLOSED || !tcp_mig_has(g, group_of(c, p)))
            continue;
        if (p->unacked_segs != 0)
            tcp_send_ack(c, p); /* the peer learns all we received before we go quiet */
        fill(&recs[n++], p);
        /* the unread payload goes with the record; the handle ends here without a word to
         * the peer */
        p->rq_head = p->rq_tail = p->rq_post = NULL;
        p->rq_off = p->rcv_held = p->posted_unread = 0;
        p->pend &= (uint8_t)~PEND_EOF;
        tcp_conn_dead(c, p, IX_EMOVED);
    }
    return (int)n;
}

static void free_chain(struct mbuf *m)
{
    while (m != NULL) {
        struct mbuf *x = m;
        m = x->next;
        mbuf_free(x);
    }
}

int tcp_mig_import(struct net_core *c, const struct tcp_mig_rec *r)
{
    struct tcp_core *tc = c->tcp;
    if (tc == NULL)
        return -IX_EINVAL;
    if (tcp_pcb_lookup(c, r->raddr, r->rport, r->lport) != NULL)
        return -IX_EADDRINUSE;
    /* copy the unread payload first: a failure leaves nothing behind */
    struct mbuf *head = NULL, *tail = NULL;
    uint32_t skip = r->rq_off, bytes = 0;
    for (const struct mbuf *m = r->rq; m != NULL; m = m->next) {
        if (skip >= m->len) {
            skip -= m->len;
            continue;
        }
        struct mbuf *n = mbuf_alloc(c->pool);
        if (n == NULL) {
            free_chain(head);
            return -IX_ENOMEM;
        }
        uint32_t len = m->len - skip;
        for (uint32_t k = 0; k < len; k++)
            n->data[k] = m->data[skip + k];
        n->len = len;
        n->aux = (uint32_t)m->aux + skip;
        n->next = NULL;
        skip = 0;
        bytes += len;
        if (tail != NULL)
            tail->next = n;
        else
            head = n;
        tail = n;
    }
    struct tcp_pcb *p = tcp_pcb_alloc(c);
    if (p == NULL) {
        free_chain(head);
        return -IX_ENOMEM;
    }
    tcp_pcb_init_conn(c, p);
    p->laddr = r->laddr;
    p->raddr = r->raddr;
    p->lport = r->lport;
    p->rport = r->rport;
    p->state = r->state;
    p->passive = true;
    p->synced = true;
    p->accepted = false;
    p->app_ref = false;
    p->ts_on = (r->flags & TCP_MIGF_TS) != 0;
    p->ws_on = (r->flags & TCP_MIGF_WS) != 0;
    p->sack_on = (r->flags & TCP_MIGF_SACK) != 0;
    p->sack_seen = (r->flags & TCP_MIGF_SACK_SEEN) != 0;
    p->fin_rcvd = (r->flags & TCP_MIGF_FIN_RCVD) != 0;
    p->snd_ws = r->snd_ws;
    p->rcv_ws = r->rcv_ws;
    p->mss = r->mss;
    p->iss = r->iss;
    p->irs = r->irs;
    p->snd_una = p->snd_nxt = p->snd_max = r->snd_una;
    p->snd_end = p->fin_seq = p->sq_seq = r->snd_una;
    p->snd_wnd = r->snd_wnd;
    p->max_sndwnd = r->max_sndwnd;
    p->snd_wl1 = r->snd_wl1;
    p->snd_wl2 = r->snd_wl2;
    p->cwnd = r->cwnd;
    p->ssthresh = r->ssthresh;
    p->recover = r->recover;
    p->srtt_us = r->srtt_us;
    p->rttvar_us = r->rttvar_us;
    p->rto_us = r->rto_us;
    p->rcv_nxt = r->rcv_nxt;
    p->rcv_adv = r->rcv_adv;
    p->ts_recent = r->ts_recent;
    p->rq_head = p->rq_post = head;
    p->rq_tail = tail;
    p->rcv_held = bytes;
    tcp_pcb_hash(c, p);
    tcp_keepalive_reset(c, p);
    p->last_rx_us = r->last_rx_us;
    if (p->fin_rcvd)
        p->pend |= PEND_EOF;
    tcp_pend(c, p, PEND_KNOCK);
    return 0;
}

void tcp_mig_release(struct tcp_mig_rec *recs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free_chain(recs[i].rq);
        recs[i].rq = NULL;
    }
}
