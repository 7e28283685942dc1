/* The per-core dataplane loop: reclaim TX, the app's calls (syscall.c), due timers,
 * receive at most `batch` frames and run them through the stack, post events, transmit,
 * return to the app. An app that asked for nothing gets control back only with at
 * least one event: the core polls for idle_poll_us, then halts until the host wakes it (a
 * frame for this queue) or the next timer is due. Also here: the counters published for
 * `ix stats`, and the rewrite of received payload addresses into the app's view. */
#include "dataplane.h"
#include "app.h"
#include "hcall.h"
#include "lapic.h"
#include "platform.h"
#include "x86.h"
#include "../net/stack_env.h"
#include "../net/timer.h"
#include "../net/tcp.h"
#include "../net/udp.h"

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
        dp_port_tx_flush(dp);
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
    if (dp->xsk) {
        const struct xsk_stats *x = &dp->xport.q.st;
        s->rx_frames = x->rx_frames;
        s->tx_frames = x->tx_frames;
        s->rx_bytes = x->rx_bytes;
        s->tx_bytes = x->tx_bytes;
    } else {
        const struct vnet_stats *v = &dp->port.q.st;
        s->rx_frames = v->rx_frames;
        s->tx_frames = v->tx_frames;
        s->rx_bytes = v->rx_bytes;
        s->tx_bytes = v->tx_bytes;
    }
    s->drops = drops_of(&dp->nc.counters);
    s->tcp_conns = tcp_conns_in_use(&dp->nc);
    s->mbufs_used = dp->pool.in_use;
    s->syn_cookies = dp->nc.counters.tcp[TCPC_SYNCOOKIE_SENT];
    s->syn_cookie_conns = dp->nc.counters.tcp[TCPC_SYNCOOKIE_OK];
    s->syn_cookie_bad = dp->nc.counters.tcp[TCPC_SYNCOOKIE_BAD];
    s->syn_drops = dp->nc.counters.tcp[TCPC_SYN_DROPPED];
    s->copies = dp->nc.counters.copies;
    s->rst_sent = dp->nc.counters.tcp[TCPC_RST_TX];
    s->rst_no_conn = dp->nc.counters.tcp[TCPC_RX_NO_PCB];
    s->rst_bad_ack = dp->nc.counters.tcp[TCPC_RST_BAD_ACK];
    s->rst_app = dp->nc.counters.tcp[TCPC_RST_APP];
    s->tcp_timeouts = dp->nc.counters.tcp[TCPC_TIMEOUTS];
    s->syn_cookie_superseded = dp->nc.counters.tcp[TCPC_SYNCOOKIE_SUPERSEDED];
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
    dp_migrate_poll(c, dp);
    net_poll_timers(&dp->nc);
    int n = dp_port_rx(dp, (int)c->bi->batch);
    dp_port_tx_flush(dp);
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
    uint64_t now = env_now_us();
    uint64_t next = timer_wheel_next_deadline(dp->nc.wheel);
    uint64_t wait = next > now ? next - now : 0;
    if (wait > 10000)
        wait = 10000;
    if (wait < 20)
        return;
    c->status->halt_timeout_us = wait;
    if (dp_port_prepare_halt(dp))
        return; /* frames already waiting */
    c->status->halts++;
    publish_stats(c, dp);
    if (c->lapic)
        lapic_arm_timer(c, wait); /* the host does not time this halt: the core's own timer does */
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
    dp_timers_cancel_all(dp);
    dp_port_tx_flush(dp);
    publish_stats(c, dp);
}

_Noreturn void dp_serve_without_app(struct percpu *c)
{
    struct dataplane *dp = c->dp;
    /* tell the host this core's app is gone for good (its halts may never exit to it) */
    hcall(c, IX_HC_IDLE, 0, 0);
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
    uint64_t idle_since = env_now_us();
    for (;;) {
        poll_once(c, dp);
        /* calls were made: back to the app at once (their results may be all it waits
         * for), unless it asked to wait for an event (IX_BPOLL_WAIT) */
        if (dp->nc.ev_len > 0 || (ncalls > 0 && !wait))
            break;
        if (env_now_us() - idle_since < c->bi->idle_poll_us) {
            cpu_relax();
            continue;
        }
        halt_until_work(c, dp);
        idle_since = env_now_us();
    }
    c->stats->events += dp->nc.ev_len;
    publish_stats(c, dp);
    translate_events(c, dp);
    return dp->nc.ev_len;
}
