/* ARP (RFC 826) resolver and cache for one Ethernet interface.
 *
 * Dynamic entries: a fixed-size cache (ARP_ENTRIES). An unresolved next hop gets a PENDING
 * entry holding a bounded queue (ARP_PENDING_MAX) of frames waiting for the answer; requests
 * are retried every ARP_RETRY_US up to ARP_RETRIES times, then the queued frames are dropped
 * (drop_arp_timeout). Resolved entries live ARP_REACHABLE_US and are then forgotten; the
 * next packet re-resolves. Entries are learned from requests that target us and refreshed
 * from any ARP packet whose sender is already cached (RFC 826 merge). Pending entries hold
 * at most half the cache once it is full (a new one then replaces the oldest pending one),
 * so replies to spoofed sources cannot evict the resolved entries of real peers.
 *
 * Static entries (config [[nic.arp]], like Linux's NUD_PERMANENT): a separate table of up to
 * ARP_STATIC_MAX entries, sorted by address and searched first (binary search; nothing when
 * the table is empty). They are used for transmit at once, never send a request, never
 * expire, are never evicted (they do not compete with dynamic entries for the cache's
 * slots, so the static table may be larger than the cache) and are never changed by
 * received ARP packets: a packet whose sender claims a static address is not learned from
 * (counted in arp_static_conflicts when it names another MAC) but is still answered if it
 * asks for our address. A dynamic entry never exists for a static address.
 */
#ifndef IX_NET_ARP_H
#define IX_NET_ARP_H

#include "core.h"

#define ARP_ENTRIES 64
#define ARP_PENDING_MAX 8
#define ARP_RETRY_US 1000000u
#define ARP_RETRIES 3
#define ARP_REACHABLE_US 60000000u
#define ARP_TICK_US 10000u
#define ARP_STATIC_MAX 256   /* = IX_NIC_ARP_MAX, the config's limit */

/* Bytes of per-core state (carved by net_init). */
size_t arp_cache_size(void);
void arp_init(struct net_core *c, void *mem);

/* m->data at the ARP packet (Ethernet header removed). Takes ownership. */
void arp_input(struct net_core *c, struct mbuf *m);

/* m->data at a prepended Ethernet header (source/type written). Sends now if next_hop is
 * resolved, else queues m (with its iov array) and sends a request. Takes ownership.
 * Returns 0 (sent or queued) or a negative IX_E* code. */
int arp_output(struct net_core *c, struct mbuf *m, const struct net_iov *iov, int iovcnt,
               uint32_t next_hop);

/* Retries and expiry; cheap when called often (acts every ARP_TICK_US). */
void arp_tick(struct net_core *c, uint64_t now_us);

/* Install a permanent entry (or replace the MAC of an existing one, like `ip neigh
 * replace`). ip must be on our subnet, not our address and not the subnet's network or
 * broadcast address (prefixes up to /30); mac unicast and not all zeros: else -IX_EINVAL.
 * -IX_ENOMEM when ARP_STATIC_MAX entries exist. A dynamic entry for ip is dropped; frames it
 * held waiting for resolution are sent to mac now. Returns 0 on success. */
int arp_add_static(struct net_core *c, uint32_t ip, const uint8_t *mac);
/* Number of static entries; whether ip has one. */
uint32_t arp_static_count(const struct net_core *c);
bool arp_is_static(const struct net_core *c, uint32_t ip);
/* ARP packets whose sender claimed a static address with a different MAC (ignored). */
uint64_t arp_static_conflicts(const struct net_core *c);

/* Test/diagnostic: copy the MAC of a static or resolved entry into mac; false if none. */
bool arp_lookup(struct net_core *c, uint32_t ip, uint8_t *mac);
/* Drop every dynamic entry and every queued frame (shutdown, leak checks). Static entries
 * stay: they hold no frames and are part of the configuration. */
void arp_flush(struct net_core *c);

#endif
