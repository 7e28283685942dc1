/* kvstore: an in-memory key-value store speaking the memcached text protocol (see
 * docs/kvstore.md). With `[app] shared` all cores serve one store in the shared region; without
 * it each core keeps its own partition in its heap.
 *   args: [port=11211] [conns=N] [item_max=BYTES] [epoch=UNIX_SECONDS] [slab_min=48] [slab_factor=125]
 *     conns     connections per core (default: up to 512, at most a quarter of the heap)
 *     item_max  largest item (default 1048576, as memcached's -I 1m: key, value and memcached's
 *               57-byte item header count)
 *     epoch     unix time at start, instead of the host's (ix_app_info.unix_ms): exptime values
 *               above 30 days are absolute unix times, converted with it
 *     slab_min  bytes of key and value in the smallest slab class after the item header
 *               (memcached's -n)
 *     slab_factor  growth factor of the slab classes' chunk sizes in percent (memcached's -f:
 *               125 is -f 1.25)
 * The items fill the shared region (or the rest of the heap); the LRU evicts when it is full. */
#include <ix.h>
#include <ixev.h>
#include "conn.h"

static struct kv_conn *free_list;
uint32_t kv_ncores = 1, kv_conns_max, kv_port; /* for stats */
static uint64_t tsc0, tsc_hz;

uint32_t kv_now(void)
{
    return (uint32_t)((ix_rdtsc() - tsc0) / tsc_hz) + 10;
}

static struct ixev_ctx *on_accept(uint64_t tuple, uint32_t laddr)
{
    (void)tuple;
    (void)laddr;
    struct kv_conn *c = free_list;
    if (!c) {
        kv_stats.rejected_connections++;
        return 0;
    }
    free_list = c->next_free;
    kv_conn_init(c);
    kv_stats.curr_connections++;
    kv_stats.total_connections++;
    return &c->ctx;
}

static void on_recv(struct ixev_ctx *x, const void *data, size_t len) { kv_conn_recv((struct kv_conn *)x, data, len); }
static void on_sent(struct ixev_ctx *x, size_t bytes) { kv_conn_sent((struct kv_conn *)x, bytes); }
static void on_eof(struct ixev_ctx *x) { kv_conn_eof((struct kv_conn *)x); }

static void on_dead(struct ixev_ctx *x, int reason)
{
    (void)reason;
    struct kv_conn *c = (struct kv_conn *)x;
    kv_conn_dead(c);
    c->next_free = free_list;
    free_list = c;
    kv_stats.curr_connections--;
}

static const struct ixev_ops ops = {
    .accept = on_accept,
    .recv = on_recv,
    .sent = on_sent,
    .eof = on_eof,
    .dead = on_dead,
};

/* "name=<decimal>" -> 1 and *v, 0 if the name differs, -1 if the number is bad */
static int arg_num(const char *a, const char *name, uint64_t *v)
{
    while (*name)
        if (*a++ != *name++)
            return 0;
    if (*a++ != '=' || !*a)
        return -1;
    uint64_t x = 0;
    for (; *a; a++) {
        if (*a < '0' || *a > '9' || x > 0xffffffffffffull)
            return -1;
        x = x * 10 + (uint64_t)(*a - '0');
    }
    *v = x;
    return 1;
}

/* Lay out the store (core 0 in the shared region, or each core in its heap) or wait for
 * core 0 to publish it. The cores start at about the same time; a bounded wait turns a core
 * 0 that never gets there into an error instead of a hang. Returns 0 or -1 (reported). */
static int store_start(const struct ix_app_info *info, int shared, void *heap_rest, uint64_t heap_left,
                       uint32_t item_max, uint64_t epoch)
{
    if (shared && info->cpu != 0) {
        uint64_t t0 = ix_rdtsc();
        int r;
        while ((r = kv_store_attach((void *)info->shared, info->cpu)) == 0) {
            if (ix_rdtsc() - t0 > 30 * tsc_hz) {
                ix_printf("kvstore: core %u: the shared store was not ready after 30 s", info->cpu);
                return -1;
            }
            __asm__ volatile("pause");
        }
        if (r < 0) {
            ix_printf("kvstore: core %u: core 0 could not set up the shared store", info->cpu);
            return -1;
        }
        tsc0 = kv_clock_base(); /* one store clock for every core (expiry times are shared) */
        return 0;
    }
    void *mem = shared ? (void *)info->shared : heap_rest;
    uint64_t size = shared ? info->shared_size : heap_left;
    if (kv_store_init(mem, size, item_max, info->cpu)) {
        ix_printf("kvstore: %s of %llu bytes too small for items of up to %llu bytes (raise [app] %s)",
                  shared ? "shared memory" : "heap", (unsigned long long)size, (unsigned long long)item_max,
                  shared ? "shared" : "heap");
        return -1;
    }
    tsc0 = ix_rdtsc();
    if (!epoch && info->unix_ms) {
        /* the host's wall clock at boot plus the TSC since; the store clock's seconds are
         * made to tick with the Unix seconds (tsc0 moved back to the last whole second) */
        uint64_t per_ms = tsc_hz / 1000 ? tsc_hz / 1000 : 1;
        uint64_t ms = info->unix_ms + (tsc0 > info->unix_tsc ? (tsc0 - info->unix_tsc) / per_ms : 0);
        epoch = ms / 1000;
        tsc0 -= (ms % 1000) * per_ms;
    }
    kv_set_clock_base(tsc0);
    kv_set_epoch(epoch);
    kv_store_publish();
    return 0;
}

int main(int argc, char **argv)
{
    const struct ix_app_info *info = ix_info();
    uint64_t port = 11211, conns = 0, item_max = 1u << 20, epoch = 0;
    uint64_t slab_min = KV_SLAB_MIN, slab_factor = KV_SLAB_FACTOR;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if ((r = arg_num(argv[i], "port", &port)) == 0 && (r = arg_num(argv[i], "conns", &conns)) == 0 &&
            (r = arg_num(argv[i], "item_max", &item_max)) == 0 && (r = arg_num(argv[i], "epoch", &epoch)) == 0 &&
            (r = arg_num(argv[i], "slab_min", &slab_min)) == 0 && (r = arg_num(argv[i], "slab_factor", &slab_factor)) == 0)
            r = -1;
        if (r < 0 || port == 0 || port > 65535 || item_max == 0 || item_max > (1u << 30) || slab_min == 0 ||
            slab_min > 65536 || slab_factor <= 100 || slab_factor > 1000) {
            ix_printf("kvstore: bad argument '%s' (expected port=N, conns=N, item_max=BYTES, epoch=UNIX, "
                      "slab_min=1..65536, slab_factor=101..1000 percent)", argv[i]);
            return 2;
        }
    }
    kv_store_slab_params((uint32_t)slab_min, (uint32_t)slab_factor);
    tsc_hz = info->tsc_khz ? info->tsc_khz * 1000 : 1000000000ull;
    kv_core = info->cpu;
    kv_ncores = info->ncpus;
    kv_port = (uint32_t)port;
    int shared = info->shared != 0 && info->shared_size != 0;
    /* shared store: the heap holds only connections; else a quarter at most */
    uint64_t fit = info->heap_size / (shared ? 1 : 4) / sizeof(struct kv_conn);
    if (conns == 0)
        conns = fit < 512 ? fit : 512;
    if (conns == 0 || conns * sizeof(struct kv_conn) > info->heap_size ||
        (!shared && conns * sizeof(struct kv_conn) >= info->heap_size)) {
        ix_printf("kvstore: heap of %llu bytes too small for %llu connections",
                  (unsigned long long)info->heap_size, (unsigned long long)conns);
        return 2;
    }
    kv_conns_max = (uint32_t)conns;
    struct kv_conn *pool = (struct kv_conn *)info->heap;
    for (uint64_t i = conns; i > 0; i--) {
        pool[i - 1].next_free = free_list;
        free_list = &pool[i - 1];
    }
    uint64_t used = conns * sizeof(struct kv_conn);
    if (store_start(info, shared, (char *)info->heap + used, info->heap_size - used, (uint32_t)item_max, epoch))
        return 2;
    ixev_init(&ops);
    int e = ixev_listen((uint16_t)port, 1024);
    if (e) {
        ix_printf("kvstore: cannot listen on port %llu (%d)", (unsigned long long)port, e);
        return 1;
    }
    if (info->cpu == 0)
        ix_printf("kvstore: memcached protocol on TCP port %llu, %u cores, %llu connections per core, "
                  "%llu MB of items %s",
                  (unsigned long long)port, info->ncpus, (unsigned long long)conns,
                  (unsigned long long)(kv_stats.limit_maxbytes >> 20), shared ? "shared by all cores" : "per core");
    return ixev_run();
}
