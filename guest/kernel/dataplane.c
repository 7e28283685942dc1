/* The per-core dataplane loop (DESIGN.md §6): reclaim TX, the app's calls (syscall.c), due
 * timers, receive at most `batch` frames and run them through the stack, post events,
 * transmit, return to the app. An app that asked for nothing gets control back only with at
 * least one event: the core polls for idle_poll_us, then halts until the host wakes it (a
 * frame for this queue) or the next timer is due. */
#include "dataplane.h"
#include "app.h"
#include "console.h"
#include "mm.h"
#include "platform.h"
#include "x86.h"
#include "../net/arp.h"
#include "../net/plat.h"
#include "../net/timer.h"
#include "../net/tcp.h"
#include "../net/udp.h"
#include "../lib/fmt.h"
#include <stdarg.h>

static struct dataplane dps[IX_MAX_CPUS];

/* ---- the stack's platform shim (guest/net/plat.h) --------------------------------- */

static uint64_t tsc_khz = 1;

uint64_t plat_now_us(void)
{
    uint64_t t = rdtsc();
    return (t / tsc_khz) * 1000 + (t % tsc_khz) * 1000 / tsc_khz;
}

void plat_log(const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    int n = ix_vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    struct percpu *c = this_cpu();
    console_write(c, buf, (size_t)n);
    if (n == 0 || buf[n - 1] != '\n')
        console_write(c, "\n", 1);
}

/* ---- driver platform: address translation and the kick ----------------------------- */

static uint64_t dp_v2p(void *ctx, const void *p)
{
    struct percpu *c = ctx;
    uint64_t va = (uint64_t)p;
    if (va >= IX_KERNEL_BASE)
        return va - IX_KERNEL_BASE;
    /* app memory (sendv payloads): checked by the caller, translated through its tables */
    uint64_t pte = lookup_pte(c->kcr3, va);
    return (pte & PTE_ADDR) | (va & (PAGE_SIZE - 1));
}

static void *dp_p2v(void *ctx, uint64_t pa)
{
    (void)ctx;
    return phys_to_virt(pa);
}

static void dp_kick(void *ctx, uint16_t queue)
{
    struct percpu *c = ctx;
    outl(c->dp->notify_port, queue);
}

/* ---- setup ------------------------------------------------------------------------ */

void dp_create(struct percpu *c)
{
    struct ix_bootinfo *bi = c->bi;
    if (!bi->nic.present)
        return;
    if (c->id >= bi->nic.nqueues)
        panic("cpu%u: the NIC has only %u queue pairs", c->id, bi->nic.nqueues);
    struct dataplane *dp = &dps[c->id];
    c->dp = dp;
    dp->pool_len = (uint64_t)DP_MBUFS * MBUF_SIZE;
    uint64_t pa = pages_alloc(dp->pool_len / PAGE_SIZE, MBUF_SIZE);
    dp->pool_mem = phys_to_virt(pa);
    for (uint64_t off = 0; off < dp->pool_len; off += PAGE_SIZE)
        map_page(c->ucr3, APP_RXPOOL_VA + off, pa + off, PTE_U | PTE_NX);
    app_add_vma(c->app, APP_RXPOOL_VA, APP_RXPOOL_VA + dp->pool_len, VMA_R);
    dp->scratch_len = net_core_mem_base() + tcp_core_mem_size(DP_MAX_TCP_CONNS) + 4096;
    dp->scratch = phys_to_virt(pages_alloc((dp->scratch_len + PAGE_SIZE - 1) / PAGE_SIZE, PAGE_SIZE));
}

static void timer_fired(struct timer *t, void *arg);

/* Static ARP entries (config [[nic.arp]], docs/nic.md): the host's table page is checked
 * before it is read (count bounded, the page inside guest memory and outside both the kernel
 * image and the page allocator's range), then every entry is installed as a permanent
 * neighbour on this core's stack; arp_add_static checks each entry. A table the guest cannot
 * honour stops the dataplane at start: running without an entry the operator configured
 * would quietly send to whatever ARP answers instead. */
static void dp_install_static_arp(struct percpu *c, struct dataplane *dp, const struct ix_nic_info *ni)
{
    _Static_assert(ARP_STATIC_MAX >= IX_NIC_ARP_MAX, "the stack's static table holds every NIC table entry");
    uint32_t n = ni->arp_count;
    if (n == 0)
        return;
    if (n > IX_NIC_ARP_MAX)
        panic("cpu%u: the NIC description lists %u static ARP entries, at most %u are allowed", c->id, n, IX_NIC_ARP_MAX);
    const struct ix_bootinfo *bi = c->bi;
    uint64_t pa = (uint64_t)ni->arp_table_pfn << 12, end = pa + IX_NIC_ARP_PAGE;
    if (pa == 0 || end > bi->mem_size || (pa < bi->kernel_phys_end && end > IX_KERNEL_PHYS) ||
        (pa < bi->free_phys_end && end > bi->free_phys_start))
        panic("cpu%u: the static ARP table at guest-physical 0x%lx is not in memory the host reserved for it", c->id, pa);
    const struct ix_nic_arp *t = phys_to_virt(pa);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ip = t[i].ip;
        int r = arp_add_static(&dp->nc, ip, t[i].mac);
        if (r)
            panic("cpu%u: static ARP entry %u (%u.%u.%u.%u) refused (%d): the address must be on the NIC's subnet and not its own, the MAC unicast",
                  c->id, i, ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, r);
    }
    if (c->id == 0)
        kprintf("cpu0: %u static ARP entries installed (each core has them)\n", arp_static_count(&dp->nc));
}

void dp_start(struct percpu *c)
{
    struct dataplane *dp = c->dp;
    if (!dp)
        return;
    struct ix_nic_info *ni = &c->bi->nic;
    tsc_khz = c->bi->tsc_khz ? c->bi->tsc_khz : 1;
    if (!mbuf_pool_init(&dp->pool, dp->pool_mem, dp->pool_len))
        panic("cpu%u: mbuf pool init failed", c->id);
    struct net_config cfg = {.addr = ni->addr, .netmask = ni->netmask, .gateway = ni->gateway};
    for (int i = 0; i < 6; i++)
        cfg.mac[i] = ni->mac[i];
    int r = net_init(&dp->nc, c->id, &cfg, &dp->pool, dp->scratch, dp->scratch_len, DP_MAX_TCP_CONNS);
    if (r)
        panic("cpu%u: net_init failed (%d)", c->id, r);
    dp_install_static_arp(c, dp, ni);
    /* outgoing connections pick ports whose replies the host steers back to this core */
    _Static_assert(NET_RSS_KEY_LEN == IX_RSS_KEY_LEN && NET_RSS_RETA_MAX == IX_RETA_MAX, "RSS sizes");
    for (int i = 0; i < NET_RSS_KEY_LEN; i++)
        dp->rss.key[i] = ni->rss_key[i];
    dp->rss.reta_size = ni->reta_size <= NET_RSS_RETA_MAX ? ni->reta_size : 0;
    for (uint32_t i = 0; i < dp->rss.reta_size; i++)
        dp->rss.reta[i] = ni->reta[i];
    dp->rss.queue = (uint16_t)c->id;
    if (ni->nqueues > 1)
        dp->nc.rss = &dp->rss;
    dp->notify_port = (uint16_t)ni->notify_port;
    dp->vplat = (struct vnet_platform){.ctx = c, .virt_to_phys = dp_v2p, .phys_to_virt = dp_p2v, .kick = dp_kick};
    if (vnet_port_init(&dp->port, &dp->nc, ni, (uint16_t)c->id, &dp->vplat))
        panic("cpu%u: the NIC description for queue %u is invalid", c->id, c->id);
    for (int i = 0; i < DP_APP_TIMERS; i++)
        timer_init(&dp->timers[i].t, timer_fired);
    kprintf("cpu%u: NIC queue %u up, %u mbufs, %u TCP connections max\n", c->id, c->id, DP_MBUFS, DP_MAX_TCP_CONNS);
}

/* ---- app timers -------------------------------------------------------------------- */

static void timer_fired(struct timer *t, void *arg)
{
    struct net_core *nc = arg;
    struct app_timer *at = (struct app_timer *)t;
    at->fired = 1;
    struct ix_event *ev = net_event_reserve(nc);
    if (!ev) {
        timer_arm(nc->wheel, t, plat_now_us() + 100); /* event array full: try again soon */
        return;
    }
    ev->type = IX_EV_TIMER;
    ev->cookie = at->cookie;
    at->armed = 0;
}

int dp_timer_arm(struct dataplane *dp, uint64_t cookie, uint64_t delay_us, uint64_t *handle)
{
    for (uint32_t i = 0; i < DP_APP_TIMERS; i++) {
        struct app_timer *at = &dp->timers[i];
        if (at->armed)
            continue;
        at->armed = 1;
        at->fired = 0;
        at->gen++;
        at->cookie = cookie;
        timer_arm(dp->nc.wheel, &at->t, plat_now_us() + delay_us);
        *handle = ((uint64_t)at->gen << 8) | i;
        return 0;
    }
    return -IX_ENOMEM;
}

int dp_timer_cancel(struct dataplane *dp, uint64_t handle)
{
    uint32_t i = handle & 0xff;
    if (i >= DP_APP_TIMERS || dp->timers[i].gen != (uint32_t)(handle >> 8) || !dp->timers[i].armed)
        return -IX_EBADH;
    timer_cancel(dp->nc.wheel, &dp->timers[i].t);
    dp->timers[i].armed = 0;
    return 0;
}

/* ---- the loop ---------------------------------------------------------------------- */

uint64_t dp_pool_to_app(const struct dataplane *dp, uint64_t kaddr)
{
    uint64_t base = (uint64_t)dp->pool_mem;
    return kaddr >= base && kaddr < base + dp->pool_len ? APP_RXPOOL_VA + (kaddr - base) : 0;
}

uint64_t dp_pool_from_app(const struct dataplane *dp, uint64_t va)
{
    return va >= APP_RXPOOL_VA && va < APP_RXPOOL_VA + dp->pool_len ? (uint64_t)dp->pool_mem + (va - APP_RXPOOL_VA) : 0;
}

void dp_begin(struct percpu *c, int no_events)
{
    struct dataplane *dp = c->dp;
    if (dp)
        net_events_begin(&dp->nc, c->app->events, no_events ? 0 : c->app->events_max);
}

long dp_flush(struct percpu *c)
{
    struct dataplane *dp = c->dp;
    if (dp)
        vnet_port_tx_flush(&dp->port);
    return 0;
}

/* Received payloads are handed to the app at their read-only address in its pool mapping. */
static void translate_events(struct percpu *c, struct dataplane *dp)
{
    struct ix_event *ev = c->app->events;
    for (uint32_t i = 0; i < dp->nc.ev_len; i++) {
        if ((ev[i].type == IX_EV_TCP_RECV || ev[i].type == IX_EV_UDP_RECV) && ev[i].a0)
            ev[i].a0 = dp_pool_to_app(dp, ev[i].a0);
    }
}

static uint64_t drops_of(const struct net_counters *k)
{
    return k->drop_eth_short + k->drop_eth_not_us + k->drop_eth_type + k->drop_arp_bad + k->drop_arp_not_us +
           k->drop_arp_queue_full + k->drop_arp_timeout + k->drop_arp_no_entry + k->drop_ip_short +
           k->drop_ip_bad_hdr + k->drop_ip_csum + k->drop_ip_frag + k->drop_ip_not_us + k->drop_ip_bad_src +
           k->drop_ip_proto + k->drop_no_route + k->drop_tx_full + k->drop_nomem + k->drop_tx_too_big +
           k->drop_icmp_bad + k->drop_icmp_type + k->drop_udp_bad + k->drop_udp_csum + k->drop_udp_no_port +
           k->drop_udp_ev_full + k->tcp[TCPC_RX_BAD];
}

/* Publish the counters the host reads for `ix stats` (plain stores: one writer). */
static void publish_stats(struct percpu *c, struct dataplane *dp)
{
    struct ix_core_stats *s = c->stats;
    const struct vnet_stats *v = &dp->port.q.st;
    s->rx_frames = v->rx_frames;
    s->tx_frames = v->tx_frames;
    s->rx_bytes = v->rx_bytes;
    s->tx_bytes = v->tx_bytes;
    s->drops = drops_of(&dp->nc.counters);
    s->tcp_conns = tcp_conns_in_use(&dp->nc);
    s->halts = c->status->halts;
    s->tsc = rdtsc();
}

static int batch_bucket(int n)
{
    int b = 0;
    while (n > 0 && b < IX_STATS_BATCH_BUCKETS - 1) {
        b++;
        n >>= 1;
    }
    return b;
}

/* One pass of the loop: timers, up to `batch` frames in, the TX batch out. Its cycles count
 * as busy when it moved frames, idle when it found nothing. */
static int poll_once(struct percpu *c, struct dataplane *dp)
{
    uint64_t t0 = rdtsc();
    net_poll_timers(&dp->nc);
    int n = vnet_port_rx(&dp->port, (int)c->bi->batch);
    vnet_port_tx_flush(&dp->port);
    c->stats->loops++;
    c->stats->rx_batches[batch_bucket(n)]++;
    uint64_t dt = rdtsc() - t0;
    if (n > 0)
        c->stats->busy_cycles += dt;
    else
        c->stats->idle_cycles += dt;
    return n;
}

/* Nothing to do: halt until a frame arrives for this queue or the next timer is due (at
 * most 10 ms; shorter waits are cheaper to spin than to exit). Halted time counts as idle. */
static void halt_until_work(struct percpu *c, struct dataplane *dp)
{
    uint64_t now = plat_now_us();
    uint64_t next = timer_wheel_next_deadline(dp->nc.wheel);
    uint64_t wait = next > now ? next - now : 0;
    if (wait > 10000)
        wait = 10000;
    if (wait < 20)
        return;
    c->status->halt_timeout_us = wait;
    if (vnet_port_prepare_halt(&dp->port))
        return; /* frames already waiting */
    c->status->halts++;
    publish_stats(c, dp);
    uint64_t t0 = rdtsc();
    plat->halt(c);
    c->stats->idle_cycles += rdtsc() - t0;
}

void dp_note_udp_port(struct dataplane *dp, uint16_t port)
{
    if (dp->n_udp_ports < sizeof dp->udp_ports / sizeof dp->udp_ports[0])
        dp->udp_ports[dp->n_udp_ports++] = port;
}

void dp_app_gone(struct percpu *c)
{
    struct dataplane *dp = c->dp;
    net_events_begin(&dp->nc, c->app->events, 0); /* nobody reads events any more */
    tcp_app_gone(&dp->nc);
    for (unsigned i = 0; i < dp->n_udp_ports; i++)
        udp_unbind(&dp->nc, dp->udp_ports[i]);
    dp->n_udp_ports = 0;
    for (int i = 0; i < DP_APP_TIMERS; i++)
        if (dp->timers[i].armed) {
            timer_cancel(dp->nc.wheel, &dp->timers[i].t);
            dp->timers[i].armed = 0;
        }
    vnet_port_tx_flush(&dp->port);
    publish_stats(c, dp);
}

_Noreturn void dp_serve_without_app(struct percpu *c)
{
    struct dataplane *dp = c->dp;
    for (;;) {
        net_events_begin(&dp->nc, c->app->events, 0);
        if (!poll_once(c, dp))
            halt_until_work(c, dp);
    }
}

long dp_run(struct percpu *c, uint64_t ncalls, int wait)
{
    struct dataplane *dp = c->dp;
    if (!dp)
        return 0;
    uint64_t idle_since = plat_now_us();
    for (;;) {
        poll_once(c, dp);
        /* calls were made: back to the app at once (their results may be all it waits
         * for), unless it asked to wait for an event (IX_BPOLL_WAIT) */
        if (dp->nc.ev_len > 0 || (ncalls > 0 && !wait))
            break;
        if (plat_now_us() - idle_since < c->bi->idle_poll_us) {
            cpu_relax();
            continue;
        }
        halt_until_work(c, dp);
        idle_since = plat_now_us();
    }
    c->stats->events += dp->nc.ev_len;
    publish_stats(c, dp);
    translate_events(c, dp);
    return dp->nc.ev_len;
}
