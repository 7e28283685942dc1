/* Glue between one virtio-net queue pair (virtio_net.h) and one core's network stack
 * (guest/net/core.h): the RX ring is filled with the core's mbufs, received frames go to
 * net_input() without a copy, and netif_tx() (guest/net/netif.h) sends a header mbuf plus
 * zero-copy slices, completing through net_tx_complete().
 *
 * RX buffer layout: the 12-byte virtio-net header lands in the mbuf's headroom, so the
 * frame starts exactly at m->data as net_input() expects.
 *
 * Per iteration of the dataplane loop (guest/kernel/dataplane_loop.c):
 *   vnet_port_rx(p, B)       reclaim finished TX, deliver up to B frames, refill RX
 *   ... stack and app work, netif_tx() calls ...
 *   vnet_port_tx_flush(p)    publish the TX batch (kicks the host only if it sleeps)
 * and before halting: if (!vnet_port_prepare_halt(p)) hlt;
 */
#ifndef IX_DRIVERS_VNET_NETIF_H
#define IX_DRIVERS_VNET_NETIF_H

#include "netif_env.h"
#include "virtio_net.h"

/* Another driver that serves this core's frames (the AF_XDP rings, xsk_netif.h): when set,
 * netif_tx hands every frame to it instead of the virtio TX ring. */
struct mbuf;
struct net_iov;
struct netif_alt {
    void *ctx;
    int (*tx)(void *ctx, struct mbuf *hdr, const struct net_iov *iov, int iovcnt);
};

struct vnet_port {
    struct vnet_queue q;
    const struct netif_alt *alt;
    struct vnet_ops ops;
    struct netif_base b; /* the ops context: env, core, rx_nomem */
};

/* Set up queue pair `queue` for core c (sets c->netif = p) and fill its RX ring.
 * Returns 0 or -1 (bad NIC description). */
int vnet_port_init(struct vnet_port *p, struct net_core *c, const struct ix_nic_info *info, uint16_t queue,
                   const struct vnet_env *env);

/* Reclaim finished TX, deliver up to `budget` received frames to net_input(), refill RX.
 * Returns the number of frames delivered. */
int vnet_port_rx(struct vnet_port *p, int budget);

void vnet_port_tx_flush(struct vnet_port *p);

/* true: frames are waiting, do not halt; false: interrupt armed, the core may halt */
bool vnet_port_prepare_halt(struct vnet_port *p);

#endif
