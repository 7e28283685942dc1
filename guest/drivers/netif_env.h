/* What the two netif glues (vnet_netif.c for virtio-net, xsk_netif.c for AF_XDP rings) share:
 * the host services a driver is given, one core's stack and mbuf pool behind them, and the
 * callbacks that are the same for both drivers. A port embeds a struct netif_base and passes
 * it as its driver's ops context, so the shared callbacks below fit both drivers' ops
 * (struct vnet_ops, struct xsk_ops) directly. */
#ifndef IX_DRIVERS_NETIF_ENV_H
#define IX_DRIVERS_NETIF_ENV_H

#include <stdint.h>

/* The driver's host services, passed as function pointers with a context: address
 * translation (direct map for kernel memory, the app's page table for app memory) and the
 * kick (an `out` to the queue's notify port). Provided by guest/kernel/stack_env.c
 * (dp_vnet_env, one per core) and by guest/test/drivers/test_vnet_netif.c (identity map,
 * counted kicks). */
struct vnet_env {
    void *ctx;
    uint64_t (*virt_to_phys)(void *ctx, const void *p);
    void *(*phys_to_virt)(void *ctx, uint64_t pa);
    void (*kick)(void *ctx, uint16_t queue);
};

struct mbuf;
struct net_core;
struct net_iov;

/* One port's link to its environment and its core's stack: the ops context of its driver. */
struct netif_base {
    const struct vnet_env *env;
    struct net_core *c;
    uint64_t rx_nomem; /* refills that found the mbuf pool empty */
};

void netif_base_init(struct netif_base *b, struct net_core *c, const struct vnet_env *env);

/* Driver callbacks; ctx is the port's struct netif_base. Their addresses go into the ops
 * tables from another file: declared hidden so the position-independent kernel takes them
 * RIP-relative, not through a GOT the static link does not have. */
#define NETIF_HIDDEN __attribute__((visibility("hidden")))
NETIF_HIDDEN uint64_t netif_virt_to_phys(void *ctx, const void *va);
NETIF_HIDDEN void *netif_phys_to_virt(void *ctx, uint64_t pa);
NETIF_HIDDEN void netif_kick(void *ctx, uint16_t queue);
/* A received frame at m->data of the cookie's mbuf: to net_input(), or freed when the driver
 * returned the buffer unused (frame NULL), the frame is elsewhere or it does not fit. */
NETIF_HIDDEN void netif_rx_deliver(void *ctx, void *cookie, uint8_t *frame, uint32_t len);

/* An empty mbuf from the core's pool for an RX buffer, or NULL (counted in rx_nomem). */
struct mbuf *netif_rx_mbuf(struct netif_base *b);

/* The pieces of one outgoing frame (netif_tx's arguments, guest/net/netif.h) as the arrays
 * both drivers take: the header mbuf's bytes, then the non-empty slices. bufs and lens hold
 * 1 + NET_IOV_MAX entries. Returns the number of pieces, or -1 if the arguments are bad (no
 * header or an empty one, iovcnt outside 0..NET_IOV_MAX). */
int netif_gather(struct mbuf *hdr, const struct net_iov *iov, int iovcnt, const void **bufs, uint32_t *lens);

#endif
