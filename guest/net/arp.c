/* ARP resolver and cache. See arp.h for the policy. */
#include "arp.h"

#include "eth.h"
#include "stack_env.h"
#include "wire/arp.h"
#include "wire/eth.h"

enum { ARP_FREE = 0, ARP_PENDING = 1, ARP_RESOLVED = 2 };

struct arp_entry {
    uint32_t ip;
    uint8_t mac[6];
    uint8_t state;
    uint8_t retries;
    uint64_t expires;         /* PENDING: next retry; RESOLVED: end of validity */
    struct mbuf *pend_head;   /* frames waiting for resolution, FIFO via m->next */
    struct mbuf *pend_tail;
    uint32_t pend_n;
};

/* A permanent entry: no state, no timer, no queue (it is resolved from the start). */
struct arp_static {
    uint32_t ip;
    uint8_t mac[6];
    uint16_t pad;
};

struct arp_cache {
    struct arp_entry e[ARP_ENTRIES];
    uint64_t next_tick;
    uint32_t last_hit;        /* index of the last lookup hit: traffic is usually to one peer */
    uint32_t nstatic;         /* entries used in st[], sorted by ip (ascending, unique) */
    uint64_t static_conflicts;
    struct arp_static st[ARP_STATIC_MAX];
};

size_t arp_cache_size(void) { return sizeof(struct arp_cache); }

void arp_init(struct net_core *c, void *mem)
{
    struct arp_cache *a = mem;
    __builtin_memset(a, 0, sizeof(*a));
    c->arp = a;
}

/* Index of the first static entry with ip >= the given one (nstatic if none). */
static uint32_t arp_static_pos(const struct arp_cache *a, uint32_t ip)
{
    uint32_t lo = 0, hi = a->nstatic;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a->st[mid].ip < ip)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const struct arp_static *arp_static_find(const struct arp_cache *a, uint32_t ip)
{
    if (a->nstatic == 0)
        return NULL;
    uint32_t i = arp_static_pos(a, ip);
    return i < a->nstatic && a->st[i].ip == ip ? &a->st[i] : NULL;
}

static struct arp_entry *arp_find(struct arp_cache *a, uint32_t ip)
{
    struct arp_entry *e = &a->e[a->last_hit];
    if (e->state != ARP_FREE && e->ip == ip)
        return e;
    for (uint32_t i = 0; i < ARP_ENTRIES; i++) {
        e = &a->e[i];
        if (e->state != ARP_FREE && e->ip == ip) {
            a->last_hit = i;
            return e;
        }
    }
    return NULL;
}

static void arp_drop_pending(struct net_core *c, struct arp_entry *e);

/* A free slot, else a victim. Resolved entries are what live traffic uses, pending ones are
 * guesses that may never be answered: replies to a spoofed-source flood (SYN-ACKs to
 * addresses nobody holds) would otherwise fill the cache with pending entries, evict every
 * resolved one, and cut off the real peers. So pending entries may hold at most half the
 * cache: a new one past that replaces the oldest pending entry (its queued frames dropped),
 * and a resolved entry is only given up for a new pending one below that share. An entry
 * learned from a request to us (for_pending false) may replace any pending entry when no
 * resolved one is left. */
static struct arp_entry *arp_slot(struct net_core *c, bool for_pending)
{
    struct arp_cache *a = c->arp;
    struct arp_entry *resolved = NULL, *pending = NULL;
    uint32_t npending = 0;
    for (uint32_t i = 0; i < ARP_ENTRIES; i++) {
        struct arp_entry *e = &a->e[i];
        if (e->state == ARP_FREE)
            return e;
        if (e->state == ARP_RESOLVED && (resolved == NULL || e->expires < resolved->expires))
            resolved = e;
        if (e->state == ARP_PENDING) {
            npending++;
            /* oldest = most retries, then the earliest next retry */
            if (pending == NULL || e->retries > pending->retries ||
                (e->retries == pending->retries && e->expires < pending->expires))
                pending = e;
        }
    }
    struct arp_entry *victim = resolved;
    if (pending != NULL && (resolved == NULL || (for_pending && npending >= ARP_ENTRIES / 2)))
        victim = pending;
    if (victim != NULL && victim->state == ARP_PENDING) {
        c->counters.arp_pending_evicted++;
        arp_drop_pending(c, victim);
    }
    return victim;
}

/* ---- pending frames: the iov array is parked in the mbuf's tailroom ------------------- */

struct arp_parked {
    uint32_t iovcnt;
    uint32_t pad;
    struct net_iov iov[];
};

static struct arp_parked *arp_parked_of(struct mbuf *m)
{
    uintptr_t p = ((uintptr_t)(m->data + m->len) + 15) & ~(uintptr_t)15;
    return (struct arp_parked *)p;
}

static bool arp_park(struct mbuf *m, const struct net_iov *iov, int iovcnt)
{
    struct arp_parked *pk = arp_parked_of(m);
    uintptr_t need_end = (uintptr_t)pk + sizeof(*pk) + (size_t)iovcnt * sizeof(struct net_iov);
    if (need_end > (uintptr_t)mbuf_end(m))
        return false;
    pk->iovcnt = (uint32_t)iovcnt;
    for (int i = 0; i < iovcnt; i++)
        pk->iov[i] = iov[i];
    return true;
}

static void arp_drop_pending(struct net_core *c, struct arp_entry *e)
{
    while (e->pend_head) {
        struct mbuf *m = e->pend_head;
        e->pend_head = m->next;
        m->next = NULL;
        c->counters.drop_arp_timeout++;
        net_tx_drop(c, m);
    }
    e->pend_tail = NULL;
    e->pend_n = 0;
}

static void arp_flush_pending(struct net_core *c, struct arp_entry *e)
{
    struct mbuf *m = e->pend_head;
    e->pend_head = e->pend_tail = NULL;
    e->pend_n = 0;
    while (m) {
        struct mbuf *next = m->next;
        m->next = NULL;
        struct arp_parked *pk = arp_parked_of(m);
        /* The iov array lives after the frame; eth_xmit reads it before the netif may free
         * m, and the TAP/virtio netif consumes the slices during netif_tx. */
        (void)eth_xmit(c, m, pk->iov, (int)pk->iovcnt, e->mac);
        m = next;
    }
}

/* ---- requests and replies ------------------------------------------------------------ */

static void arp_send(struct net_core *c, uint16_t op, const uint8_t *dst_mac, uint32_t tpa)
{
    struct mbuf *m = mbuf_alloc(c->pool);
    if (m == NULL) {
        c->counters.drop_nomem++;
        return;
    }
    uint8_t *p = mbuf_append(m, ARP_LEN);
    static const uint8_t zero_mac[6] = {0};
    arp_write(p, op, c->cfg.mac, c->cfg.addr, op == ARP_OP_REQUEST ? zero_mac : dst_mac, tpa);
    if (!eth_prepend(c, m, ETH_TYPE_ARP)) {
        mbuf_free(m);
        return;
    }
    if (eth_xmit(c, m, NULL, 0, dst_mac) == 0) {
        if (op == ARP_OP_REQUEST)
            c->counters.arp_requests_tx++;
        else
            c->counters.arp_replies_tx++;
    }
}

static void arp_resolved(struct net_core *c, struct arp_entry *e, const uint8_t *mac, uint64_t now)
{
    __builtin_memcpy(e->mac, mac, 6);
    e->state = ARP_RESOLVED;
    e->retries = 0;
    e->expires = now + ARP_REACHABLE_US;
    arp_flush_pending(c, e);
}

void arp_input(struct net_core *c, struct mbuf *m)
{
    if (m->len < ARP_LEN || !arp_is_eth_ipv4(m->data)) {
        c->counters.drop_arp_bad++;
        mbuf_free(m);
        return;
    }
    const uint8_t *p = m->data;
    uint16_t op = arp_op(p);
    uint32_t spa = arp_spa(p), tpa = arp_tpa(p);
    const uint8_t *sha = arp_sha(p);
    if ((op != ARP_OP_REQUEST && op != ARP_OP_REPLY) || eth_addr_is_mcast(sha)) {
        c->counters.drop_arp_bad++;
        mbuf_free(m);
        return;
    }
    if (op == ARP_OP_REQUEST)
        c->counters.arp_requests_rx++;
    else
        c->counters.arp_replies_rx++;

    uint64_t now = env_now_us();
    bool for_us = tpa == c->cfg.addr && c->cfg.addr != 0;
    /* spa 0 is a probe (RFC 5227): nothing to learn. Our own address from someone else is
     * a conflict we do not try to resolve; never cache it. */
    const struct arp_static *st = spa != 0 ? arp_static_find(c->arp, spa) : NULL;
    if (st != NULL) {
        /* Permanent: whatever the packet says, the configured MAC stays. */
        if (!eth_addr_eq(st->mac, sha))
            c->arp->static_conflicts++;
    } else if (spa != 0 && spa != c->cfg.addr) {
        struct arp_entry *e = arp_find(c->arp, spa);
        if (e != NULL) {
            arp_resolved(c, e, sha, now);
        } else if (for_us) {
            e = arp_slot(c, false);
            if (e != NULL) {
                e->ip = spa;
                e->pend_head = e->pend_tail = NULL;
                e->pend_n = 0;
                arp_resolved(c, e, sha, now);
            }
        }
    }
    if (!for_us) {
        c->counters.drop_arp_not_us++;
        mbuf_free(m);
        return;
    }
    if (op == ARP_OP_REQUEST) {
        /* Answer in place: the request buffer becomes the reply (no allocation). */
        uint8_t req_sha[6];
        __builtin_memcpy(req_sha, sha, 6);
        mbuf_trim(m, ARP_LEN);
        arp_write(m->data, ARP_OP_REPLY, c->cfg.mac, c->cfg.addr, req_sha, spa);
        if (!eth_prepend(c, m, ETH_TYPE_ARP)) {
            mbuf_free(m);
            return;
        }
        if (eth_xmit(c, m, NULL, 0, req_sha) == 0)
            c->counters.arp_replies_tx++;
        return;
    }
    mbuf_free(m);
}

int arp_output(struct net_core *c, struct mbuf *m, const struct net_iov *iov, int iovcnt,
               uint32_t next_hop)
{
    struct arp_cache *a = c->arp;
    const struct arp_static *st = arp_static_find(a, next_hop);
    if (st != NULL)
        return eth_xmit(c, m, iov, iovcnt, st->mac);
    struct arp_entry *e = arp_find(a, next_hop);
    if (e != NULL && e->state == ARP_RESOLVED)
        return eth_xmit(c, m, iov, iovcnt, e->mac);

    uint64_t now = env_now_us();
    if (e == NULL) {
        e = arp_slot(c, true);
        if (e == NULL) {
            c->counters.drop_arp_no_entry++;
            mbuf_free(m);
            return -IX_ENOMEM;
        }
        e->ip = next_hop;
        e->state = ARP_PENDING;
        e->retries = 1;
        e->expires = now + ARP_RETRY_US;
        e->pend_head = e->pend_tail = NULL;
        e->pend_n = 0;
        arp_send(c, ARP_OP_REQUEST, eth_bcast_addr, next_hop);
    }
    if (e->pend_n >= ARP_PENDING_MAX || !arp_park(m, iov, iovcnt)) {
        c->counters.drop_arp_queue_full++;
        mbuf_free(m);
        return -IX_EAGAIN;
    }
    m->next = NULL;
    if (e->pend_tail)
        e->pend_tail->next = m;
    else
        e->pend_head = m;
    e->pend_tail = m;
    e->pend_n++;
    return 0;
}

void arp_tick(struct net_core *c, uint64_t now)
{
    struct arp_cache *a = c->arp;
    if (now < a->next_tick)
        return;
    a->next_tick = now + ARP_TICK_US;
    for (uint32_t i = 0; i < ARP_ENTRIES; i++) {
        struct arp_entry *e = &a->e[i];
        if (e->state == ARP_FREE || now < e->expires)
            continue;
        if (e->state == ARP_PENDING && e->retries < ARP_RETRIES) {
            e->retries++;
            e->expires = now + ARP_RETRY_US;
            arp_send(c, ARP_OP_REQUEST, eth_bcast_addr, e->ip);
            continue;
        }
        arp_drop_pending(c, e);
        e->state = ARP_FREE;
    }
}

/* ---- static entries ------------------------------------------------------------------- */

/* The same rules as the config's check of [[nic.arp]].ip (src/config/schema.ts), so a valid
 * config is never refused here: on our subnet, not our address, not the subnet's network or
 * broadcast address when the subnet has them (prefixes up to /30). */
static bool arp_static_ip_ok(const struct net_config *cfg, uint32_t ip)
{
    uint32_t host_mask = ~cfg->netmask;
    if (ip == cfg->addr || ((ip ^ cfg->addr) & cfg->netmask) != 0)
        return false;
    if (host_mask >= 3 && ((ip & host_mask) == 0 || (ip & host_mask) == host_mask))
        return false;
    return ip != 0 && ip != 0xffffffffu;
}

int arp_add_static(struct net_core *c, uint32_t ip, const uint8_t *mac)
{
    static const uint8_t zero_mac[6] = {0};
    struct arp_cache *a = c->arp;
    if (!arp_static_ip_ok(&c->cfg, ip) || eth_addr_is_mcast(mac) || eth_addr_eq(mac, zero_mac))
        return -IX_EINVAL;
    uint32_t i = arp_static_pos(a, ip);
    if (i < a->nstatic && a->st[i].ip == ip) {
        __builtin_memcpy(a->st[i].mac, mac, 6);
        return 0;
    }
    if (a->nstatic >= ARP_STATIC_MAX)
        return -IX_ENOMEM;
    for (uint32_t j = a->nstatic; j > i; j--)
        a->st[j] = a->st[j - 1];
    a->st[i] = (struct arp_static){.ip = ip};
    __builtin_memcpy(a->st[i].mac, mac, 6);
    a->nstatic++;
    /* A dynamic entry for the same address would never be looked at again: release it,
     * sending what waited for resolution to the configured MAC. */
    struct arp_entry *e = arp_find(a, ip);
    if (e != NULL) {
        __builtin_memcpy(e->mac, mac, 6);
        arp_flush_pending(c, e);
        e->state = ARP_FREE;
    }
    return 0;
}

uint32_t arp_static_count(const struct net_core *c) { return c->arp->nstatic; }

bool arp_is_static(const struct net_core *c, uint32_t ip) { return arp_static_find(c->arp, ip) != NULL; }

uint64_t arp_static_conflicts(const struct net_core *c) { return c->arp->static_conflicts; }

bool arp_lookup(struct net_core *c, uint32_t ip, uint8_t *mac)
{
    const struct arp_static *st = arp_static_find(c->arp, ip);
    if (st != NULL) {
        __builtin_memcpy(mac, st->mac, 6);
        return true;
    }
    struct arp_entry *e = arp_find(c->arp, ip);
    if (e == NULL || e->state != ARP_RESOLVED)
        return false;
    __builtin_memcpy(mac, e->mac, 6);
    return true;
}

void arp_flush(struct net_core *c)
{
    /* dynamic entries only: the static table holds no frames */
    for (uint32_t i = 0; i < ARP_ENTRIES; i++) {
        struct arp_entry *e = &c->arp->e[i];
        arp_drop_pending(c, e);
        e->state = ARP_FREE;
    }
}
