#include "store.h"
#include "slab.h"
#include "lock.h"
#include "list.h"

#define REL_MAX (60u * 60 * 24 * 30) /* memcached: exptime above 30 days is a unix time */
#define CLOCK_BASE 10u               /* kv_now() at start */
#define STORE_READY 0x314b5653564b5849ull  /* "IXKVSVK1": laid out and published */
#define STORE_FAILED 0x4c494146564b5849ull /* "IXKVFAIL": core 0 could not lay it out */

/* One slab class's LRU list (head = most recent) and its counters (lock held). */
struct kv_class {
    struct kv_item *head, *tail;
    uint64_t number, requested, evicted, evicted_nonzero, evicted_unfetched, expired_unfetched, reclaimed,
        outofmemory;
    uint32_t evicted_time; /* seconds since the last access of the last item evicted */
};

/* Everything the cores share, at the start of the store's memory. The lock has a cache
 * line to itself; the per-core statistics slots one line each (no false sharing). */
struct kv_state {
    uint64_t ready;              /* STORE_READY / STORE_FAILED, written last (release) */
    uint64_t pad0[7];
    struct kv_lock lock;
    uint32_t pad1[15];
    /* guarded by the lock */
    struct slab arena;
    struct kv_class cls[SLAB_CLASSES];
    struct kv_item **table;
    uint64_t table_mask;
    uint64_t next_cas;
    uint64_t move_next;          /* the page slab_move looks at next */
    uint64_t pages_moved;
    uint32_t flush_at;           /* pending delayed flush (store clock), 0 = none */
    /* set before publishing, read-only after */
    uint32_t item_max;
    uint64_t epoch;              /* unix time at store clock CLOCK_BASE, 0 = unknown */
    uint64_t clock_base;
    struct kv_counters reset_base;  /* counter totals at the last `stats reset` (lock) */
    struct {
        struct kv_counters s;
    } __attribute__((aligned(64))) slot[KV_CORES_MAX];
};

static uint32_t slab_min = KV_SLAB_MIN, slab_factor = KV_SLAB_FACTOR;

void kv_store_slab_params(uint32_t min_data, uint32_t factor_pct)
{
    slab_min = min_data;
    slab_factor = factor_pct;
}

void kv_store_slab_get(uint32_t *min_data, uint32_t *factor_pct)
{
    *min_data = slab_min;
    *factor_pct = slab_factor;
}

static struct kv_counters boot_stats;             /* before a store is attached */
KV_PER_CORE struct kv_counters *kv_stats_slot = &boot_stats;
static KV_PER_CORE struct kv_state *S;         /* same pointer on every core in shared mode */

static uint32_t hash_key(const char *k, size_t n)
{
    /* FNV-1a, 64 bit: keys are short and attacker-chosen hash flooding is out of scope for
     * this cache (documented in docs/kvstore.md) */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)k[i];
        h *= 0x100000001b3ull;
    }
    return (uint32_t)(h ^ h >> 32);
}

static struct kv_state *state_at(void *mem)
{
    return (struct kv_state *)(((uint64_t)mem + 63) & ~63ull);
}

static void use(struct kv_state *s, uint32_t core)
{
    S = s;
    kv_stats_slot = &s->slot[core < KV_CORES_MAX ? core : KV_CORES_MAX - 1].s;
}

int kv_store_init(void *mem, uint64_t size, uint32_t imax, uint32_t core)
{
    struct kv_state *s = state_at(mem);
    uint64_t head = (uint64_t)((char *)s - (char *)mem) + sizeof(*s);
    if (size < head)
        return -1; /* not even room to say it failed */
    /* the memory may be reused (unit tests): start from a clean state */
    __builtin_memset(s, 0, sizeof(*s));
    char *p = (char *)s + sizeof(*s);
    size -= head;
    /* a bucket per 4 KB (at least 256): about 3.5 items of 1 KB per bucket when full; the
     * table is fixed (memcached's grows at 1.5 per bucket, outside its -m), so this is the
     * trade between chain length for small items and the memory left for items */
    uint64_t buckets = 256;
    while (buckets * 4096 < size && buckets < (1ull << 30))
        buckets <<= 1;
    if (buckets * sizeof(struct kv_item *) + 128 >= size)
        goto fail;
    s->table = (struct kv_item **)p;
    s->table_mask = buckets - 1;
    for (uint64_t i = 0; i < buckets; i++)
        s->table[i] = 0;
    p += buckets * sizeof(struct kv_item *);
    size -= buckets * sizeof(struct kv_item *);
    /* the arena, 64-aligned: pages that hold the largest item (memcached's item header
     * counted by item_max is smaller than ours), at least 1 MiB as memcached's unless the
     * arena is small (then 1/64 of it, so that tests with a few MB have pages for several
     * classes) */
    char *base = (char *)(((uint64_t)p + 63) & ~63ull);
    uint64_t asize = size - (uint64_t)(base - p);
    uint64_t big = (sizeof(struct kv_item) + (uint64_t)imax + 63) & ~63ull;
    uint64_t page = (asize / 64) & ~63ull;
    if (page > (1u << 20))
        page = 1u << 20;
    if (page < big)
        page = big;
    if (slab_init(&s->arena, base, asize, page, (uint32_t)sizeof(struct kv_item) + slab_min, slab_factor))
        goto fail;
    s->item_max = imax;
    s->next_cas = 1;
    use(s, core);
    kv_stats.limit_maxbytes = s->arena.npages * s->arena.page_size;
    return 0;
fail:
    __atomic_store_n(&s->ready, STORE_FAILED, __ATOMIC_RELEASE);
    return -1;
}

void kv_store_publish(void) { __atomic_store_n(&S->ready, STORE_READY, __ATOMIC_RELEASE); }

int kv_store_attach(void *mem, uint32_t core)
{
    struct kv_state *s = state_at(mem);
    uint64_t r = __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE);
    if (r == STORE_FAILED)
        return -1;
    if (r != STORE_READY)
        return 0;
    use(s, core);
    return 1;
}

uint32_t kv_item_max(void) { return S->item_max; }

int kv_item_size_ok(size_t nkey, uint32_t flags, uint32_t nbytes)
{
    uint64_t total = KV_MC_ITEM_HDR + nkey + (flags ? 4u : 0u) + (uint64_t)nbytes;
    return nbytes >= 2 && nkey <= KV_KEY_MAX && total <= S->item_max;
}

int kv_item_chunked(size_t nkey, uint32_t flags, uint32_t nbytes)
{
    return KV_MC_ITEM_HDR + nkey + (flags ? 4u : 0u) + (uint64_t)nbytes > (512u << 10);
}
void kv_set_epoch(uint64_t unix_at_start) { S->epoch = unix_at_start; }
uint64_t kv_epoch(void) { return S->epoch; }
void kv_set_clock_base(uint64_t v) { S->clock_base = v; }
uint64_t kv_clock_base(void) { return S->clock_base; }
void kv_lock(void)
{
    if (!kv_spin_trylock(&S->lock)) {
        kv_stats.lock_waits++; /* contention, as seen in `stats` */
        kv_spin_lock(&S->lock);
    }
}
void kv_unlock(void) { kv_spin_unlock(&S->lock); }

uint32_t kv_exptime(int64_t e)
{
    if (e == 0)
        return 0;
    if (e < 0)
        return 1;
    uint64_t t;
    if (e <= (int64_t)REL_MAX) {
        t = (uint64_t)kv_now() + (uint64_t)e;
    } else {
        if (!S->epoch) /* no wall clock: a time surely past expires, a later one never does */
            return (uint64_t)e <= KV_PAST_UNIX ? 1 : 0;
        if ((uint64_t)e <= S->epoch)
            return 1;
        t = (uint64_t)e - S->epoch + CLOCK_BASE;
    }
    return t > 0xffffffffull ? 0xffffffffu : (uint32_t)t;
}

static void lru_remove(struct kv_item *it)
{
    struct kv_class *c = &S->cls[it->clsid];
    KV_LIST_REMOVE(&c->head, &c->tail, it);
}

static void lru_push(struct kv_item *it)
{
    struct kv_class *c = &S->cls[it->clsid];
    KV_LIST_PUSH(&c->head, &c->tail, it);
}

static uint64_t item_bytes(const struct kv_item *it) { return sizeof(*it) + it->nkey + (uint64_t)it->nbytes; }

static void item_free(struct kv_item *it)
{
    slab_free(&S->arena, it, it->clsid);
}

void kv_unlink(struct kv_item *it)
{
    if (!it->linked)
        return;
    KV_SLIST_REMOVE(struct kv_item, &S->table[it->hash & S->table_mask], it, hnext);
    lru_remove(it);
    it->linked = 0;
    S->cls[it->clsid].number--;
    S->cls[it->clsid].requested -= item_bytes(it);
    kv_stats.curr_items--;
    kv_stats.bytes -= (uint64_t)it->nkey + it->nbytes;
    /* drop the table's reference; a reply still holding a pin frees it later */
    if (__atomic_sub_fetch(&it->refs, 1, __ATOMIC_ACQ_REL) == 0)
        item_free(it);
}

void kv_unpin_locked(struct kv_item *it)
{
    if (__atomic_sub_fetch(&it->refs, 1, __ATOMIC_ACQ_REL) == 0)
        item_free(it);
}

void kv_unpin(struct kv_item *it)
{
    /* The common case (the item is still linked) needs no lock. The last reference can only
     * be dropped here once the item is unlinked, when no other core can reach it any more. */
    if (__atomic_sub_fetch(&it->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        kv_lock();
        item_free(it);
        kv_unlock();
    }
}

void kv_discard(struct kv_item *it)
{
    if (!it->linked && __atomic_load_n(&it->refs, __ATOMIC_ACQUIRE) == 0)
        item_free(it);
}

static int is_dead(const struct kv_item *it, uint32_t now)
{
    if (it->exptime && it->exptime <= now)
        return 1;
    return S->flush_at && now >= S->flush_at && it->stime < S->flush_at;
}

struct kv_item *kv_find(const char *key, size_t nkey)
{
    uint32_t h = hash_key(key, nkey);
    for (struct kv_item *it = S->table[h & S->table_mask]; it; it = it->hnext) {
        if (it->hash != h || it->nkey != nkey || __builtin_memcmp(it->data, key, nkey) != 0)
            continue;
        if (is_dead(it, kv_now())) {
            if (!it->fetched && it->exptime && it->exptime <= kv_now())
                kv_stats.expired_unfetched++;
            kv_unlink(it);
            return 0;
        }
        return it;
    }
    return 0;
}

void kv_bump(struct kv_item *it)
{
    uint32_t now = kv_now();
    if (now - it->atime < KV_BUMP_INTERVAL)
        return;
    it->atime = now;
    if (it->linked && S->cls[it->clsid].head != it) {
        lru_remove(it);
        lru_push(it);
    }
}

/* Evict one unpinned item from the LRU tail of class id, as memcached evicts within the
 * class it needs a chunk of (expired ones count as reclaimed). Pinned items (more
 * references than the table's) are skipped, a bounded number of them, so a reply in flight
 * never loses its memory. A pin can only be added under the lock, so an item seen unpinned
 * here stays so until it is unlinked. */
static int evict_one(unsigned id)
{
    int skipped = 0;
    uint32_t now = kv_now();
    struct kv_class *c = &S->cls[id];
    for (struct kv_item *it = c->tail; it && skipped < 64; it = it->prev, skipped++) {
        if (__atomic_load_n(&it->refs, __ATOMIC_ACQUIRE) > 1)
            continue;
        if (is_dead(it, now)) {
            kv_stats.reclaimed++;
            kv_stats.expired_unfetched += !it->fetched;
            c->reclaimed++;
            c->expired_unfetched += !it->fetched;
        } else {
            kv_stats.evictions++;
            kv_stats.evicted_unfetched += !it->fetched;
            c->evicted++;
            c->evicted_nonzero += it->exptime != 0;
            c->evicted_unfetched += !it->fetched;
            c->evicted_time = now - it->atime;
        }
        kv_unlink(it);
        return 1;
    }
    return 0;
}

/* No page left and nothing of class `id` to evict (a class that got no page before the
 * arena filled): empty another class's page and give it to `id`, as memcached's slab
 * rebalancer does. Pages are visited round robin (a class loses pages in proportion to how
 * many it has); a page holding an item in use (pinned, or not linked yet) is passed over,
 * at most 64 pages are looked at. */
static int slab_move(unsigned id)
{
    struct slab *sl = &S->arena;
    uint32_t now = kv_now();
    for (int tries = 0; tries < 64; tries++) {
        uint64_t page = S->move_next++ % sl->npages;
        unsigned from = sl->owner[page];
        if (from == 0 || from == id)
            continue;
        const struct slab_class *c = &sl->cls[from];
        char *start = sl->base + page * sl->page_size;
        int busy = 0;
        for (uint32_t k = 0; k < c->perslab && !busy; k++) {
            struct kv_item *it = (struct kv_item *)(start + (uint64_t)k * c->size);
            busy = !slab_chunk_free(sl, page, it) && (!it->linked || __atomic_load_n(&it->refs, __ATOMIC_ACQUIRE) > 1);
        }
        if (busy)
            continue;
        for (uint32_t k = 0; k < c->perslab; k++) {
            struct kv_item *it = (struct kv_item *)(start + (uint64_t)k * c->size);
            if (slab_chunk_free(sl, page, it))
                continue;
            struct kv_class *kc = &S->cls[from];
            if (is_dead(it, now)) {
                kv_stats.reclaimed++;
                kc->reclaimed++;
            } else {
                kv_stats.evictions++;
                kc->evicted++;
                kc->evicted_nonzero += it->exptime != 0;
                kc->evicted_time = now - it->atime;
            }
            kv_unlink(it);
        }
        slab_page_move(sl, page, id);
        S->pages_moved++;
        return 1;
    }
    return 0;
}

struct kv_item *kv_alloc(const char *key, size_t nkey, uint32_t flags, uint32_t exptime, uint32_t nbytes)
{
    if (nkey == 0 || !kv_item_size_ok(nkey, flags, nbytes)) {
        kv_stats.alloc_failures++;
        return 0;
    }
    unsigned id = slab_class_for(&S->arena, sizeof(struct kv_item) + nkey + nbytes);
    if (id == 0) {
        kv_stats.alloc_failures++;
        return 0;
    }
    struct kv_item *it;
    while (!(it = (struct kv_item *)slab_alloc(&S->arena, id))) {
        if (!evict_one(id) && !slab_move(id)) { /* no page left, nothing to evict or move */
            kv_stats.alloc_failures++;
            S->cls[id].outofmemory++;
            return 0;
        }
    }
    it->hnext = it->prev = it->next = 0;
    it->cas = 0;
    it->hash = hash_key(key, nkey);
    it->exptime = exptime;
    it->stime = 0;
    it->flags = flags;
    it->nbytes = nbytes;
    it->refs = 0;
    it->atime = 0;
    it->nkey = (uint8_t)nkey;
    it->clsid = (uint8_t)id;
    it->linked = 0;
    it->fetched = 0;
    __builtin_memcpy(it->data, key, nkey);
    return it;
}

void kv_link(struct kv_item *it)
{
    struct kv_item *old = kv_find(it->data, it->nkey);
    if (old)
        kv_unlink(old);
    uint64_t b = it->hash & S->table_mask;
    it->hnext = S->table[b];
    S->table[b] = it;
    lru_push(it);
    it->linked = 1;
    S->cls[it->clsid].number++;
    S->cls[it->clsid].requested += item_bytes(it);
    __atomic_add_fetch(&it->refs, 1, __ATOMIC_RELEASE); /* the table's reference */
    it->cas = S->next_cas++;
    it->stime = kv_now();
    it->atime = it->stime;
    kv_stats.curr_items++;
    kv_stats.total_items++;
    kv_stats.bytes += (uint64_t)it->nkey + it->nbytes;
}

void kv_flush(uint32_t at)
{
    kv_stats.cmd_flush++;
    if (at > kv_now()) {
        S->flush_at = at;
        return;
    }
    S->flush_at = 0;
    for (unsigned id = 1; id <= S->arena.largest; id++)
        while (S->cls[id].head)
            kv_unlink(S->cls[id].head);
}

/* ---- statistics ------------------------------------------------------------------- */

#define NSTAT (sizeof(struct kv_counters) / sizeof(uint64_t))

static int is_gauge(size_t i)
{
    return i == __builtin_offsetof(struct kv_counters, curr_items) / 8 ||
           i == __builtin_offsetof(struct kv_counters, bytes) / 8 ||
           i == __builtin_offsetof(struct kv_counters, limit_maxbytes) / 8 ||
           i == __builtin_offsetof(struct kv_counters, curr_connections) / 8;
}

/* Sum of every core's slot. Other cores keep counting meanwhile: each 64-bit field is read
 * atomically (relaxed), the totals are a snapshot as good as memcached's. */
static void sum_slots(uint64_t *out)
{
    for (size_t i = 0; i < NSTAT; i++)
        out[i] = 0;
    for (uint32_t c = 0; c < KV_CORES_MAX; c++) {
        uint64_t *f = (uint64_t *)&S->slot[c].s;
        for (size_t i = 0; i < NSTAT; i++)
            out[i] += __atomic_load_n(&f[i], __ATOMIC_RELAXED);
    }
}

void kv_stats_total(struct kv_counters *out)
{
    uint64_t *o = (uint64_t *)out;
    sum_slots(o);
    kv_lock();
    const uint64_t *b = (const uint64_t *)&S->reset_base;
    for (size_t i = 0; i < NSTAT; i++)
        if (!is_gauge(i))
            o[i] -= b[i];
    kv_unlock();
}

void kv_stats_reset(void)
{
    /* each core writes only its own slot; a reset records the totals to subtract */
    sum_slots((uint64_t *)&S->reset_base);
}

int kv_class_stats(unsigned id, struct kv_class_stats *o)
{
    if (id == 0 || id > S->arena.largest)
        return 0;
    const struct slab_class *sc = &S->arena.cls[id];
    const struct kv_class *c = &S->cls[id];
    o->chunk_size = sc->size;
    o->chunks_per_page = sc->perslab;
    o->total_pages = sc->pages;
    o->total_chunks = sc->pages * sc->perslab;
    o->used_chunks = sc->used;
    o->free_chunks = sc->nfree + sc->end_left;
    o->free_chunks_end = sc->end_left;
    o->mem_requested = c->requested;
    o->number = c->number;
    o->age = c->tail ? kv_now() - c->tail->atime : 0;
    o->evicted = c->evicted;
    o->evicted_nonzero = c->evicted_nonzero;
    o->evicted_time = c->evicted_time;
    o->evicted_unfetched = c->evicted_unfetched;
    o->expired_unfetched = c->expired_unfetched;
    o->reclaimed = c->reclaimed;
    o->outofmemory = c->outofmemory;
    return 1;
}

uint64_t kv_slab_malloced(void) { return S->arena.next_page * S->arena.page_size; }
uint64_t kv_slab_page_size(void) { return S->arena.page_size; }
void kv_arena_usage(uint64_t *used, uint64_t *size)
{
    *used = 0;
    for (unsigned id = 1; id <= S->arena.largest; id++)
        *used += S->arena.cls[id].used * S->arena.cls[id].size;
    *size = kv_slab_malloced();
}

uint64_t kv_slabs_moved(void) { return S->pages_moved; }
_Static_assert(sizeof(struct kv_item) == 64, "item header: 64 bytes (docs/kvstore.md, Memory)");
