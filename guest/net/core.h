/* One network stack instance per dataplane core.
 *
 * The owner of the core (the dataplane loop in the guest, the epoll loop in the harness)
 * drives it:
 *   net_init() once;
 *   per iteration: net_events_begin(c, ev, cap) to hand in the event array for this round,
 *   then app calls (udp_send, tcp_sendv, ...), net_poll_timers(), net_input() for each
 *   received frame, and finally read c->ev[0 .. c->ev_len).
 * Nothing here blocks, allocates from a heap or takes locks.
 */
#ifndef IX_NET_CORE_H
#define IX_NET_CORE_H

#include "mbuf.h"
#include "net.h"
#include "netif.h"

struct timer_wheel;
struct tcp_core;
struct udp_core;
struct arp_cache;

struct net_config {
    uint8_t mac[6];
    uint32_t addr, netmask, gateway; /* host byte order; gateway 0 = none */
};

/* Counters: every frame that is dropped is counted under exactly one drop_* reason. */
struct net_counters {
    uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
    uint64_t copies;            /* payload bytes copied by ANY path (zero-copy check) */

    /* Ethernet */
    uint64_t drop_eth_short;    /* shorter than an Ethernet header */
    uint64_t drop_eth_not_us;   /* destination MAC neither ours nor broadcast */
    uint64_t drop_eth_type;     /* neither IPv4 nor ARP (VLAN, IPv6, ...) */
    /* ARP */
    uint64_t drop_arp_bad;      /* malformed, not Ethernet/IPv4, unknown op */
    uint64_t drop_arp_not_us;   /* request for another address (after learning nothing) */
    uint64_t arp_requests_rx, arp_replies_rx, arp_requests_tx, arp_replies_tx;
    uint64_t drop_arp_queue_full; /* pending queue of an unresolved entry full */
    uint64_t drop_arp_timeout;  /* pending packets dropped: no reply after the retries */
    uint64_t drop_arp_no_entry; /* no slot at all (cannot happen since pending entries are evictable) */
    uint64_t arp_pending_evicted; /* pending entries replaced (flood of unanswerable next hops) */
    /* IPv4 */
    uint64_t drop_ip_short;     /* shorter than its header / total length */
    uint64_t drop_ip_bad_hdr;   /* version != 4, ihl < 5, total length < ihl */
    uint64_t drop_ip_csum;      /* header checksum wrong */
    uint64_t drop_ip_frag;      /* fragments are not reassembled: counted and dropped */
    uint64_t drop_ip_not_us;    /* destination is not our address or a broadcast */
    uint64_t drop_ip_bad_src;   /* source is broadcast/multicast/zero */
    uint64_t drop_ip_proto;     /* protocol other than ICMP/UDP/TCP */
    uint64_t drop_no_route;     /* output: destination is off-link and there is no gateway */
    uint64_t drop_tx_full;      /* netif TX queue full */
    uint64_t drop_nomem;        /* mbuf pool exhausted */
    uint64_t drop_tx_too_big;   /* output larger than the MTU (we never fragment) */
    /* ICMP */
    uint64_t drop_icmp_bad;     /* short or bad checksum */
    uint64_t drop_icmp_type;    /* types other than echo request (counted, ignored) */
    uint64_t icmp_echo_rx, icmp_echo_tx;
    /* UDP */
    uint64_t drop_udp_bad;      /* short, length field inconsistent */
    uint64_t drop_udp_csum;
    uint64_t drop_udp_no_port;  /* nobody bound */
    uint64_t drop_udp_ev_full;  /* event array full: datagram dropped (UDP may lose) */
    uint64_t udp_rx, udp_tx, udp_sent_deferred;
    /* TCP: slots for TCP's counters (indices defined in tcp.h) */
    uint64_t tcp[40];
};

struct net_core { /* one per dataplane core */
    unsigned cpu;
    struct net_config cfg;
    struct mbuf_pool *pool;
    struct timer_wheel *wheel;  /* TCP's timer wheel, also usable by others */
    struct tcp_core *tcp;       /* opaque to BASE; TCP allocates in tcp_core_init */
    struct udp_core *udp;
    struct arp_cache *arp;
    struct ix_event *ev;        /* the caller-provided event array */
    uint32_t ev_len, ev_cap;
    struct net_counters counters;
    void *netif;                /* netif private */
    const struct net_rss *rss;  /* NULL, or how the NIC steers flows (outgoing ports must hash back here) */
};

/* Next free event slot (zeroed), or NULL when the array is full. */
struct ix_event *net_event_reserve(struct net_core *c);

/* Hand in the event array for the next round (ev_len = 0) and post any events deferred
 * because the previous array was full. cap may be 0 (no events wanted). */
void net_events_begin(struct net_core *c, struct ix_event *ev, uint32_t cap);

/* One received Ethernet frame (m->data at the Ethernet header, m->len the frame length);
 * takes ownership. */
void net_input(struct net_core *c, struct mbuf *m);

/* Sizes of the per-core state net_init carves out of `mem` before handing the rest to
 * tcp_core_init(c, rest, rest_len, max_tcp_conns). */
size_t net_core_mem_base(void);

/* Initialize c. mem/mem_len: zeroable scratch memory for the per-core state (ARP cache,
 * UDP table, and all of TCP's state; must outlive c), 16-byte aligned. Returns 0 or a
 * negative IX_E* code (IX_ENOMEM if mem is too small, IX_EINVAL for a bad config). */
int net_init(struct net_core *c, unsigned cpu, const struct net_config *cfg,
             struct mbuf_pool *pool, void *mem, size_t mem_len, unsigned max_tcp_conns);

/* Provided by TCP (tcp.h, tcp_pcb.c): allocates its per-core
 * state, including c->wheel, from [mem, mem+mem_len). */
int tcp_core_init(struct net_core *c, void *mem, size_t mem_len, unsigned max_conns);

/* Run due timers: ARP retries/expiry and TCP's timer wheel (timer_wheel_run). */
void net_poll_timers(struct net_core *c);

/* The netif calls this when a frame handed to netif_tx() has left (see netif.h). */
void net_tx_complete(struct net_core *c, struct mbuf *hdr);

/* Release a TX header mbuf that will never be sent (ARP timeout, error after queueing):
 * posts the UDP_SENT(a0 = 0) completion if one was asked for, then frees. */
void net_tx_drop(struct net_core *c, struct mbuf *hdr);

#endif
