/* The TCP calls of the batched-call ABI (guest/include/ix/abi.h): listen, connect, accept,
 * reject, sendv, recv_done, close. Arguments come from untrusted apps (through the
 * batched-call layer): every handle, count and length is checked here. */
#include "rss.h"
#include "stack_env.h"
#include "tcp_int.h"

int tcp_listen(struct net_core *c, uint16_t port, unsigned backlog)
{
    struct tcp_core *tc = c->tcp;
    if (tc == NULL || port == 0)
        return -IX_EINVAL;
    tcp_flush_events(c);
    if (tcp_listener_find(c, port) != NULL)
        return -IX_EADDRINUSE;
    if (backlog == 0)
        backlog = 1;
    if (backlog > 65535)
        backlog = 65535;
    for (unsigned i = 0; i < sizeof(tc->listeners) / sizeof(tc->listeners[0]); i++) {
        struct tcp_listener *l = &tc->listeners[i];
        if (l->port == 0) {
            l->port = port;
            l->backlog = (uint16_t)backlog;
            l->pending = 0;
            return 0;
        }
    }
    return -IX_ENOMEM;
}

static bool pick_port(struct net_core *c, uint32_t raddr, uint16_t rport, uint16_t *out)
{
    struct tcp_core *tc = c->tcp;
    for (unsigned i = 0; i < 28232; i++) {
        uint16_t port = tc->next_port;
        tc->next_port = (uint16_t)(port >= 60999 ? 32768 : port + 1);
        if (c->rss != NULL && !rss_flow_is_mine(c->rss, c->cfg.addr, port, raddr, rport))
            continue; /* replies would be steered to another core */
        if (tcp_listener_find(c, port) == NULL && tcp_pcb_lookup(c, raddr, rport, port) == NULL) {
            *out = port;
            return true;
        }
    }
    return false;
}

int64_t tcp_connect(struct net_core *c, uint64_t cookie, uint32_t raddr, uint16_t rport)
{
    if (c->tcp == NULL || raddr == 0 || raddr == 0xffffffffu || rport == 0)
        return -IX_EINVAL;
    tcp_flush_events(c);
    uint16_t lport;
    if (!pick_port(c, raddr, rport, &lport))
        return -IX_EADDRINUSE;
    struct tcp_pcb *p = tcp_pcb_alloc(c);
    if (p == NULL)
        return -IX_ENOMEM;
    tcp_pcb_init_conn(c, p);
    if (!c->tcp->tun.wscale)
        p->rcv_ws = 0;
    p->raddr = raddr;
    p->rport = rport;
    p->lport = lport;
    p->cookie = cookie;
    p->accepted = true;
    p->app_ref = true;
    p->iss = tcp_isn(c, p);
    p->snd_una = p->snd_nxt = p->snd_max = p->iss;
    p->snd_end = p->fin_seq = p->sq_seq = p->iss + 1;
    p->state = TCPS_SYN_SENT;
    tcp_cc_init(c, p);
    tcp_pcb_hash(c, p);
    int rc = tcp_xmit(c, p, p->iss, 0, 0);
    if (rc < 0 && rc != -IX_EAGAIN && rc != -IX_ENOMEM) {
        tcp_pcb_free(c, p); /* e.g. no route: fail the call itself */
        return rc;
    }
    return (int64_t)tcp_handle(p);
}

/* The control block of an app's handle (NULL for a bad one), after posting the events that
 * waited for room: an app's call comes after everything it has been told. */
static struct tcp_pcb *app_pcb(struct net_core *c, uint64_t handle)
{
    struct tcp_pcb *p = tcp_pcb_from_handle(c, handle);
    if (p != NULL)
        tcp_flush_events(c);
    return p;
}

int tcp_accept(struct net_core *c, uint64_t handle, uint64_t cookie)
{
    struct tcp_pcb *p = app_pcb(c, handle);
    if (p == NULL)
        return -IX_EBADH;
    if (!p->passive || p->accepted)
        return -IX_EINVAL;
    p->cookie = cookie;
    p->accepted = true;
    tcp_listener_drop_pending(p);
    tcp_flush_pcb(c, p); /* data (or a DEAD) that arrived before the accept */
    return 0;
}

int tcp_reject(struct net_core *c, uint64_t handle)
{
    struct tcp_pcb *p = app_pcb(c, handle);
    if (p == NULL)
        return -IX_EBADH;
    if (!p->passive || p->accepted)
        return -IX_EINVAL;
    if (p->state != TCPS_CLOSED) {
        TCP_TCTR(c, RST_APP);
        tcp_send_rst(c, p->laddr, p->raddr, p->lport, p->rport, p->snd_nxt, p->rcv_nxt, true);
    }
    tcp_pcb_free(c, p);
    return 0;
}

int64_t tcp_sendv(struct net_core *c, uint64_t handle, const struct net_iov *iov, int n)
{
    struct tcp_pcb *p = app_pcb(c, handle);
    if (p == NULL)
        return -IX_EBADH;
    if (n < 0 || n > IX_SG_MAX || (n > 0 && iov == NULL))
        return -IX_EINVAL;
    for (int i = 0; i < n; i++)
        if (iov[i].len > 0 && iov[i].base == NULL)
            return -IX_EFAULT;
    if (p->app_closed)
        return -IX_EINVAL;
    if (p->state == TCPS_CLOSED)
        return -(p->dead_reason ? p->dead_reason : IX_ENOTCONN);
    if (p->state != TCPS_ESTABLISHED && p->state != TCPS_CLOSE_WAIT)
        return -IX_ENOTCONN;
    struct tcp_core *tc = c->tcp;
    uint32_t queued = p->snd_end - p->snd_una;
    uint32_t space = tc->tun.sndbuf > queued ? tc->tun.sndbuf - queued : 0;
    uint64_t want = 0;
    uint32_t taken = 0;
    for (int i = 0; i < n; i++) {
        want += iov[i].len;
        uint32_t len = iov[i].len;
        if (len > space - taken)
            len = space - taken;
        if (len == 0)
            continue;
        const uint8_t *base = iov[i].base;
        struct tcp_slice *t = p->sq_tail;
        if (t != NULL && t->base + t->len == base && t->len + len > t->len) {
            t->len += len; /* contiguous with the previous slice: extend it */
        } else {
            struct tcp_slice *s = tc->free_slices;
            if (s == NULL)
                break;
            tc->free_slices = s->next;
            tc->slices_free--;
            s->next = NULL;
            s->base = base;
            s->len = len;
            if (t != NULL)
                t->next = s;
            else
                p->sq_head = s;
            p->sq_tail = s;
        }
        taken += len;
        if (len < iov[i].len)
            break;
    }
    if (taken == 0)
        return want == 0 ? 0 : -IX_EAGAIN;
    p->snd_end += taken;
    p->fin_seq = p->snd_end;
    p->sent_since_input = true;
    tcp_output(c, p);
    return taken;
}

int tcp_recv_done(struct net_core *c, uint64_t handle, uint32_t bytes)
{
    struct tcp_pcb *p = app_pcb(c, handle);
    if (p == NULL)
        return -IX_EBADH;
    if (bytes > p->posted_unread)
        return -IX_EINVAL;
    uint32_t left = bytes;
    while (left > 0 && p->rq_head != NULL) {
        struct mbuf *m = p->rq_head;
        uint32_t avail = m->len - p->rq_off;
        if (left >= avail) {
            left -= avail;
            p->rq_head = m->next;
            if (p->rq_head == NULL)
                p->rq_tail = NULL;
            p->rq_off = 0;
            mbuf_free(m);
        } else {
            p->rq_off += left;
            left = 0;
        }
    }
    p->rcv_held -= bytes;
    p->posted_unread -= bytes;
    /* Window update when the window the peer knows is now much smaller than what we can
     * take (it at least doubles, by two segments or more), as Linux does in cleanup_rbuf. */
    bool open = p->state == TCPS_ESTABLISHED || p->state == TCPS_FIN_WAIT_1 || p->state == TCPS_FIN_WAIT_2;
    if (open && bytes > 0) {
        uint32_t old = seq_gt(p->rcv_adv, p->rcv_nxt) ? p->rcv_adv - p->rcv_nxt : 0;
        uint32_t now = tcp_rcv_window(c, p);
        if (now > old && (old == 0 || (now >= 2 * old && now - old >= 2u * tcp_our_mss(c))))
            tcp_send_ack(c, p);
    }
    return 0;
}

int tcp_close(struct net_core *c, uint64_t handle)
{
    struct tcp_pcb *p = app_pcb(c, handle);
    if (p == NULL)
        return -IX_EBADH;
    if (p->app_closed)
        return -IX_EINVAL;
    if (p->passive && !p->accepted)
        return tcp_reject(c, handle);
    p->app_closed = true;
    tcp_rq_free(c, p); /* the app is done with every received buffer */
    p->pend &= (uint8_t)~PEND_EOF;
    switch (p->state) {
    case TCPS_SYN_SENT:
        tcp_pcb_free(c, p); /* nothing to tell the peer; no more events */
        return 0;
    case TCPS_SYN_RECEIVED:
        TCP_TCTR(c, RST_APP);
        tcp_send_rst(c, p->laddr, p->raddr, p->lport, p->rport, p->snd_nxt, p->rcv_nxt, true);
        tcp_pcb_free(c, p);
        return 0;
    case TCPS_ESTABLISHED:
    case TCPS_CLOSE_WAIT:
        p->fin_queued = true;
        p->fin_seq = p->snd_end;
        p->state = p->state == TCPS_ESTABLISHED ? TCPS_FIN_WAIT_1 : TCPS_LAST_ACK;
        tcp_output(c, p);
        return 0;
    default:
        /* Already over (DEAD posted or pending): release when it has been posted. */
        tcp_maybe_release(c, p);
        return 0;
    }
}
