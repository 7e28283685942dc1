/* Glue between one AF_XDP queue (xsk.h) and one core's network stack, the counterpart of
 * vnet_netif.h for a NIC whose AF_XDP rings the host mapped into guest memory: mbufs are
 * posted to FILL so a frame lands at m->data, received frames go to net_input() without a
 * copy, and a transmitted frame (header mbuf + slices) is copied into a TX slot of the
 * queue's own area; the mbuf is completed (net_tx_complete) on the next xsk_port_rx.
 *
 * The dataplane loop calls xsk_port_rx / xsk_port_tx_flush / xsk_port_prepare_halt where it
 * calls the vnet_port_* functions; netif_tx reaches xsk_port_tx through the vnet_port's
 * `alt` hook (vnet_netif.h). */
#ifndef IX_DRIVERS_XSK_NETIF_H
#define IX_DRIVERS_XSK_NETIF_H

#include "vnet_netif.h"
#include "xsk.h"

struct mbuf;
struct net_iov;

struct xsk_port {
    struct xsk_queue q;
    struct xsk_ops ops;
    struct netif_base b; /* the ops context: env, core, rx_nomem */
    struct netif_alt alt;
    uint32_t ndone;
    struct mbuf *done[XSK_TX_SLOTS_MAX]; /* copied out, completed on the next xsk_port_rx */
};

/* Set up queue `queue` for core c (the vnet_port `vp` becomes c->netif and sends through
 * this port) and fill the FILL ring. Returns 0 or -1 (bad description). */
int xsk_port_init(struct xsk_port *p, struct vnet_port *vp, struct net_core *c, const struct ix_xsk_info *info,
                  uint16_t queue, const struct vnet_env *env, uint8_t *tx_area, uint32_t tx_nslots);
int xsk_port_rx(struct xsk_port *p, int budget);
void xsk_port_tx_flush(struct xsk_port *p);
bool xsk_port_prepare_halt(struct xsk_port *p);

#endif
