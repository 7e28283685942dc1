#include "ixev.h"

static const struct ixev_ops *ops;
static struct ix_call *calls;   /* the app's call array (ix_app_info.calls) */
static uint32_t ncalls, calls_max;
static struct ixev_ctx *call_ctx[IX_BATCH_MAX]; /* which connection a queued call is for */
static int running = 1, status;

void ixev_init(const struct ixev_ops *o)
{
    ops = o;
    calls = (struct ix_call *)ix_info()->calls;
    calls_max = ix_info()->calls_max;
    ncalls = 0;
}

static void flush_calls_only(void);

/* Reserve a call slot (flushing the batch when full). */
static struct ix_call *slot(uint16_t op, struct ixev_ctx *c)
{
    if (ncalls == calls_max)
        flush_calls_only(); /* we may be reading the event array: do not let it change */
    struct ix_call *k = &calls[ncalls];
    call_ctx[ncalls++] = c;
    k->op = op;
    k->flags = 0;
    k->err = 0;
    k->a0 = k->a1 = k->a2 = k->ret = 0;
    return k;
}

int ixev_listen(uint16_t port, unsigned backlog)
{
    int32_t err;
    ix_call1(IX_OP_TCP_LISTEN, port, backlog, 0, &err);
    return err;
}

int ixev_udp_bind(uint16_t port)
{
    int32_t err;
    ix_call1(IX_OP_UDP_BIND, port, 0, 0, &err);
    return err;
}

int ixev_connect(struct ixev_ctx *c, uint32_t raddr, uint16_t rport)
{
    int32_t err;
    int64_t h = ix_call1(IX_OP_TCP_CONNECT, (uint64_t)c, raddr, rport, &err);
    if (err)
        return err;
    c->handle = (uint64_t)h;
    c->tuple = ix_tuple_pack(raddr, rport, 0);
    return 0;
}

/* sg lists of the sendv calls in the current batch, one per call slot */
static struct ix_sg sg_lists[IX_BATCH_MAX][IX_SG_MAX];
static struct ix_sg *posted_sg(uint32_t slot) { return sg_lists[slot]; }

/* Hand the stack as much of the send queue as one sendv can carry. */
static void post_send(struct ixev_ctx *c)
{
    if (c->send_posted || c->sq_head == c->sq_tail || c->dead)
        return;
    struct ix_call *k = slot(IX_OP_TCP_SENDV, c);
    /* the sg list lives in the context itself: pieces head..tail, the first one offset */
    struct ix_sg *s = posted_sg(ncalls - 1);
    uint32_t n = 0;
    for (uint32_t i = c->sq_head; i != c->sq_tail && n < IX_SG_MAX; i++, n++) {
        struct ix_sg p = c->sq[i % IXEV_SENDQ];
        if (i == c->sq_head) {
            p.base += c->sq_off;
            p.len -= c->sq_off;
        }
        s[n] = p;
    }
    k->a0 = c->handle;
    k->a1 = (uint64_t)s;
    k->a2 = n;
    c->send_posted = 1;
    c->sq_slot = ncalls - 1;
}

static struct ix_sg *posted_sg(uint32_t slot);

/* A sendv came back: drop what the stack took from the queue. */
static void send_done(struct ixev_ctx *c, const struct ix_call *k)
{
    c->send_posted = 0;
    if (k->err)
        return; /* window full (-IX_EAGAIN) or connection gone: retried on the next SENT */
    uint64_t taken = k->ret;
    while (taken && c->sq_head != c->sq_tail) {
        struct ix_sg *p = &c->sq[c->sq_head % IXEV_SENDQ];
        uint64_t left = p->len - c->sq_off;
        if (taken >= left) {
            taken -= left;
            c->sq_head++;
            c->sq_off = 0;
        } else {
            c->sq_off += (uint32_t)taken;
            taken = 0;
        }
    }
}

int ixev_send(struct ixev_ctx *c, const void *buf, size_t len)
{
    if (c->dead || c->closing)
        return -IX_ENOTCONN;
    if (len == 0)
        return 0;
    if (c->sq_tail - c->sq_head == IXEV_SENDQ)
        return -IX_EAGAIN;
    c->sq[c->sq_tail++ % IXEV_SENDQ] = (struct ix_sg){(uint64_t)buf, len};
    if (c->send_posted) {
        /* A sendv for this connection is already in the batch: if it carries every piece
         * queued before this one, let it carry this one too. Otherwise a reply made of
         * several pieces (header, value, trailer) would leave only its first piece now and
         * the rest after the peer's ACK of it: a delayed-ACK stall per request. */
        struct ix_call *k = &calls[c->sq_slot];
        if (k->a2 < IX_SG_MAX && k->a2 == c->sq_tail - 1 - c->sq_head)
            posted_sg(c->sq_slot)[k->a2++] = (struct ix_sg){(uint64_t)buf, len};
        return 0;
    }
    post_send(c);
    return 0;
}

void ixev_recv_done(struct ixev_ctx *c, size_t bytes)
{
    if (c->dead || bytes == 0)
        return;
    struct ix_call *k = slot(IX_OP_TCP_RECV_DONE, c);
    k->a0 = c->handle;
    k->a1 = bytes;
}

void ixev_close(struct ixev_ctx *c)
{
    if (c->dead || c->closing)
        return;
    c->closing = 1;
    struct ix_call *k = slot(IX_OP_TCP_CLOSE, c);
    k->a0 = c->handle;
}

int ixev_udp_send(const void *buf, size_t len, uint64_t tuple)
{
    struct ix_call *k = slot(IX_OP_UDP_SEND, 0);
    k->a0 = (uint64_t)buf;
    k->a1 = len;
    k->a2 = tuple;
    return 0;
}

void ixev_udp_recv_done(const void *data)
{
    struct ix_call *k = slot(IX_OP_UDP_RECV_DONE, 0);
    k->a0 = (uint64_t)data;
}

int ixev_timer(uint64_t cookie, uint64_t delay_us)
{
    struct ix_call *k = slot(IX_OP_TIMER_ARM, 0);
    k->a0 = cookie;
    k->a1 = delay_us;
    return 0;
}

void ixev_stop(int s)
{
    running = 0;
    status = s;
}

static void dispatch(const struct ix_event *e)
{
    struct ixev_ctx *c = (struct ixev_ctx *)e->cookie;
    switch (e->type) {
    case IX_EV_TCP_KNOCK: {
        struct ixev_ctx *n = ops->accept ? ops->accept(e->a1, (uint32_t)e->a2) : 0;
        if (!n) {
            slot(IX_OP_TCP_REJECT, 0)->a0 = e->a0;
            break;
        }
        n->handle = e->a0;
        n->tuple = e->a1;
        n->sq_head = n->sq_tail = n->sq_off = 0;
        n->send_posted = n->closing = n->dead = 0;
        struct ix_call *k = slot(IX_OP_TCP_ACCEPT, n);
        k->a0 = e->a0;
        k->a1 = (uint64_t)n;
        break;
    }
    case IX_EV_TCP_CONNECTED:
        if (e->a1)
            c->dead = 1;
        if (ops->connected)
            ops->connected(c, -(int)e->a1);
        break;
    case IX_EV_TCP_RECV:
        if (e->a1 == 0) {
            if (ops->eof)
                ops->eof(c);
        } else if (ops->recv) {
            ops->recv(c, (const void *)e->a0, e->a1);
        }
        break;
    case IX_EV_TCP_SENT:
        post_send(c); /* the window opened: send what waits */
        if (ops->sent)
            ops->sent(c, e->a0);
        break;
    case IX_EV_TCP_DEAD:
        c->dead = 1;
        if (ops->dead)
            ops->dead(c, -(int)e->a0);
        break;
    case IX_EV_UDP_RECV:
        if (ops->udp_recv)
            ops->udp_recv((const void *)e->a0, e->a1, e->a2);
        else
            ixev_udp_recv_done((const void *)e->a0);
        break;
    case IX_EV_UDP_SENT:
        if (ops->udp_sent)
            ops->udp_sent(e->cookie, (int)e->a0);
        break;
    case IX_EV_TIMER:
        if (ops->timer)
            ops->timer(e->cookie);
        break;
    }
}

static void results(uint32_t n)
{
    ncalls = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (calls[i].op == IX_OP_TCP_SENDV && call_ctx[i])
            send_done(call_ctx[i], &calls[i]);
    }
}

/* One trap: run the queued calls, process their results; returns the events posted. With
 * `wait`, the trap returns only with an event: nothing the library or the app does depends
 * on a call's result before the next event (a partly taken sendv goes on at the next SENT),
 * so one trap per request instead of a sending one and a waiting one. An app with an idle
 * callback wants control back after every round and does not wait. */
static int flush(int wait)
{
    uint32_t n = ncalls;
    long nev = ix_bpoll(calls, n | (wait && !ops->idle ? IX_BPOLL_WAIT : 0));
    results(n);
    return (int)nev;
}

static void flush_calls_only(void)
{
    uint32_t n = ncalls;
    ix_bpoll(calls, n | IX_BPOLL_NO_EVENTS);
    results(n);
}

int ixev_run(void)
{
    const struct ix_event *ev = ix_events();
    while (running) {
        int nev = flush(1);
        for (int i = 0; i < nev; i++)
            dispatch(&ev[i]);
        if (ops->idle)
            ops->idle();
    }
    flush(0); /* the last calls (closes): do not wait for an event that may never come */
    return status;
}
