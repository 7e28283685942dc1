#include "store.h"
#include "buddy.h"
#include "lock.h"

#define REL_MAX (60u * 60 * 24 * 30) /* memcached: exptime above 30 days is a unix time */
#define CLOCK_BASE 10u               /* kv_now() at start */
#define STORE_READY 0x314b5653564b5849ull  /* "IXKVSVK1": laid out and published */
#define STORE_FAILED 0x4c494146564b5849ull /* "IXKVFAIL": core 0 could not lay it out */

/* Everything the cores share, at the start of the store's memory. The lock has a cache
 * line to itself; the per-core statistics slots one line each (no false sharing). */
struct kv_state {
    uint64_t ready;              /* STORE_READY / STORE_FAILED, written last (release) */
    uint64_t pad0[7];
    struct kv_lock lock;
    uint32_t pad1[15];
    /* guarded by the lock */
    struct buddy arena;
    struct kv_item **table;
    uint64_t table_mask;
    struct kv_item *lru_head, *lru_tail;
    uint64_t next_cas;
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

static struct kv_counters boot_stats;             /* before a store is attached */
KV_PER_CORE struct kv_counters *kv_stats_slot = &boot_stats;
static KV_PER_CORE struct kv_state *S;         /* same pointer on every core in shared mode */

static uint64_t hash_key(const char *k, size_t n)
{
    /* FNV-1a, 64 bit: keys are short and attacker-chosen hash flooding is out of scope for
     * this cache (documented in docs/kvstore.md) */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)k[i];
        h *= 0x100000001b3ull;
    }
    return h;
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
    uint64_t buckets = 256;
    while (buckets * 256 < size && buckets < (1ull << 30)) /* ~1 bucket per 4 min-size items */
        buckets <<= 1;
    int order = buddy_order_for(sizeof(struct kv_item) + (uint64_t)imax);
    if (buckets * sizeof(struct kv_item *) + 128 >= size || order < 0)
        goto fail;
    s->table = (struct kv_item **)p;
    s->table_mask = buckets - 1;
    for (uint64_t i = 0; i < buckets; i++)
        s->table[i] = 0;
    p += buckets * sizeof(struct kv_item *);
    size -= buckets * sizeof(struct kv_item *);
    /* arena + arena/64 tag bytes must fit; the arena starts 64-aligned after the tags */
    uint64_t asize = (size - 64) / 65 * 64;
    uint8_t *tag = (uint8_t *)p;
    char *base = (char *)(((uint64_t)(p + buddy_tag_bytes(asize)) + 63) & ~63ull);
    if (buddy_init(&s->arena, base, asize, tag, (unsigned)order))
        goto fail;
    s->item_max = imax;
    s->next_cas = 1;
    use(s, core);
    kv_stats.limit_maxbytes = s->arena.size;
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
    if (it->prev)
        it->prev->next = it->next;
    else
        S->lru_head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        S->lru_tail = it->prev;
    it->prev = it->next = 0;
}

static void lru_push(struct kv_item *it)
{
    it->prev = 0;
    it->next = S->lru_head;
    if (S->lru_head)
        S->lru_head->prev = it;
    S->lru_head = it;
    if (!S->lru_tail)
        S->lru_tail = it;
}

static void item_free(struct kv_item *it)
{
    buddy_free(&S->arena, it, it->order);
}

void kv_unlink(struct kv_item *it)
{
    if (!it->linked)
        return;
    struct kv_item **pp = &S->table[it->hash & S->table_mask];
    while (*pp && *pp != it)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = it->hnext;
    it->hnext = 0;
    lru_remove(it);
    it->linked = 0;
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
    uint64_t h = hash_key(key, nkey);
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
    if (it->linked && S->lru_head != it) {
        lru_remove(it);
        lru_push(it);
    }
}

/* Evict one unpinned item from the LRU tail (expired ones count as reclaimed). Pinned items
 * (more references than the table's) are skipped, a bounded number of them, so a reply in
 * flight never loses its memory. A pin can only be added under the lock, so an item seen
 * unpinned here stays so until it is unlinked. */
static int evict_one(void)
{
    int skipped = 0;
    uint32_t now = kv_now();
    for (struct kv_item *it = S->lru_tail; it && skipped < 64; it = it->prev, skipped++) {
        if (__atomic_load_n(&it->refs, __ATOMIC_ACQUIRE) > 1)
            continue;
        if (is_dead(it, now)) {
            kv_stats.reclaimed++;
            kv_stats.expired_unfetched += !it->fetched;
        } else {
            kv_stats.evictions++;
            kv_stats.evicted_unfetched += !it->fetched;
        }
        kv_unlink(it);
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
    int order = buddy_order_for(sizeof(struct kv_item) + nkey + nbytes);
    if (order < 0 || (unsigned)order > S->arena.max_order) {
        kv_stats.alloc_failures++;
        return 0;
    }
    struct kv_item *it;
    while (!(it = (struct kv_item *)buddy_alloc(&S->arena, (unsigned)order))) {
        if (!evict_one()) {
            kv_stats.alloc_failures++;
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
    it->order = (uint8_t)order;
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
    while (S->lru_head)
        kv_unlink(S->lru_head);
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

uint32_t kv_oldest_age(void) { return S->lru_tail ? kv_now() - S->lru_tail->atime : 0; }

void kv_arena_usage(uint64_t *used, uint64_t *size)
{
    *used = S->arena.used;
    *size = S->arena.size;
}
