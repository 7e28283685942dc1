/* A core sized for 250 000 connections (docs/scale.md): the memory tcp_core_mem_size asks
 * for is about 800 bytes per connection; 250 000 connections from 40 addresses x 6250 ports
 * all go into the pool, each is found again by its 4-tuple, the lookup chains stay short (the
 * table has a power of two buckets >= max_conns: load factor <= 1), the budget refuses one
 * more, and freeing them all leaves no block in use and no timer armed. The lookup hash is
 * keyed: tuples aimed at one bucket under one secret spread under another. */
#include <stdlib.h>
#include <string.h>
#include "../../net/tcp_int.h"
#include "testlib.h"

#define CONNS 250000u
#define ADDRS 40u

static void sized_from_max_conns(void)
{
    size_t per = tcp_core_mem_size(CONNS) / CONNS;
    CHECK(per >= 700 && per <= 1024); /* the 1 KiB the config counts per connection covers it */
    CHECK(tcp_core_mem_size(2 * CONNS) > tcp_core_mem_size(CONNS) + (size_t)CONNS * 700);
}

/* A core with room for max_conns connections, in memory of its own (free_core releases it).
 * Returns net_init's result (0, checked). */
struct test_core {
    struct net_core c;
    struct mbuf_pool pool;
    struct net_config cfg;
    uint8_t *mem, *pool_mem;
    size_t len;
};

static int make_core(struct test_core *t, uint32_t max_conns)
{
    t->len = net_core_mem_base() + tcp_core_mem_size(max_conns) + 4096;
    t->mem = aligned_alloc(64, (t->len + 63) & ~(size_t)63);
    t->pool_mem = aligned_alloc(64, 64 * MBUF_SIZE + 64);
    CHECK(t->mem != NULL && t->pool_mem != NULL);
    if (t->mem == NULL || t->pool_mem == NULL)
        return -1;
    CHECK(mbuf_pool_init(&t->pool, t->pool_mem, 64 * MBUF_SIZE + 64) > 0);
    t->cfg = (struct net_config){.addr = TL_ADDR, .netmask = 0xffff0000u, .gateway = TL_PEER};
    memcpy(t->cfg.mac, TL_MAC, 6);
    int r = net_init(&t->c, 0, &t->cfg, &t->pool, t->mem, t->len, max_conns);
    CHECK_EQ(r, 0);
    return r;
}

static void free_core(struct test_core *t)
{
    free(t->mem);
    free(t->pool_mem);
}

/* The longest chain of the lookup table; *used = the non-empty buckets. */
static uint64_t chains(const struct tcp_core *tc, uint64_t *used)
{
    uint64_t longest = 0;
    *used = 0;
    for (uint32_t h = 0; h <= tc->hash_mask; h++) {
        uint64_t n = 0;
        for (struct tcp_pcb *p = tc->hash[h]; p != NULL; p = p->hnext)
            n++;
        *used += n > 0;
        if (n > longest)
            longest = n;
    }
    return longest;
}

/* The inverse of an odd number modulo 2^64 (Newton's iteration doubles the correct bits). */
static uint64_t inverse_odd(uint64_t a)
{
    uint64_t x = a;
    for (int i = 0; i < 6; i++)
        x *= 2 - a * x;
    return x;
}

/* Someone who knew the multiplier could send tuples that all land in one bucket: with
 * x_i = mix^-1(i * mul^-1) the products are 0, 1, 2, ..., whose top bits are all 0. They do pile up
 * under that secret (so this test sees an unkeyed or leaked hash), and a new secret spreads
 * them again, with every block still found (the table is rehashed). */
#define AIMED 2000u
/* tcp_tuple_mix backwards: each xor-shift by s undone by xoring the shifts by s, 2s, ... */
static uint64_t untuple_mix(uint64_t x)
{
    x ^= (x >> 29) ^ (x >> 58);
    x *= inverse_odd(TCP_HASH_MIX_MUL);
    x ^= (x >> 31) ^ (x >> 62);
    return x;
}
static void lookup_hash_is_keyed(void)
{
    struct test_core t;
    if (make_core(&t, 4096) != 0)
        return;
    struct net_core *c = &t.c;
    tcp_set_secret(c, 0x0123456789abcdefull, 0xfedcba9876543210ull);
    struct tcp_core *tc = c->tcp;
    CHECK(tc->hash_mul & 1);
    uint64_t inv = inverse_odd(tc->hash_mul);
    CHECK_EQ(inv * tc->hash_mul, 1);

    static struct tcp_pcb *aimed[AIMED];
    for (uint32_t i = 0; i < AIMED; i++) {
        uint64_t x = untuple_mix((uint64_t)(i + 1) * inv);
        struct tcp_pcb *p = tcp_pcb_alloc(c);
        CHECK(p != NULL);
        if (p == NULL)
            return;
        p->raddr = (uint32_t)(x >> 32);
        p->rport = (uint16_t)(x >> 16);
        p->lport = (uint16_t)x;
        p->laddr = TL_ADDR;
        p->state = TCPS_ESTABLISHED;
        tcp_pcb_hash(c, p);
        aimed[i] = p;
    }
    uint64_t used;
    CHECK_EQ(chains(tc, &used), AIMED); /* one chain: the attack works when the secret is known */

    uint64_t before = tc->hash_mul;
    tcp_set_secret(c, 0x1111111122222222ull, 0x3333333344444444ull);
    CHECK(tc->hash_mul != before);
    CHECK(chains(tc, &used) <= 12);
    CHECK(used > AIMED / 2);
    for (uint32_t i = 0; i < AIMED; i++)
        CHECK(tcp_pcb_lookup(c, aimed[i]->raddr, aimed[i]->rport, aimed[i]->lport) == aimed[i]);
    for (uint32_t i = 0; i < AIMED; i++)
        tcp_pcb_free(c, aimed[i]);
    CHECK_EQ(tcp_conns_in_use(c), 0);
    free_core(&t);
}

static void holds_and_finds_250k(void)
{
    struct test_core t;
    if (make_core(&t, CONNS) != 0)
        return;
    struct net_core *c = &t.c;
    CHECK_EQ(net_init(c, 0, &t.cfg, &t.pool, t.mem, t.len - 8192, CONNS) != 0, 1); /* too little memory: refused */
    CHECK_EQ(net_init(c, 0, &t.cfg, &t.pool, t.mem, t.len, CONNS), 0);

    struct tcp_pcb **all = calloc(CONNS, sizeof(*all));
    CHECK(all != NULL);
    for (uint32_t i = 0; i < CONNS; i++) {
        struct tcp_pcb *p = tcp_pcb_alloc(c);
        CHECK(p != NULL);
        if (p == NULL)
            break;
        p->raddr = (TL_ADDR & 0xffff0000u) + 256 + i % ADDRS;
        p->rport = (uint16_t)(32768 + i / ADDRS);
        p->lport = 7;
        p->laddr = TL_ADDR;
        p->state = TCPS_ESTABLISHED;
        tcp_pcb_hash(c, p);
        all[i] = p;
    }
    CHECK_EQ(tcp_conns_in_use(c), CONNS);
    CHECK(tcp_pcb_alloc(c) == NULL); /* the budget is max_conns: one more is refused */

    for (uint32_t i = 0; i < CONNS; i++)
        CHECK(tcp_pcb_lookup(c, all[i]->raddr, all[i]->rport, 7) == all[i]);
    CHECK(tcp_pcb_lookup(c, TL_ADDR + 1, 1, 7) == NULL);

    /* chain lengths: a lookup walks at most a few blocks */
    struct tcp_core *tc = c->tcp;
    uint64_t used = 0, longest = chains(tc, &used);
    CHECK(tc->hash_mask + 1 >= CONNS);
    CHECK(longest <= 12);
    CHECK((double)CONNS / (double)used < 2.0); /* mean chain length over non-empty buckets */

    for (uint32_t i = 0; i < CONNS; i++)
        tcp_pcb_free(c, all[i]);
    CHECK_EQ(tcp_conns_in_use(c), 0);
    CHECK_EQ(c->wheel->count, 0);
    CHECK(tcp_pcb_lookup(c, all[0]->raddr, all[0]->rport, 7) == NULL);
    free(all);
    free_core(&t);
}

int main(void)
{
    CHECK_RUN(sized_from_max_conns);
    CHECK_RUN(holds_and_finds_250k);
    CHECK_RUN(lookup_hash_is_keyed);
    return check_summary("tcp_scale_test");
}
