/* The per-core dataplane: one network stack instance (guest/net), one virtio-net queue pair
 * (guest/drivers), and the run-to-completion loop that ix_bpoll runs (docs/guest-kernel.md). */
#ifndef IX_KERNEL_DATAPLANE_H
#define IX_KERNEL_DATAPLANE_H
#include <stdint.h>
#include "percpu.h"
#include "../net/core.h"
#include "../net/mbuf.h"
#include "../net/timer.h"
#include "../net/rss.h"
#include "../net/tcp_migrate.h"
#include "../drivers/vnet_netif.h"
#include "../drivers/xsk_netif.h"

#define DP_MBUFS 4096          /* per core: 8 MiB of 2 KiB buffers */
/* TCP connections per core: bootinfo.tcp_max_conns (config `[net] max_connections`), this
 * default when the host gives 0; about 800 bytes of TCP state each (docs/scale.md). */
#define DP_TCP_CONNS_DEFAULT 8192
#define DP_TCP_CONNS_MAX (4u << 20) /* = the config's limit (LIMITS.maxConnectionsMax) */
#define DP_APP_TIMERS 64
#define DP_XSK_TX_SLOTS 256   /* per core: 512 KiB of AF_XDP transmit slots */
/* connections one core can hand over in one step of a flow-group move (migrate.c) */
#define DP_MIG_RECS 4096

struct app_timer {
    struct timer t;
    uint64_t cookie;
    uint32_t gen;
    uint8_t armed, fired;
};

struct dataplane {
    struct net_core nc;
    struct mbuf_pool pool;
    uint8_t *pool_mem;  /* kernel address of the pool (physically contiguous) */
    uint64_t pool_len;
    void *scratch;      /* ARP, UDP and TCP state */
    uint64_t scratch_len;
    unsigned max_conns; /* TCP connections this core holds at most */
    struct vnet_port port;
    /* bootinfo.xsk_info_phys != 0: the AF_XDP rings the host mapped into guest memory serve
     * this core instead of the virtio rings (port then only carries netif_tx to xport) */
    bool xsk;
    struct xsk_port xport;
    uint8_t *xsk_tx_area; /* DP_XSK_TX_SLOTS chunks, physically contiguous */
    struct net_rss rss;
    struct vnet_env venv;
    uint16_t notify_port;
    struct app_timer timers[DP_APP_TIMERS];
    uint16_t udp_ports[64]; /* bound by the app: unbound when it is gone */
    unsigned n_udp_ports;
    /* elastic cores (migrate.c): the last command seen, the records of the last export */
    uint32_t mig_seen;
    uint32_t mig_nrecs;
    struct tcp_mig_rec *mig_recs; /* DP_MIG_RECS */
};

/* ---- set-up (dataplane_setup.c) ---- */
/* BSP, while building core c's address space: allocate its pools and map the mbuf pool
 * read-only into the app at APP_RXPOOL_VA. No-op without a NIC. */
void dp_create(struct percpu *c);
/* On core c itself, before entering the app: bring up the stack and the queue pair. */
void dp_start(struct percpu *c);
/* App address <-> kernel address of a payload in the core's mbuf pool (0 if outside). */
uint64_t dp_pool_to_app(const struct dataplane *dp, uint64_t kaddr);
uint64_t dp_pool_from_app(const struct dataplane *dp, uint64_t va);

/* ---- the core's NIC queue, whichever driver serves it ---- */
static inline int dp_port_rx(struct dataplane *dp, int budget)
{
    return dp->xsk ? xsk_port_rx(&dp->xport, budget) : vnet_port_rx(&dp->port, budget);
}
static inline void dp_port_tx_flush(struct dataplane *dp)
{
    if (dp->xsk)
        xsk_port_tx_flush(&dp->xport);
    else
        vnet_port_tx_flush(&dp->port);
}
/* true: frames are waiting, do not halt */
static inline bool dp_port_prepare_halt(struct dataplane *dp)
{
    return dp->xsk ? xsk_port_prepare_halt(&dp->xport) : vnet_port_prepare_halt(&dp->port);
}

/* ---- the loop (dataplane_loop.c) ---- */
/* One ix_bpoll round after the calls ran: timers, receive, transmit, and when the app asked
 * for nothing (ncalls == 0) or asked to wait (IX_BPOLL_WAIT), poll then halt until there is
 * an event. Returns events posted. */
long dp_run(struct percpu *c, uint64_t ncalls, int wait);
/* Begin a round: hand the stack this core's event array (or none: events are deferred). */
void dp_begin(struct percpu *c, int no_events);
/* End a calls-only round: transmit what the calls queued. Returns 0 (no events). */
long dp_flush(struct percpu *c);

/* The app is gone: reset its connections, close its ports, post no more events. */
void dp_app_gone(struct percpu *c);
/* Keep the core's stack serving (ARP, ICMP, RST for new connections) without an app. */
_Noreturn void dp_serve_without_app(struct percpu *c);
void dp_note_udp_port(struct dataplane *dp, uint16_t port);

/* ---- elastic cores (migrate.c) ---- */
/* Run the host's flow-group command for this core, if there is a new one (every loop pass). */
void dp_migrate_poll(struct percpu *c, struct dataplane *dp);

/* ---- the app's timers (app_timers.c) ---- */
int dp_timer_arm(struct dataplane *dp, uint64_t cookie, uint64_t delay_us, uint64_t *handle);
int dp_timer_cancel(struct dataplane *dp, uint64_t handle);

/* ---- used only between the dataplane's own files ---- */
/* app_timers.c: set up the slots (dp_start); cancel every armed one (the app is gone). */
void dp_timers_init(struct dataplane *dp);
void dp_timers_cancel_all(struct dataplane *dp);
/* stack_env.c: calibrate the stack's clock from the boot info; the driver's services for core c. */
void stack_env_init(const struct ix_bootinfo *bi);
struct vnet_env dp_vnet_env(struct percpu *c);

#endif
