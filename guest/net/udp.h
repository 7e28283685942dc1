/* UDP: bind, zero-copy send(v) from app memory, zero-copy receive into events.
 *
 * Receive: a datagram for a bound port becomes IX_EV_UDP_RECV with a0 = the payload address
 * inside the RX mbuf; the mbuf stays lent to the app until udp_recv_done(c, a0). If the
 * event array is full the datagram is dropped (drop_udp_ev_full): UDP may lose, and holding
 * buffers for an app that is not reading would drain the pool.
 * Send: the header goes in a fresh mbuf, the payload slices are handed to the netif as they
 * are; IX_EV_UDP_SENT(cookie) says when the app may reuse them (a0 = 1 sent, 0 dropped
 * later, e.g. ARP timeout). A synchronous error (return value < 0) posts no event.
 */
#ifndef IX_NET_UDP_H
#define IX_NET_UDP_H

#include "core.h"

#define UDP_PAYLOAD_MAX (NET_MTU - NET_IP_HLEN - NET_UDP_HLEN)

size_t udp_core_size(void);
void udp_init(struct net_core *c, void *mem);

int udp_bind(struct net_core *c, uint16_t port);    /* 0, -IX_EINVAL (port 0), -IX_EADDRINUSE */
int udp_unbind(struct net_core *c, uint16_t port);  /* 0 or -IX_EINVAL if not bound */

/* Send one datagram made of iov[0..n) (n <= NET_IOV_MAX, total <= UDP_PAYLOAD_MAX) from
 * lport to raddr:rport. Returns 0 or a negative IX_E* code. */
int udp_send(struct net_core *c, const struct net_iov *iov, int n, uint32_t raddr,
             uint16_t rport, uint16_t lport, uint64_t cookie);

/* Give back the payload of a received datagram (the a0 of its IX_EV_UDP_RECV). Returns 0
 * or -IX_EINVAL if addr is not a payload currently lent to the app. */
int udp_recv_done(struct net_core *c, uintptr_t addr);

/* m->data at the UDP header, len = IP payload length. Takes ownership. */
void udp_input(struct net_core *c, struct mbuf *m, uint32_t src, uint32_t dst);

/* Completion of a send (called from net_tx_complete / net_tx_drop). Takes ownership. */
void udp_tx_done(struct net_core *c, struct mbuf *m, bool sent);
/* Post completions deferred for lack of event slots (called by net_events_begin). */
void udp_flush_deferred(struct net_core *c);
/* Number of deferred completions (tests). */
uint32_t udp_deferred(const struct net_core *c);

#endif
