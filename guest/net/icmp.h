/* ICMP: answers echo requests (ping); every other type is counted and ignored. */
#ifndef IX_NET_ICMP_H
#define IX_NET_ICMP_H

#include "core.h"

/* m->data at the ICMP header, len = ICMP message length. Takes ownership. */
void icmp_input(struct net_core *c, struct mbuf *m, uint32_t src, uint32_t dst);

#endif
