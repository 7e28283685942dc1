/* TCP timers on the core's timer wheel: retransmission (RFC 6298) doubling as the persist
 * timer for zero windows, delayed ACK, and one "misc" timer for keepalive, FIN_WAIT_2 and
 * TIME_WAIT (2 MSL); the RACK reordering and tail loss probe timers are tcp_rack.c's. Five
 * struct timer per PCB, no allocation. */
#include "stack_env.h"
#include "tcp_int.h"

#define PCB_OF(t, field) ((struct tcp_pcb *)((uint8_t *)(t) - __builtin_offsetof(struct tcp_pcb, field)))

static uint32_t backed_off(const struct net_core *c, const struct tcp_pcb *p, unsigned shift)
{
    uint64_t v = (uint64_t)p->rto_us << (shift > 20 ? 20 : shift);
    uint32_t max = c->tcp->tun.rto_max_us;
    return v > max ? max : (uint32_t)v;
}

void tcp_rtt_sample(struct net_core *c, struct tcp_pcb *p, uint32_t r)
{
    const struct tcp_tunables *tun = &c->tcp->tun;
    if (r == 0)
        r = 1;
    if (p->srtt_us == 0) { /* RFC 6298 §2.2 */
        p->srtt_us = r;
        p->rttvar_us = r / 2;
    } else {               /* §2.3, alpha = 1/8, beta = 1/4 */
        uint32_t d = p->srtt_us > r ? p->srtt_us - r : r - p->srtt_us;
        p->rttvar_us = p->rttvar_us - p->rttvar_us / 4 + d / 4;
        p->srtt_us = p->srtt_us - p->srtt_us / 8 + r / 8;
    }
    uint32_t k = 4 * p->rttvar_us;
    uint32_t g = c->wheel->tick_us;
    uint64_t rto = (uint64_t)p->srtt_us + (k > g ? k : g);
    if (rto < tun->rto_min_us)
        rto = tun->rto_min_us;
    if (rto > tun->rto_max_us)
        rto = tun->rto_max_us;
    p->rto_us = (uint32_t)rto;
}

void tcp_rearm_rtx(struct net_core *c, struct tcp_pcb *p)
{
    uint64_t now = env_now_us();
    if (p->snd_una != p->snd_max) {
        timer_arm(c->wheel, &p->t_rtx, now + backed_off(c, p, p->rto_count));
    } else if (seq_lt(p->snd_nxt, p->snd_end) || (p->fin_queued && p->snd_nxt == p->fin_seq)) {
        /* Unsent data: persist (zero window, backing off per probe) or resume after a
         * transmit failure. */
        timer_arm(c->wheel, &p->t_rtx, now + backed_off(c, p, p->probes));
    } else if (timer_pending(&p->t_rtx)) {
        timer_cancel(c->wheel, &p->t_rtx);
    }
}

static void give_up(struct net_core *c, struct tcp_pcb *p)
{
    TCP_TCTR(c, TIMEOUTS);
    if (p->state != TCPS_SYN_SENT)
        tcp_send_rst(c, p->laddr, p->raddr, p->lport, p->rport, p->snd_nxt, p->rcv_nxt, true);
    tcp_conn_dead(c, p, IX_ETIMEDOUT);
}

static void rtx_fn(struct timer *t, void *arg)
{
    struct net_core *c = arg;
    struct tcp_pcb *p = PCB_OF(t, t_rtx);
    const struct tcp_tunables *tun = &c->tcp->tun;
    switch (p->state) {
    case TCPS_CLOSED:
    case TCPS_TIME_WAIT:
        return;
    case TCPS_SYN_SENT:
    case TCPS_SYN_RECEIVED:
        if (++p->rto_count > tun->syn_retries) {
            give_up(c, p);
            return;
        }
        TCP_TCTR(c, RTO);
        p->rtt_timing = false;
        (void)tcp_xmit(c, p, p->iss, 0, 0);
        tcp_rearm_rtx(c, p);
        return;
    default:
        break;
    }
    if (p->snd_una != p->snd_max) {
        if (++p->rto_count > tun->max_retries) {
            give_up(c, p);
            return;
        }
        TCP_TCTR(c, RTO);
        tcp_cc_rto(c, p);
        p->rtt_timing = false;
        p->dupacks = 0;
        if (p->sack_on) {
            /* SACK: RACK marks what is lost, only that is resent (tcp_rack.c). */
            tcp_rack_rto(c, p);
        } else {
            /* Go back: resend from the oldest unacknowledged byte with the loss window. */
            p->snd_nxt = p->snd_una;
            tcp_output(c, p);
        }
        tcp_rearm_rtx(c, p);
        return;
    }
    uint32_t flight = p->snd_nxt - p->snd_una;
    if (p->snd_wnd == 0 && flight == 0 && seq_lt(p->snd_nxt, p->snd_end)) {
        if (++p->probes > tun->max_retries) {
            give_up(c, p);
            return;
        }
        tcp_send_probe(c, p);
        tcp_rearm_rtx(c, p);
        return;
    }
    tcp_output(c, p);
}

static void dack_fn(struct timer *t, void *arg)
{
    struct net_core *c = arg;
    struct tcp_pcb *p = PCB_OF(t, t_dack);
    if (p->state == TCPS_CLOSED || p->state == TCPS_SYN_SENT)
        return;
    TCP_TCTR(c, DELAYED_ACKS);
    tcp_send_ack(c, p);
}

static void misc_fn(struct timer *t, void *arg)
{
    struct net_core *c = arg;
    struct tcp_pcb *p = PCB_OF(t, t_misc);
    const struct tcp_tunables *tun = &c->tcp->tun;
    switch (p->state) {
    case TCPS_TIME_WAIT:
        if (p->app_ref || p->pend != 0) { /* DEAD still waiting for an event slot */
            tcp_arm_misc(c, p, 1000);
            return;
        }
        tcp_pcb_free(c, p);
        return;
    case TCPS_FIN_WAIT_2:
        if (p->app_closed) { /* orphaned FIN_WAIT_2 timeout (Linux tcp_fin_timeout) */
            tcp_conn_dead(c, p, 0);
            return;
        }
        break;
    case TCPS_ESTABLISHED:
    case TCPS_CLOSE_WAIT:
        break;
    default:
        return;
    }
    if (tun->ka_idle_us == 0)
        return;
    uint64_t now = env_now_us();
    uint64_t idle_until = p->last_rx_us + tun->ka_idle_us;
    if (now < idle_until) {
        p->probes = 0;
        timer_arm(c->wheel, &p->t_misc, idle_until);
        return;
    }
    if (p->probes >= tun->ka_probes) {
        give_up(c, p);
        return;
    }
    p->probes++;
    tcp_send_probe(c, p);
    timer_arm(c->wheel, &p->t_misc, now + tun->ka_intvl_us);
}

void tcp_timers_init(struct tcp_pcb *p)
{
    timer_init(&p->t_rtx, rtx_fn);
    timer_init(&p->t_dack, dack_fn);
    timer_init(&p->t_misc, misc_fn);
    tcp_rack_timers_init(p);
}

void tcp_timers_cancel(struct net_core *c, struct tcp_pcb *p)
{
    timer_cancel(c->wheel, &p->t_rtx);
    timer_cancel(c->wheel, &p->t_dack);
    timer_cancel(c->wheel, &p->t_misc);
    timer_cancel(c->wheel, &p->t_rack);
    timer_cancel(c->wheel, &p->t_tlp);
}

void tcp_arm_dack(struct net_core *c, struct tcp_pcb *p)
{
    if (!timer_pending(&p->t_dack))
        timer_arm(c->wheel, &p->t_dack, env_now_us() + c->tcp->tun.dack_us);
}

void tcp_arm_misc(struct net_core *c, struct tcp_pcb *p, uint64_t delay_us)
{
    timer_arm(c->wheel, &p->t_misc, env_now_us() + delay_us);
}

void tcp_keepalive_reset(struct net_core *c, struct tcp_pcb *p)
{
    p->last_rx_us = env_now_us();
    if (c->tcp->tun.ka_idle_us != 0 && !timer_pending(&p->t_misc) &&
        (p->state == TCPS_ESTABLISHED || p->state == TCPS_CLOSE_WAIT))
        timer_arm(c->wheel, &p->t_misc, p->last_rx_us + c->tcp->tun.ka_idle_us);
}

void tcp_enter_time_wait(struct net_core *c, struct tcp_pcb *p)
{
    p->state = TCPS_TIME_WAIT;
    timer_cancel(c->wheel, &p->t_rtx);
    timer_cancel(c->wheel, &p->t_dack);
    timer_cancel(c->wheel, &p->t_rack);
    timer_cancel(c->wheel, &p->t_tlp);
    tcp_slices_free(c, p);
    tcp_arm_misc(c, p, 2ull * c->tcp->tun.msl_us);
}
