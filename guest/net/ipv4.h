/* IPv4 for one interface plus a default gateway. No options are sent, no fragments are
 * sent or reassembled (received fragments are counted in drop_ip_frag and dropped). */
#ifndef IX_NET_IPV4_H
#define IX_NET_IPV4_H

#include "core.h"

/* m->data points at the L4 header (already written, checksum filled by the caller or left
 * 0 with a pseudo-header helper - see csum.h); ipv4_output prepends the IP and Ethernet
 * headers, resolves the next hop through ARP (queueing if unresolved), and calls netif_tx.
 * Takes ownership of m in every case (frees on error). iov: external payload slices after
 * the L4 header (zero copy). Returns 0 or a negative IX_E* code:
 *   -IX_EINVAL (iovcnt out of range, packet larger than the MTU), -IX_EHOSTUNREACH (no
 *   route), -IX_ENOMEM (ARP could not queue), -IX_EAGAIN (netif TX queue full). */
int ipv4_output(struct net_core *c, struct mbuf *m, const struct net_iov *iov, int iovcnt,
                uint32_t dst, uint8_t proto);

/* m->data at the IPv4 header (Ethernet header removed). Takes ownership. */
void ipv4_input(struct net_core *c, struct mbuf *m);

/* Next hop for dst: dst itself when on-link, else the gateway; 0 if unreachable. */
uint32_t ipv4_next_hop(const struct net_core *c, uint32_t dst);

/* Is addr one we accept packets for (our address, limited or subnet broadcast)? */
bool ipv4_is_local(const struct net_core *c, uint32_t addr);

/* Provided by TCP (guest/net/tcp_input.c).
 * m->data at the TCP header, m->len = IP payload length, checksum NOT verified. */
void tcp_input(struct net_core *c, struct mbuf *m, uint32_t src, uint32_t dst);

#endif
