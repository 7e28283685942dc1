/* Ethernet layer: demultiplex received frames, put frames on the wire. */
#ifndef IX_NET_ETH_H
#define IX_NET_ETH_H

#include "core.h"

/* m->data at the Ethernet header. Takes ownership. */
void eth_input(struct net_core *c, struct mbuf *m);

/* m->data at an already prepended Ethernet header whose source and type are written; fills
 * the destination and hands the frame (+ iov slices) to the netif. Takes ownership: when
 * the TX queue is full the frame is dropped (drop_tx_full) and -IX_EAGAIN returned. */
int eth_xmit(struct net_core *c, struct mbuf *m, const struct net_iov *iov, int iovcnt,
             const uint8_t *dst_mac);

/* Prepend an Ethernet header (our MAC, given type) to m. Returns false if no headroom. */
bool eth_prepend(struct net_core *c, struct mbuf *m, uint16_t type);

extern const uint8_t eth_bcast_addr[6];

#endif
