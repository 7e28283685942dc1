/* TCP control blocks: the per-core pool, the 4-tuple hash, handles, listeners, ISNs, the
 * pool of send slices and that of per-segment records (tcp_sack.c). Everything is carved
 * from the memory given to tcp_core_init. */
#include "stack_env.h"
#include "tcp_int.h"

#define ALIGN64(x) (((x) + 63) & ~(size_t)63)
#define TCP_TICK_US 50u /* timer wheel resolution (when TCP owns the wheel) */

static const struct tcp_tunables tcp_defaults = {
    .mtu = NET_MTU,
    .rcvbuf = 256u * 1024,
    .sndbuf = 512u * 1024,
    .rto_init_us = 1000000,   /* RFC 6298 §2.1 */
    .rto_min_us = 200000,     /* Linux's TCP_RTO_MIN (RFC 6298 says 1 s; Linux-compatible) */
    .rto_max_us = 120000000,  /* Linux's TCP_RTO_MAX (RFC 6298 §2.5 allows >= 60 s) */
    .dack_us = 40000,         /* Linux's minimum delayed-ACK time; RFC 9293 requires < 0.5 s */
    .msl_us = 30000000,       /* TIME_WAIT = 60 s, as Linux */
    .fin_wait2_us = 60000000, /* Linux's tcp_fin_timeout */
    .ka_idle_us = 0,          /* keepalive off unless asked (RFC 9293 §3.8.4: default off) */
    .ka_intvl_us = 75000000,
    .ka_probes = 9,
    .syn_retries = 6,
    .max_retries = 15,
    .ooo_max = 128,
    .timestamps = true,
    .wscale = true,
    .sack = true,
};

static uint32_t hash_size(unsigned max_conns)
{
    uint32_t n = 64;
    while (n < max_conns && n < (1u << 24))
        n <<= 1;
    return n;
}

static void rekey_hash(struct tcp_core *tc);

static uint32_t nslices_for(unsigned max_conns) { return max_conns * 2 + 1024; }

/* The half-open reserve: small pools (tests) get as many as they have connections. */
static unsigned half_max_for(unsigned max_conns)
{
    unsigned n = max_conns < 16 ? 16 : max_conns;
    return n > TCP_HALF_OPEN_MAX ? TCP_HALF_OPEN_MAX : n;
}

_Static_assert(TCPC_COUNT <= sizeof(((struct net_counters *)0)->tcp) / sizeof(uint64_t),
               "TCP counters must fit net_counters.tcp[]");

size_t tcp_core_mem_size(unsigned max_conns)
{
    size_t npcbs = (size_t)max_conns + half_max_for(max_conns);
    return ALIGN64(sizeof(struct tcp_core)) + ALIGN64(sizeof(struct tcp_pcb) * npcbs) +
           ALIGN64(sizeof(struct tcp_pcb *) * hash_size(max_conns)) +
           ALIGN64(sizeof(struct tcp_slice) * nslices_for(max_conns)) +
           ALIGN64(sizeof(struct tcp_seg) * ((size_t)tcp_segs_pool_size(max_conns) + 1));
}

static void pend_timer_fn(struct timer *t, void *arg)
{
    (void)t;
    tcp_flush_events((struct net_core *)arg);
}

int tcp_core_init(struct net_core *c, void *mem, size_t mem_len, unsigned max_conns)
{
    if (max_conns == 0 || max_conns > (1u << 24) || mem == NULL)
        return -IX_EINVAL;
    uintptr_t a = ((uintptr_t)mem + 63) & ~(uintptr_t)63;
    size_t skew = a - (uintptr_t)mem;
    size_t need = tcp_core_mem_size(max_conns);
    if (mem_len < skew || mem_len - skew < need)
        return -IX_ENOMEM;
    uint8_t *p = (uint8_t *)a;
    __builtin_memset(p, 0, need);
    struct tcp_core *tc = (struct tcp_core *)p;
    p += ALIGN64(sizeof(*tc));
    tc->c = c;
    tc->tun = tcp_defaults;
    tc->pcbs = (struct tcp_pcb *)p;
    tc->half_max = half_max_for(max_conns);
    tc->npcbs = max_conns + tc->half_max;
    p += ALIGN64(sizeof(struct tcp_pcb) * tc->npcbs);
    tc->hash = (struct tcp_pcb **)p;
    tc->hash_mask = hash_size(max_conns) - 1;
    tc->hash_shift = 64 - (unsigned)__builtin_ctz(hash_size(max_conns));
    p += ALIGN64(sizeof(struct tcp_pcb *) * hash_size(max_conns));
    tc->slices = (struct tcp_slice *)p;
    tc->nslices = nslices_for(max_conns);
    p += ALIGN64(sizeof(struct tcp_slice) * nslices_for(max_conns));
    tcp_segs_pool_init(tc, (struct tcp_seg *)p, tcp_segs_pool_size(max_conns));
    tc->max_conns = max_conns;

    /* Free lists in index order so the first connections get the first slots. */
    for (unsigned i = tc->npcbs; i-- > 0;) {
        struct tcp_pcb *pcb = &tc->pcbs[i];
        pcb->idx = i;
        pcb->gen = 1;
        pcb->lnext = tc->free_pcbs;
        tc->free_pcbs = pcb;
    }
    for (uint32_t i = tc->nslices; i-- > 0;) {
        tc->slices[i].next = tc->free_slices;
        tc->free_slices = &tc->slices[i];
    }
    tc->slices_free = tc->nslices;

    uint64_t now = env_now_us();
    if (c->wheel == NULL) {
        timer_wheel_init(&tc->wheel_storage, now, TCP_TICK_US);
        c->wheel = &tc->wheel_storage;
    }
    timer_init(&tc->t_pend, pend_timer_fn);
    /* Not cryptographic: mixes the clock, the core's address and the stack address. A
     * real deployment would seed this from the host's RNG (RFC 6528 wants a secret). */
    tc->isn_secret = now * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)tc ^ ((uint64_t)c->cfg.addr << 17);
    tc->key.k0 = tc->isn_secret;
    tc->key.k1 = tc->isn_secret * 0xbf58476d1ce4e5b9ull ^ 0x94d049bb133111ebull;
    rekey_hash(tc);
    tc->next_port = (uint16_t)(32768 + (tc->isn_secret % 28232));
    c->tcp = tc;
    return 0;
}

void tcp_get_tunables(struct net_core *c, struct tcp_tunables *t) { *t = c->tcp->tun; }

void tcp_set_tunables(struct net_core *c, const struct tcp_tunables *t)
{
    struct tcp_tunables v = *t;
    if (v.mtu < 576)
        v.mtu = 576;
    if (v.mtu > NET_MTU)
        v.mtu = NET_MTU;
    if (v.rcvbuf < 4096)
        v.rcvbuf = 4096;
    if (v.rcvbuf > (1u << 30))
        v.rcvbuf = 1u << 30;
    if (v.sndbuf < 4096)
        v.sndbuf = 4096;
    if (v.sndbuf > (1u << 30))
        v.sndbuf = 1u << 30;
    if (v.rto_min_us == 0)
        v.rto_min_us = 1000;
    if (v.rto_max_us < v.rto_min_us)
        v.rto_max_us = v.rto_min_us;
    if (v.ooo_max == 0)
        v.ooo_max = 1;
    c->tcp->tun = v;
}

unsigned tcp_conns_in_use(struct net_core *c) { return c->tcp ? c->tcp->in_use : 0; }

/* ---- pool ------------------------------------------------------------------------ */

static struct tcp_pcb *recycle_time_wait(struct net_core *c)
{
    struct tcp_core *tc = c->tcp;
    /* Only when the pool is exhausted: O(n), like Linux's tcp_max_tw_buckets pressure. */
    for (unsigned i = 0; i < tc->npcbs; i++) {
        struct tcp_pcb *p = &tc->pcbs[i];
        if (p->in_use && p->state == TCPS_TIME_WAIT && !p->app_ref) {
            TCP_TCTR(c, TW_RECYCLED);
            tcp_pcb_free(c, p);
            return tc->free_pcbs;
        }
    }
    return NULL;
}

/* One free list for both budgets: connections (in_use - half_open <= max_conns) and the
 * half-open reserve (half_open <= half_max). Together they never exceed npcbs, so the list
 * is never empty while a budget has room. */
static bool full_budget_left(struct net_core *c)
{
    struct tcp_core *tc = c->tcp;
    return tc->in_use - tc->half_open < tc->max_conns || recycle_time_wait(c) != NULL;
}

static struct tcp_pcb *take(struct net_core *c)
{
    struct tcp_core *tc = c->tcp;
    struct tcp_pcb *p = tc->free_pcbs;
    if (p == NULL)
        return NULL;
    tc->free_pcbs = p->lnext;
    uint32_t idx = p->idx, gen = p->gen;
    __builtin_memset(p, 0, sizeof(*p));
    p->idx = idx;
    p->gen = gen;
    p->in_use = true;
    tcp_timers_init(p);
    tc->in_use++;
    return p;
}

struct tcp_pcb *tcp_pcb_alloc(struct net_core *c)
{
    return full_budget_left(c) ? take(c) : NULL;
}

struct tcp_pcb *tcp_pcb_alloc_half(struct net_core *c)
{
    struct tcp_core *tc = c->tcp;
    if (tc->half_open >= tc->half_max)
        return NULL;
    struct tcp_pcb *p = take(c);
    if (p != NULL) {
        p->half = true;
        tc->half_open++;
    }
    return p;
}

static void half_done(struct net_core *c, struct tcp_pcb *p)
{
    if (!p->half)
        return;
    p->half = false;
    c->tcp->half_open--;
    if (p->listener != NULL && p->listener->half > 0)
        p->listener->half--;
}

/* The handshake completed: the block now counts as a connection's. False (and nothing
 * changed) when the connections' budget is used up; the ACK is then dropped, as Linux does
 * when the accept queue overflows, and the peer's retransmission tries again. */
bool tcp_pcb_promote(struct net_core *c, struct tcp_pcb *p)
{
    if (!p->half)
        return true;
    if (!full_budget_left(c))
        return false;
    half_done(c, p);
    return true;
}

/* The 4-tuple's bucket (the local address is the core's own, so the tuple is 64 bits):
 * multiply-shift (Dietzfelbinger et al., 1997), the top bits of the tuple times a secret odd
 * multiplier. For any two distinct tuples, the chance over the multiplier that they share a
 * bucket is at most 2/buckets, so a peer that chooses its addresses and ports cannot aim them
 * at one chain without knowing the per-boot secret. One multiply per lookup. */
static uint32_t tuple_hash(const struct tcp_core *tc, uint32_t raddr, uint16_t rport, uint16_t lport)
{
    uint64_t k = ((uint64_t)raddr << 32) | ((uint32_t)rport << 16) | lport;
    /* Real tuples are regular (consecutive addresses and ports): a lattice on which plain
     * multiply-shift gives about one multiplier in seven a mean chain of 2 or more. A fixed
     * bijective mix first (xor-shift, odd multiply, xor-shift) breaks the lattice up and keeps
     * distinct tuples distinct, so the bound over the secret multiplier still holds. */
    return (uint32_t)((tcp_tuple_mix(k) * tc->hash_mul) >> tc->hash_shift);
}

/* Derive the multiplier from the secret and put every hashed block in its new bucket (none
 * at start-up; the secret is normally set before the first connection). */
static void rekey_hash(struct tcp_core *tc)
{
    struct tcp_pcb *all = NULL;
    for (uint32_t b = 0; b <= tc->hash_mask; b++)
        while (tc->hash[b] != NULL) {
            struct tcp_pcb *p = tc->hash[b];
            tc->hash[b] = p->hnext;
            p->hnext = all;
            all = p;
        }
    static const uint64_t label = 0x746370686173682dull; /* "tcphash-": a domain apart from ISNs and cookies */
    tc->hash_mul = siphash24(&tc->key, &label, 1) | 1;
    while (all != NULL) {
        struct tcp_pcb *p = all;
        all = p->hnext;
        uint32_t h = tuple_hash(tc, p->raddr, p->rport, p->lport);
        p->hnext = tc->hash[h];
        tc->hash[h] = p;
    }
}

void tcp_pcb_hash(struct net_core *c, struct tcp_pcb *p)
{
    struct tcp_core *tc = c->tcp;
    uint32_t h = tuple_hash(tc, p->raddr, p->rport, p->lport);
    p->hnext = tc->hash[h];
    tc->hash[h] = p;
}

static void unhash(struct net_core *c, struct tcp_pcb *p)
{
    struct tcp_core *tc = c->tcp;
    struct tcp_pcb **pp = &tc->hash[tuple_hash(tc, p->raddr, p->rport, p->lport)];
    for (; *pp != NULL; pp = &(*pp)->hnext)
        if (*pp == p) {
            *pp = p->hnext;
            break;
        }
    p->hnext = NULL;
}

struct tcp_pcb *tcp_pcb_lookup(struct net_core *c, uint32_t raddr, uint16_t rport, uint16_t lport)
{
    struct tcp_core *tc = c->tcp;
    for (struct tcp_pcb *p = tc->hash[tuple_hash(tc, raddr, rport, lport)]; p != NULL; p = p->hnext)
        if (p->raddr == raddr && p->rport == rport && p->lport == lport)
            return p;
    return NULL;
}

void tcp_slices_free(struct net_core *c, struct tcp_pcb *p)
{
    struct tcp_core *tc = c->tcp;
    while (p->sq_head != NULL) {
        struct tcp_slice *s = p->sq_head;
        p->sq_head = s->next;
        s->next = tc->free_slices;
        tc->free_slices = s;
        tc->slices_free++;
    }
    p->sq_tail = NULL;
    p->cur = NULL;
    tcp_segs_free(c, p); /* the per-segment records describe the same data */
}

void tcp_pcb_free(struct net_core *c, struct tcp_pcb *p)
{
    struct tcp_core *tc = c->tcp;
    if (!p->in_use)
        return;
    tcp_timers_cancel(c, p);
    unhash(c, p);
    half_done(c, p);
    tcp_listener_drop_pending(p);
    tcp_rq_free(c, p);
    tcp_slices_free(c, p);
    if (p->on_pend) {
        struct tcp_pcb **pp = &tc->pend_head, *prev = NULL;
        for (; *pp != NULL; prev = *pp, pp = &(*pp)->lnext)
            if (*pp == p) {
                *pp = p->lnext;
                if (tc->pend_tail == p)
                    tc->pend_tail = prev;
                break;
            }
        p->on_pend = false;
    }
    p->in_use = false;
    p->app_ref = false;
    p->state = TCPS_CLOSED;
    p->gen++;
    if (p->gen == 0)
        p->gen = 1;
    p->lnext = tc->free_pcbs;
    tc->free_pcbs = p;
    tc->in_use--;
}

struct tcp_pcb *tcp_pcb_from_handle(struct net_core *c, uint64_t h)
{
    struct tcp_core *tc = c->tcp;
    if (tc == NULL)
        return NULL;
    uint32_t idx = (uint32_t)h, gen = (uint32_t)(h >> 32);
    if (idx >= tc->npcbs)
        return NULL;
    struct tcp_pcb *p = &tc->pcbs[idx];
    if (!p->in_use || p->gen != gen || !p->app_ref)
        return NULL;
    return p;
}

struct tcp_listener *tcp_listener_find(struct net_core *c, uint16_t port)
{
    struct tcp_core *tc = c->tcp;
    for (unsigned i = 0; i < sizeof(tc->listeners) / sizeof(tc->listeners[0]); i++)
        if (tc->listeners[i].port == port && port != 0)
            return &tc->listeners[i];
    return NULL;
}

void tcp_listener_drop_pending(struct tcp_pcb *p)
{
    if (p->listener != NULL) {
        if (p->listener->pending > 0)
            p->listener->pending--;
        p->listener = NULL;
    }
}

/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock, F SipHash-2-4 keyed with the
 * per-boot secret. The 0x15 tag keeps F apart from the cookies' use of the same key. */
uint32_t tcp_isn_tuple(struct net_core *c, uint32_t laddr, uint32_t raddr, uint16_t lport, uint16_t rport)
{
    uint64_t w[3] = {((uint64_t)laddr << 32) | raddr, ((uint64_t)lport << 16) | rport, 0x15};
    return (uint32_t)siphash24(&c->tcp->key, w, 3) + (uint32_t)(env_now_us() / 4);
}

uint32_t tcp_isn(struct net_core *c, const struct tcp_pcb *p)
{
    return tcp_isn_tuple(c, p->laddr, p->raddr, p->lport, p->rport);
}

void tcp_set_secret(struct net_core *c, uint64_t k0, uint64_t k1)
{
    c->tcp->key.k0 = k0;
    c->tcp->key.k1 = k1;
    c->tcp->isn_secret = k0 ^ k1;
    rekey_hash(c->tcp);
}

uint16_t tcp_our_mss(const struct net_core *c) { return (uint16_t)(c->tcp->tun.mtu - 40); }

/* Defaults for a new connection before options are known. */
void tcp_pcb_init_conn(struct net_core *c, struct tcp_pcb *p)
{
    struct tcp_core *tc = c->tcp;
    p->laddr = c->cfg.addr;
    p->mss = 536; /* RFC 9293 §3.7.1 default until the peer's MSS option says otherwise */
    p->rto_us = tc->tun.rto_init_us;
    p->last_rx_us = env_now_us();
    /* Window scale we would use: smallest shift that lets rcvbuf fit in 16 bits. */
    uint8_t ws = 0;
    while (ws < TCP_WSCALE_MAX && (tc->tun.rcvbuf >> ws) > 0xffff)
        ws++;
    p->rcv_ws = ws;
}
