/* UDP with zero-copy receive (events point into the RX mbuf) and zero-copy send (payload
 * slices go to the netif as they are). */
#include "udp.h"

#include "csum.h"
#include "ipv4.h"
#include "wire/udp.h"

struct udp_core {
    uint64_t bound[65536 / 64];     /* one bit per local port */
    struct mbuf *deferred_head;     /* completions waiting for an event slot (FIFO) */
    struct mbuf *deferred_tail;
    uint32_t deferred_n;
};

size_t udp_core_size(void) { return sizeof(struct udp_core); }

void udp_init(struct net_core *c, void *mem)
{
    struct udp_core *u = mem;
    __builtin_memset(u, 0, sizeof(*u));
    c->udp = u;
}

static bool udp_is_bound(const struct udp_core *u, uint16_t port)
{
    return (u->bound[port / 64] >> (port % 64)) & 1;
}

int udp_bind(struct net_core *c, uint16_t port)
{
    if (port == 0)
        return -IX_EINVAL;
    if (udp_is_bound(c->udp, port))
        return -IX_EADDRINUSE;
    c->udp->bound[port / 64] |= (uint64_t)1 << (port % 64);
    return 0;
}

int udp_unbind(struct net_core *c, uint16_t port)
{
    if (port == 0 || !udp_is_bound(c->udp, port))
        return -IX_EINVAL;
    c->udp->bound[port / 64] &= ~((uint64_t)1 << (port % 64));
    return 0;
}

void udp_input(struct net_core *c, struct mbuf *m, uint32_t src, uint32_t dst)
{
    if (m->len < UDP_HLEN) {
        c->counters.drop_udp_bad++;
        mbuf_free(m);
        return;
    }
    const uint8_t *h = m->data;
    uint32_t ulen = udp_len(h);
    if (ulen < UDP_HLEN || ulen > m->len) {
        c->counters.drop_udp_bad++;
        mbuf_free(m);
        return;
    }
    mbuf_trim(m, ulen);
    if (udp_csum(h) != 0) {
        uint32_t s = csum_pseudo(src, dst, NET_PROTO_UDP, ulen);
        if (csum_fold(csum_partial(h, ulen, s)) != 0) {
            c->counters.drop_udp_csum++;
            mbuf_free(m);
            return;
        }
    }
    uint16_t dport = udp_dport(h);
    if (!udp_is_bound(c->udp, dport)) {
        c->counters.drop_udp_no_port++;
        mbuf_free(m);
        return;
    }
    struct ix_event *ev = net_event_reserve(c);
    if (ev == NULL) {
        c->counters.drop_udp_ev_full++;
        mbuf_free(m);
        return;
    }
    uintptr_t payload = (uintptr_t)(m->data + UDP_HLEN);
    ev->type = IX_EV_UDP_RECV;
    ev->cookie = 0;
    ev->a0 = payload;
    ev->a1 = ulen - UDP_HLEN;
    ev->a2 = ix_tuple_pack(src, udp_sport(h), dport);
    m->flags |= MBUF_F_UDP_HELD;
    m->aux = payload; /* udp_recv_done must hand back exactly this address */
    c->counters.udp_rx++;
}

int udp_recv_done(struct net_core *c, uintptr_t addr)
{
    struct mbuf *m = mbuf_from_addr(c->pool, addr);
    if (m == NULL || !(m->flags & MBUF_F_UDP_HELD) || m->aux != addr)
        return -IX_EINVAL;
    mbuf_free(m);
    return 0;
}

int udp_send(struct net_core *c, const struct net_iov *iov, int n, uint32_t raddr,
             uint16_t rport, uint16_t lport, uint64_t cookie)
{
    if (n < 0 || n > NET_IOV_MAX || (n > 0 && iov == NULL) || rport == 0 || lport == 0)
        return -IX_EINVAL;
    uint64_t plen = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].len > 0 && iov[i].base == NULL)
            return -IX_EFAULT;
        plen += iov[i].len;
    }
    if (plen > UDP_PAYLOAD_MAX)
        return -IX_EINVAL;
    struct mbuf *m = mbuf_alloc(c->pool);
    if (m == NULL) {
        c->counters.drop_nomem++;
        return -IX_ENOMEM;
    }
    uint32_t ulen = (uint32_t)plen + UDP_HLEN;
    uint8_t *h = mbuf_append(m, UDP_HLEN);
    udp_write(h, lport, rport, (uint16_t)ulen);
    /* Checksum reads the app's slices in place; nothing is copied. */
    uint32_t s = csum_pseudo(c->cfg.addr, raddr, NET_PROTO_UDP, ulen);
    s = csum_partial(h, UDP_HLEN, s);
    uint32_t off = UDP_HLEN;
    for (int i = 0; i < n; i++) {
        s = csum_partial_at(iov[i].base, iov[i].len, s, off);
        off += iov[i].len;
    }
    uint16_t sum = csum_fold(s);
    udp_set_csum(h, sum == 0 ? 0xffff : sum);
    m->flags |= MBUF_F_TX_NOTIFY;
    m->aux2 = cookie;
    int rc = ipv4_output(c, m, iov, n, raddr, NET_PROTO_UDP);
    if (rc == 0)
        c->counters.udp_tx++;
    return rc;
}

static bool udp_post_sent(struct net_core *c, uint64_t cookie, bool sent)
{
    struct ix_event *ev = net_event_reserve(c);
    if (ev == NULL)
        return false;
    ev->type = IX_EV_UDP_SENT;
    ev->cookie = cookie;
    ev->a0 = sent ? 1 : 0;
    return true;
}

void udp_tx_done(struct net_core *c, struct mbuf *m, bool sent)
{
    struct udp_core *u = c->udp;
    /* Keep completions in order: if older ones wait, this one waits behind them. */
    if (u->deferred_head == NULL && udp_post_sent(c, m->aux2, sent)) {
        mbuf_free(m);
        return;
    }
    /* The app must learn that its memory is free again, so a completion is never dropped:
     * the header mbuf itself holds it until an event slot is available. */
    c->counters.udp_sent_deferred++;
    m->aux = sent ? 1 : 0;
    m->next = NULL;
    if (u->deferred_tail)
        u->deferred_tail->next = m;
    else
        u->deferred_head = m;
    u->deferred_tail = m;
    u->deferred_n++;
}

void udp_flush_deferred(struct net_core *c)
{
    struct udp_core *u = c->udp;
    while (u->deferred_head) {
        struct mbuf *m = u->deferred_head;
        if (!udp_post_sent(c, m->aux2, m->aux != 0))
            return;
        u->deferred_head = m->next;
        if (u->deferred_head == NULL)
            u->deferred_tail = NULL;
        u->deferred_n--;
        mbuf_free(m);
    }
}

uint32_t udp_deferred(const struct net_core *c) { return c->udp->deferred_n; }
