/* Moving TCP connections between cores (elastic cores, docs/scale.md): IX's flow-group
 * migration, seen from the stack. A flow group is an entry of the NIC's RSS redirection
 * table; every connection whose 4-tuple hashes to it moves with it.
 *
 * The order, per group, with the NIC already holding the group's new frames:
 *   1. drain   (old core) tcp_mig_hold(): received data of the group's connections is kept
 *              in the kernel instead of being posted to the app, so the app finishes what it
 *              has and starts nothing new; acknowledgements keep flowing;
 *   2. export  (old core) once every connection of the group is quiescent
 *              (tcp_mig_quiescent: nothing in flight or queued to send, nothing posted and
 *              unread), tcp_mig_export() writes its state into a record, keeps its unread
 *              payload aside for the new core to copy, and ends the handle on this core with
 *              IX_EV_TCP_DEAD(IX_EMOVED); nothing is sent to the peer;
 *   3. import  (new core) tcp_mig_import() builds a connection from the record, copies the
 *              unread payload into its own buffers and announces it to its app with
 *              IX_EV_TCP_KNOCK, like a new connection (the app accepts it, then gets the
 *              payload as IX_EV_TCP_RECV);
 *   4. release (old core) tcp_mig_release() frees the payload kept aside.
 * Only then does the NIC deliver the group to the new core. A record names buffers of the old
 * core's pool, which only the old core frees. */
#ifndef IX_NET_TCP_MIGRATE_H
#define IX_NET_TCP_MIGRATE_H
#include <stdbool.h>
#include <stdint.h>

#include "core.h"

#define TCP_MIG_GROUPS 512 /* NET_RSS_RETA_MAX */

/* A set of flow groups. */
struct tcp_mig_groups {
    uint64_t bits[TCP_MIG_GROUPS / 64];
};

static inline bool tcp_mig_has(const struct tcp_mig_groups *g, uint32_t grp)
{
    return grp < TCP_MIG_GROUPS && (g->bits[grp / 64] >> (grp % 64) & 1u) != 0;
}
static inline void tcp_mig_add(struct tcp_mig_groups *g, uint32_t grp)
{
    if (grp < TCP_MIG_GROUPS)
        g->bits[grp / 64] |= 1ull << (grp % 64);
}

/* One connection's portable state. */
struct tcp_mig_rec {
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    uint8_t state;            /* ESTABLISHED or CLOSE_WAIT */
    uint8_t flags;            /* TCP_MIGF_* */
    uint8_t snd_ws, rcv_ws;
    uint16_t mss;
    uint32_t iss, irs;
    uint32_t snd_una, snd_wnd, max_sndwnd, snd_wl1, snd_wl2;
    uint32_t cwnd, ssthresh, recover;
    uint32_t srtt_us, rttvar_us, rto_us;
    uint32_t rcv_nxt, rcv_adv, ts_recent;
    uint64_t last_rx_us;
    struct mbuf *rq;          /* unread payload, the old core's buffers (aux = seq) */
    uint32_t rq_off;          /* bytes of rq already consumed */
    uint32_t rq_bytes;        /* unread bytes in rq */
};
#define TCP_MIGF_TS 0x01u
#define TCP_MIGF_WS 0x02u
#define TCP_MIGF_SACK 0x04u
#define TCP_MIGF_SACK_SEEN 0x08u
#define TCP_MIGF_FIN_RCVD 0x10u

/* The flow group of a connection: its entry in the redirection table (0 without RSS). */
uint32_t tcp_mig_group(const struct net_core *c, uint32_t raddr, uint16_t rport, uint16_t lport);

/* Step 1: hold received data of these groups (NULL: hold nothing, post what was held). */
void tcp_mig_hold(struct net_core *c, const struct tcp_mig_groups *g);

/* Connections of the groups on this core: *total, and of them how many are not quiescent. */
void tcp_mig_count(struct net_core *c, const struct tcp_mig_groups *g, uint32_t *total, uint32_t *busy);

/* The same, with the reasons (TCP_MIGB_*, or'ed) why connections are busy. */
void tcp_mig_count_why(struct net_core *c, const struct tcp_mig_groups *g, uint32_t *total, uint32_t *busy, uint32_t *why);
#define TCP_MIGB_STATE 0x01u   /* opening or closing */
#define TCP_MIGB_APP 0x02u     /* not accepted yet, or closed by the app */
#define TCP_MIGB_SENDING 0x04u /* bytes queued or in flight */
#define TCP_MIGB_READING 0x08u /* the app holds received bytes */
#define TCP_MIGB_OOO 0x10u     /* out-of-order data waits for a retransmission */
#define TCP_MIGB_EVENTS 0x20u  /* events not yet posted to the app */

/* Step 2: export every connection of the groups into recs (at most max). All of them must be
 * quiescent (tcp_mig_count's busy == 0): returns the number exported, or -IX_EAGAIN when one
 * is not (nothing exported), or -IX_ENOMEM when there are more than max. */
int tcp_mig_export(struct net_core *c, const struct tcp_mig_groups *g, struct tcp_mig_rec *recs, uint32_t max);

/* Step 3: adopt a connection on core c. 0, -IX_ENOMEM (no block or buffers: nothing kept),
 * -IX_EADDRINUSE (c already has this 4-tuple). */
int tcp_mig_import(struct net_core *c, const struct tcp_mig_rec *rec);

/* Step 4: on the old core, free the payload kept aside in the records. */
void tcp_mig_release(struct tcp_mig_rec *recs, uint32_t n);

#endif
