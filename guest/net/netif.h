/* What a NIC provides to the stack: the virtio-net driver in the guest, a TAP fd in the
 * host harness. Receive is pushed by the netif's owner: it fills an mbuf with one Ethernet
 * frame and calls net_input(c, m). */
#ifndef IX_NET_NETIF_H
#define IX_NET_NETIF_H

#include "net.h"

#define NET_IOV_MAX 8

struct net_iov {
    const void *base;
    uint32_t len;
};

/* Transmit one frame made of the header mbuf followed by up to NET_IOV_MAX external
 * slices (zero copy from app memory). Ownership of `hdr` passes to the netif, which
 * releases it when the frame has left by calling net_tx_complete(c, hdr) (core.h) - that
 * frees it and posts a completion event when one was asked for (UDP sends). The slices are
 * only read and must stay valid until the owner (TCP: until acked; UDP: until
 * IX_EV_UDP_SENT) releases them. Returns 0, or -1 if the TX queue is full (the caller keeps
 * ownership of hdr then). iovcnt is 0..NET_IOV_MAX.
 * A link-time callback (see stack_env.h): defined by guest/drivers/vnet_netif.c in the
 * kernel, guest/test/net/testlib.c (capturing netif) and guest/test/net/harness.c (TAP). */
int netif_tx(struct net_core *c, struct mbuf *hdr, const struct net_iov *iov, int iovcnt);

#endif
