/* TCP events to the app, their deferral when the event array is full, and the end of a
 * connection's life (reporting it and releasing the PCB).
 *
 * Nothing is ever dropped for lack of event slots: what could not be posted stays recorded
 * on the PCB (pend bits, rq_post for received mbufs, pend_sent for acked bytes) and the PCB
 * goes on the core's pending list, retried by tcp_flush_events (called by any TCP entry
 * point, and by a one-tick timer so the next net_poll_timers retries even if nothing
 * else happens). Per connection the order is preserved: KNOCK/CONNECTED, then RECVs, then
 * EOF, SENT, and DEAD last.
 */
#include "tcp_int.h"

static void pend_list_add(struct net_core *c, struct tcp_pcb *p)
{
    struct tcp_core *tc = c->tcp;
    if (p->on_pend)
        return;
    p->on_pend = true;
    p->lnext = NULL;
    if (tc->pend_tail != NULL)
        tc->pend_tail->lnext = p;
    else
        tc->pend_head = p;
    tc->pend_tail = p;
    TCP_TCTR(c, EV_DEFERRED);
    if (!timer_pending(&tc->t_pend))
        timer_arm(c->wheel, &tc->t_pend, timer_wheel_now_us(c->wheel) + c->wheel->tick_us);
}

static bool has_pending(const struct tcp_pcb *p)
{
    if (p->pend & (PEND_KNOCK | PEND_CONNECTED))
        return true;
    if (!p->accepted)
        return false; /* the rest waits for tcp_accept, not for event slots */
    return p->pend != 0 || p->rq_post != NULL || p->pend_sent != 0;
}

/* The app holds received bytes, has sent nothing since they were posted (it did not answer
 * them: a request it has only part of) and nothing it sent is queued or unacknowledged: it
 * waits for more input (docs/scale.md, "What the kvstore needs for a move"). An app that
 * answered, as echo does at once, holds its bytes until the answer is acknowledged and gets
 * no more input during a drain: otherwise a busy peer would keep it from ever going quiet.
 * Whether the app has heard of its last ACK yet does not matter: what it does about a SENT
 * shows only in its calls of the next round, after that round's start has posted what was
 * deferred, so waiting for it would only post the same input one round later. */
static bool waits_for_input(const struct tcp_pcb *p)
{
    return p->posted_unread != 0 && !p->sent_since_input && p->snd_una == p->snd_end && p->snd_max == p->snd_una &&
           p->sq_head == NULL && p->sg_head == 0;
}

/* Post what can be posted for p, in order. May free p. */
void tcp_flush_pcb(struct net_core *c, struct tcp_pcb *p)
{
    struct ix_event *ev;
    if (!p->in_use)
        return;
    if (p->pend & PEND_KNOCK) {
        if ((ev = net_event_reserve(c)) == NULL)
            goto defer;
        ev->type = IX_EV_TCP_KNOCK;
        ev->cookie = 0;
        ev->a0 = tcp_handle(p);
        ev->a1 = ix_tuple_pack(p->raddr, p->rport, p->lport);
        ev->a2 = p->laddr;
        p->pend &= (uint8_t)~PEND_KNOCK;
        p->app_ref = true;
    }
    if (p->pend & PEND_CONNECTED) {
        if ((ev = net_event_reserve(c)) == NULL)
            goto defer;
        ev->type = IX_EV_TCP_CONNECTED;
        ev->cookie = p->cookie;
        ev->a0 = tcp_handle(p);
        ev->a1 = (uint64_t)(int64_t)p->conn_outcome;
        p->pend &= (uint8_t)~PEND_CONNECTED;
        if (p->conn_outcome != 0) {
            /* A failed connect is final: the handle is released with this event. */
            p->app_ref = false;
            p->pend = 0;
            tcp_maybe_release(c, p);
            return;
        }
    }
    if (!p->accepted)
        return;
    if (p->rq_post != NULL || (p->pend & PEND_EOF)) {
        /* a moving flow group: received data waits in the kernel for the core that adopts
         * the connection (tcp_migrate.c); what was acknowledged is still reported. An app
         * that waits for input with received bytes in hand (a request it has only part of)
         * gets the rest: it cannot finish and give them back otherwise, and the move waits
         * for that. One that holds them until its reply is acknowledged does not. */
        if (tcp_mig_holding(c, p) && !waits_for_input(p))
            goto sent;
    }
    while (p->rq_post != NULL) {
        if ((ev = net_event_reserve(c)) == NULL)
            goto defer;
        struct mbuf *m = p->rq_post;
        ev->type = IX_EV_TCP_RECV;
        ev->cookie = p->cookie;
        ev->a0 = (uint64_t)(uintptr_t)m->data;
        ev->a1 = m->len;
        ev->a2 = tcp_handle(p);
        p->posted_unread += m->len;
        p->sent_since_input = false;
        p->rq_post = m->next;
    }
    if (p->pend & PEND_EOF) {
        if (!p->app_closed) {
            if ((ev = net_event_reserve(c)) == NULL)
                goto defer;
            ev->type = IX_EV_TCP_RECV;
            ev->cookie = p->cookie;
            ev->a2 = tcp_handle(p);
        }
        p->pend &= (uint8_t)~PEND_EOF;
    }
sent:
    if (p->pend_sent != 0) {
        if ((ev = net_event_reserve(c)) == NULL)
            goto defer;
        uint32_t queued = p->snd_end - p->snd_una;
        uint32_t sndbuf = c->tcp->tun.sndbuf;
        ev->type = IX_EV_TCP_SENT;
        ev->cookie = p->cookie;
        ev->a0 = p->pend_sent;
        ev->a1 = queued < sndbuf ? sndbuf - queued : 0;
        p->pend_sent = 0;
    }
    if (p->pend & PEND_DEAD) {
        if ((ev = net_event_reserve(c)) == NULL)
            goto defer;
        ev->type = IX_EV_TCP_DEAD;
        ev->cookie = p->cookie;
        ev->a0 = (uint64_t)(int64_t)p->dead_reason;
        p->pend &= (uint8_t)~PEND_DEAD;
        p->dead_posted = true;
        /* DEAD is final: the handle dies with it. Received payload the app has not given
         * back may still be read while it handles this round's events, so it is freed in
         * a later round (see tcp_flush_events), not now. */
        struct tcp_core *tc = c->tcp;
        while (p->rq_head != NULL) {
            struct mbuf *m = p->rq_head;
            p->rq_head = m->next;
            m->next = tc->grave;
            tc->grave = m;
        }
        p->rq_tail = p->rq_post = NULL;
        p->rcv_held = p->posted_unread = p->rq_off = 0;
        tcp_maybe_release(c, p);
    }
    return;
defer:
    pend_list_add(c, p);
}

void tcp_pend(struct net_core *c, struct tcp_pcb *p, uint8_t what)
{
    p->pend |= what;
    if (p->on_pend)
        return; /* keep the order: it is behind others already waiting */
    tcp_flush_pcb(c, p);
}

void tcp_flush_events(struct net_core *c)
{
    struct tcp_core *tc = c->tcp;
    if (tc == NULL)
        return;
    /* No event posted in this round yet: the app has handled the round in which buffers
     * went to the grave, so they can be reused now. */
    if (tc->grave != NULL && c->ev_len == 0) {
        while (tc->grave != NULL) {
            struct mbuf *m = tc->grave;
            tc->grave = m->next;
            mbuf_free(m);
        }
    }
    if (tc->pend_head == NULL)
        return;
    struct tcp_pcb *list = tc->pend_head;
    tc->pend_head = tc->pend_tail = NULL;
    while (list != NULL) {
        struct tcp_pcb *p = list;
        list = p->lnext;
        p->on_pend = false;
        p->lnext = NULL;
        if (c->ev_len >= c->ev_cap && has_pending(p)) {
            pend_list_add(c, p); /* no room at all: keep the rest in order */
            continue;
        }
        tcp_flush_pcb(c, p);
    }
}

void tcp_rq_free(struct net_core *c, struct tcp_pcb *p)
{
    (void)c;
    while (p->rq_head != NULL) {
        struct mbuf *m = p->rq_head;
        p->rq_head = m->next;
        mbuf_free(m);
    }
    p->rq_tail = p->rq_post = NULL;
    p->rq_off = 0;
    p->rcv_held = 0;
    p->posted_unread = 0;
    while (p->ooo != NULL) {
        struct mbuf *m = p->ooo;
        p->ooo = m->next;
        mbuf_free(m);
    }
    p->ooo_cnt = 0;
}

/* Release the app's side when it is done with the handle, and the PCB when both sides
 * are done. */
void tcp_maybe_release(struct net_core *c, struct tcp_pcb *p)
{
    if (!p->in_use)
        return;
    if (p->app_ref && p->dead_posted)
        p->app_ref = false;
    if (!p->app_ref && p->state == TCPS_CLOSED && !(p->pend & (PEND_KNOCK | PEND_CONNECTED)))
        tcp_pcb_free(c, p);
}

/* The connection is over (reset, timeout, or finished after close): move to CLOSED, drop
 * references to app memory and queued data, and tell the app in the way its state needs. */
void tcp_conn_dead(struct net_core *c, struct tcp_pcb *p, int reason)
{
    tcp_timers_cancel(c, p);
    p->state = TCPS_CLOSED;
    tcp_slices_free(c, p);
    p->pend_sent = 0;
    if (!p->synced) {
        if (p->passive) {
            tcp_pcb_free(c, p);          /* the app never heard of it */
            return;
        }
        p->conn_outcome = reason ? reason : IX_ECONNRESET;
        tcp_pend(c, p, PEND_CONNECTED);
        return;
    }
    if (p->passive && !p->app_ref && (p->pend & PEND_KNOCK)) {
        tcp_pcb_free(c, p);              /* knock never reached the app */
        return;
    }
    if (p->dead_posted) {
        tcp_maybe_release(c, p);
        return;
    }
    p->dead_reason = reason;
    p->pend &= (uint8_t)~PEND_EOF;
    tcp_pend(c, p, PEND_DEAD);
    tcp_maybe_release(c, p);
}
