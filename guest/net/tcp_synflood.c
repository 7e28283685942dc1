/* A listener past its half-open bound (RFC 4987 §3.6): SYNs are answered with a SYN cookie
 * and forgotten, and an ACK that returns a valid cookie becomes a connection. The cookie's
 * layout is tcp_syncookie.h's; this file ties it to the stack: the stateless SYN-ACK, the
 * connection rebuilt from the ACK, and a rate-limited log line so an operator sees a flood. */
#include "stack_env.h"
#include "tcp_int.h"
#include "tcp_syncookie.h"

#define FLOOD_LOG_US 1000000ull /* at most one log line per second per core */

static void flood_log(struct net_core *c, uint16_t port)
{
    struct tcp_core *tc = c->tcp;
    uint64_t now = env_now_us();
    if (tc->flood_log_us != 0 && now - tc->flood_log_us < FLOOD_LOG_US)
        return;
    uint64_t sent = c->counters.tcp[TCPC_SYNCOOKIE_SENT];
    env_log("warning: tcp: possible SYN flood on port %u: half-open bound reached, sending SYN cookies "
            "(%lu cookies since the last report, %u half-open)\n",
            (unsigned)port, (unsigned long)(sent - tc->flood_cookies), tc->half_open);
    tc->flood_log_us = now ? now : 1;
    tc->flood_cookies = sent;
}

static struct tcp_cookie_tuple tuple_of(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
    struct tcp_cookie_tuple t = {.laddr = dst, .raddr = src, .lport = dport, .rport = sport};
    return t;
}

/* The options the stack will actually use, so the cookie carries nothing we would ignore. */
static struct tcp_cookie_opts cookie_opts_of(struct net_core *c, const struct tcp_opts *o)
{
    const struct tcp_tunables *tun = &c->tcp->tun;
    struct tcp_cookie_opts co = {
        .mss = o->mss_ok ? o->mss : 0,
        .ws = (o->ws_ok && tun->wscale) ? o->ws : TCP_COOKIE_NO_WS,
        .sack = o->sack_ok && tun->sack,
    };
    return co;
}

void tcp_cookie_syn_ack(struct net_core *c, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                        const struct tcp_rx_seg *s)
{
    struct tcp_cookie_tuple t = tuple_of(src, dst, sport, dport);
    struct tcp_cookie_opts co = cookie_opts_of(c, &s->o);
    uint32_t iss = tcp_cookie_make(&c->tcp->key, &t, s->seq, &co, env_now_us());
    /* A scratch control block only shapes the SYN-ACK (options, window); tcp_xmit touches
     * no timer or pool for it (XF_STATELESS), and nothing of it outlives this call. */
    struct tcp_pcb p;
    __builtin_memset(&p, 0, sizeof(p));
    tcp_timers_init(&p);
    tcp_syn_recv_init(c, &p, NULL, src, dst, sport, dport, s, iss);
    TCP_TCTR(c, SYNCOOKIE_SENT);
    (void)tcp_xmit(c, &p, iss, 0, XF_STATELESS);
    flood_log(c, dport);
}

struct tcp_pcb *tcp_cookie_open(struct net_core *c, struct tcp_listener *l, uint32_t src, uint32_t dst,
                                uint16_t sport, uint16_t dport, const struct tcp_rx_seg *s)
{
    if ((s->flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_ACK)
        return NULL;
    struct tcp_cookie_tuple t = tuple_of(src, dst, sport, dport);
    struct tcp_cookie_opts co;
    uint32_t irs = s->seq - 1;
    if (!tcp_cookie_check(&c->tcp->key, &t, irs, s->ack - 1, env_now_us(), &co)) {
        TCP_TCTR(c, SYNCOOKIE_BAD);
        return NULL;
    }
    if (l->pending - l->half >= l->backlog) {
        TCP_TCTR(c, SYN_DROPPED); /* accept queue full: the peer's retransmission retries */
        return NULL;
    }
    struct tcp_pcb *p = tcp_pcb_alloc(c);
    if (p == NULL) {
        TCP_TCTR(c, SYN_DROPPED);
        return NULL;
    }
    /* The SYN as the cookie remembers it; timestamps are on iff this ACK carries them. */
    struct tcp_rx_seg syn = {.seq = irs, .flags = TCP_SYN};
    syn.o.mss_ok = true;
    syn.o.mss = co.mss;
    syn.o.ws_ok = co.ws != TCP_COOKIE_NO_WS;
    syn.o.ws = syn.o.ws_ok ? co.ws : 0;
    syn.o.sack_ok = co.sack;
    syn.o.ts_ok = s->o.ts_ok;
    syn.o.tsval = s->o.tsval;
    tcp_syn_recv_init(c, p, l, src, dst, sport, dport, &syn, s->ack - 1);
    /* Our SYN-ACK went out (statelessly) from an identical scratch block: its sequence
     * number and the (unscaled) window it advertised are ours. */
    p->snd_nxt = p->snd_max = p->iss + 1;
    uint32_t wnd = tcp_rcv_window(c, p);
    p->rcv_adv = p->rcv_nxt + (wnd > 0xffff ? 0xffff : wnd);
    tcp_pcb_hash(c, p);
    TCP_TCTR(c, SYNCOOKIE_OK);
    return p;
}

bool tcp_cookie_supersede(struct net_core *c, struct tcp_pcb **pp, const struct tcp_rx_seg *s)
{
    struct tcp_pcb *p = *pp;
    struct tcp_listener *l = p->listener;
    if (p->state != TCPS_SYN_RECEIVED || !p->passive || l == NULL || s->seq - 1 != p->irs ||
        (s->flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_ACK)
        return false;
    struct tcp_cookie_tuple t = {.laddr = p->laddr, .raddr = p->raddr, .lport = p->lport, .rport = p->rport};
    struct tcp_cookie_opts co;
    if (!tcp_cookie_check(&c->tcp->key, &t, p->irs, s->ack - 1, env_now_us(), &co))
        return false;
    /* Nothing was posted for p (it is neither established nor known to the app), and its
     * SYN-ACKs, with an ISS the peer never adopted, are of no use to it. */
    TCP_TCTR(c, SYNCOOKIE_SUPERSEDED);
    tcp_pcb_free(c, p);
    *pp = tcp_cookie_open(c, l, t.raddr, t.laddr, t.rport, t.lport, s);
    return true;
}
