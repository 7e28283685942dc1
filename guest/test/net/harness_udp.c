/* UDP apps of the harness: echo (replies zero-copy, straight from the receive buffer, and
 * returns that buffer when the reply's UDP_SENT arrives) and discard. */
#include "harness.h"
#include "../../net/udp.h"

static int is_echo_port(uint16_t port)
{
    for (int i = 0; i < h_opts.n_udp_echo; i++)
        if (h_opts.udp_echo[i] == port)
            return 1;
    return 0;
}

void h_udp_setup(struct net_core *c)
{
    for (int i = 0; i < h_opts.n_udp_echo; i++)
        if (udp_bind(c, h_opts.udp_echo[i]) != 0)
            fprintf(stderr, "harness: udp bind %u failed\n", h_opts.udp_echo[i]);
    for (int i = 0; i < h_opts.n_udp_discard; i++)
        if (udp_bind(c, h_opts.udp_discard[i]) != 0)
            fprintf(stderr, "harness: udp bind %u failed\n", h_opts.udp_discard[i]);
}

int h_udp_event(struct net_core *c, const struct ix_event *ev)
{
    if (ev->type == IX_EV_UDP_RECV) {
        uint16_t lport = ix_tuple_lport(ev->a2);
        if (is_echo_port(lport)) {
            struct net_iov iov = {(const void *)(uintptr_t)ev->a0, (uint32_t)ev->a1};
            /* cookie = the payload address, so UDP_SENT tells which buffer to return */
            if (udp_send(c, &iov, 1, ix_tuple_raddr(ev->a2), ix_tuple_rport(ev->a2), lport, ev->a0) == 0)
                return 1;
        }
        udp_recv_done(c, (uintptr_t)ev->a0);
        return 1;
    }
    if (ev->type == IX_EV_UDP_SENT) {
        udp_recv_done(c, (uintptr_t)ev->cookie);
        return 1;
    }
    return 0;
}
