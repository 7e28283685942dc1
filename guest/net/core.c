/* Per-core stack instance: init, the event array, receive entry point, timers, TX
 * completion. TCP (tcp*.c) is a required part of the stack: there are no weak fallbacks,
 * so a link without TCP fails instead of silently testing a stack whose TCP is a stub. */
#include "core.h"

#include "arp.h"
#include "eth.h"
#include "ipv4.h"
#include "stack_env.h"
#include "timer.h"
#include "udp.h"

#include "tcp.h"

#define NET_ALIGN(x) (((x) + 63) & ~(size_t)63)

size_t net_core_mem_base(void) { return NET_ALIGN(arp_cache_size()) + NET_ALIGN(udp_core_size()); }

int net_init(struct net_core *c, unsigned cpu, const struct net_config *cfg,
             struct mbuf_pool *pool, void *mem, size_t mem_len, unsigned max_tcp_conns)
{
    __builtin_memset(c, 0, sizeof(*c));
    if (cfg == NULL || pool == NULL || mem == NULL || ((uintptr_t)mem & 15) != 0)
        return -IX_EINVAL;
    /* A netmask must be contiguous ones; our address must not be 0 or a broadcast. */
    uint32_t inv = ~cfg->netmask;
    if ((inv & (inv + 1)) != 0 || cfg->addr == 0 || (cfg->addr | cfg->netmask) == 0xffffffffu)
        return -IX_EINVAL;
    size_t base = net_core_mem_base();
    if (mem_len < base)
        return -IX_ENOMEM;
    c->cpu = cpu;
    c->cfg = *cfg;
    c->pool = pool;
    uint8_t *p = mem;
    arp_init(c, p);
    p += NET_ALIGN(arp_cache_size());
    udp_init(c, p);
    p += NET_ALIGN(udp_core_size());
    return tcp_core_init(c, p, mem_len - base, max_tcp_conns);
}

struct ix_event *net_event_reserve(struct net_core *c)
{
    if (c->ev == NULL || c->ev_len >= c->ev_cap)
        return NULL;
    struct ix_event *ev = &c->ev[c->ev_len++];
    __builtin_memset(ev, 0, sizeof(*ev));
    return ev;
}

void net_events_begin(struct net_core *c, struct ix_event *ev, uint32_t cap)
{
    c->ev = ev;
    c->ev_cap = ev ? cap : 0;
    c->ev_len = 0;
    /* TCP first: its deferred-payload grave is freed only in a round with no event
     * posted yet, which is exactly now. */
    tcp_flush_events(c);
    udp_flush_deferred(c);
}

void net_input(struct net_core *c, struct mbuf *m)
{
    c->counters.rx_frames++;
    c->counters.rx_bytes += m->len;
    eth_input(c, m);
}

void net_poll_timers(struct net_core *c)
{
    uint64_t now = env_now_us();
    arp_tick(c, now);
    if (c->wheel != NULL)
        (void)timer_wheel_run(c->wheel, now, c);
}

void net_tx_complete(struct net_core *c, struct mbuf *hdr)
{
    if (hdr->flags & MBUF_F_TX_NOTIFY)
        udp_tx_done(c, hdr, true);
    else
        mbuf_free(hdr);
}

void net_tx_drop(struct net_core *c, struct mbuf *hdr)
{
    if (hdr->flags & MBUF_F_TX_NOTIFY)
        udp_tx_done(c, hdr, false);
    else
        mbuf_free(hdr);
}
