/* ICMP echo reply. The request buffer is turned into the reply in place: the payload is
 * never copied, only the type and checksum change. */
#include "icmp.h"

#include "csum.h"
#include "ipv4.h"
#include "wire/icmp.h"

void icmp_input(struct net_core *c, struct mbuf *m, uint32_t src, uint32_t dst)
{
    if (m->len < ICMP_HLEN || csum_fold(csum_partial(m->data, m->len, 0)) != 0) {
        c->counters.drop_icmp_bad++;
        mbuf_free(m);
        return;
    }
    uint8_t *p = m->data;
    /* Echo to a broadcast address is not answered (smurf amplification). */
    if (icmp_type(p) != ICMP_ECHO_REQUEST || icmp_code(p) != 0 || dst != c->cfg.addr) {
        c->counters.drop_icmp_type++;
        mbuf_free(m);
        return;
    }
    c->counters.icmp_echo_rx++;
    icmp_set_type(p, ICMP_ECHO_REPLY);
    icmp_set_csum(p, 0);
    icmp_set_csum(p, csum_fold(csum_partial(p, m->len, 0)));
    if (ipv4_output(c, m, NULL, 0, src, NET_PROTO_ICMP) == 0)
        c->counters.icmp_echo_tx++;
}
