/* ARP (RFC 826) resolver and cache for one Ethernet interface.
 *
 * Fixed-size cache (ARP_ENTRIES). An unresolved next hop gets a PENDING entry holding a
 * bounded queue (ARP_PENDING_MAX) of frames waiting for the answer; requests are retried
 * every ARP_RETRY_US up to ARP_RETRIES times, then the queued frames are dropped
 * (drop_arp_timeout). Resolved entries live ARP_REACHABLE_US and are then forgotten; the
 * next packet re-resolves. Entries are learned from requests that target us and refreshed
 * from any ARP packet whose sender is already cached (RFC 826 merge).
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

/* Test/diagnostic: copy the MAC of a resolved entry into mac; false if not resolved. */
bool arp_lookup(struct net_core *c, uint32_t ip, uint8_t *mac);
/* Drop every entry and every queued frame (shutdown, leak checks). */
void arp_flush(struct net_core *c);

#endif
