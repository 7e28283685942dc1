/* When the app on a core is gone (it exited or was stopped after a fault), its connections
 * cannot make progress: reset every one of them so the peers learn at once, and close the
 * listeners so new connection attempts are refused with RST. */
#include "tcp.h"
#include "tcp_int.h"

void tcp_app_gone(struct net_core *c)
{
    struct tcp_core *tc = c->tcp;
    if (!tc)
        return;
    for (unsigned i = 0; i < tc->npcbs; i++) {
        struct tcp_pcb *p = &tc->pcbs[i];
        if (!p->in_use)
            continue;
        if (p->state != TCPS_CLOSED && p->state != TCPS_TIME_WAIT && p->state != TCPS_SYN_SENT) {
            TCP_TCTR(c, RST_APP);
            tcp_send_rst(c, p->laddr, p->raddr, p->lport, p->rport, p->snd_nxt, p->rcv_nxt, true);
        }
        p->app_ref = false;
        tcp_pcb_free(c, p);
    }
    for (unsigned i = 0; i < sizeof tc->listeners / sizeof tc->listeners[0]; i++)
        tc->listeners[i].port = 0;
}
