#include "store.h"
#include "buddy.h"

#define REL_MAX (60u * 60 * 24 * 30) /* memcached: exptime above 30 days is a unix time */
#define CLOCK_BASE 10u               /* kv_now() at start */

struct kv_stats kv_stats;

static struct buddy arena;
static struct kv_item **table;
static uint64_t table_mask;
static struct kv_item *lru_head, *lru_tail;
static uint64_t next_cas = 1;
static uint32_t item_max;
static uint64_t epoch;          /* unix time at store clock CLOCK_BASE, 0 = unknown */
static uint32_t flush_at;       /* pending delayed flush (store clock), 0 = none */

static uint64_t hash_key(const char *k, size_t n)
{
    /* FNV-1a, 64 bit: keys are short and attacker-chosen hash flooding is out of scope for a
     * per-core cache partition (documented in docs/kvstore.md) */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)k[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int kv_store_init(void *mem, uint64_t size, uint32_t imax)
{
    char *p = (char *)(((uint64_t)mem + 63) & ~63ull);
    size -= (uint64_t)(p - (char *)mem);
    uint64_t buckets = 256;
    while (buckets * 256 < size && buckets < (1ull << 30)) /* ~1 bucket per 4 min-size items */
        buckets <<= 1;
    if (buckets * sizeof(*table) >= size)
        return -1;
    table = (struct kv_item **)p;
    table_mask = buckets - 1;
    for (uint64_t i = 0; i < buckets; i++)
        table[i] = 0;
    p += buckets * sizeof(*table);
    size -= buckets * sizeof(*table);
    int order = buddy_order_for(sizeof(struct kv_item) + KV_KEY_MAX + (uint64_t)imax + 2);
    if (order < 0)
        return -1;
    /* arena + arena/64 tag bytes must fit; the arena starts 64-aligned after the tags */
    uint64_t asize = (size - 64) / 65 * 64;
    uint8_t *tag = (uint8_t *)p;
    char *base = (char *)(((uint64_t)(p + buddy_tag_bytes(asize)) + 63) & ~63ull);
    if (buddy_init(&arena, base, asize, tag, (unsigned)order))
        return -1;
    item_max = imax;
    lru_head = lru_tail = 0;
    next_cas = 1;
    flush_at = 0;
    kv_stats = (struct kv_stats){0};
    kv_stats.limit_maxbytes = arena.size;
    return 0;
}

uint32_t kv_item_max(void) { return item_max; }
void kv_set_epoch(uint64_t unix_at_start) { epoch = unix_at_start; }

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
        if (!epoch)
            return 0; /* no wall clock: an absolute time cannot be placed; never expires */
        if ((uint64_t)e <= epoch)
            return 1;
        t = (uint64_t)e - epoch + CLOCK_BASE;
    }
    return t > 0xffffffffull ? 0xffffffffu : (uint32_t)t;
}

static void lru_remove(struct kv_item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        lru_head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        lru_tail = it->prev;
    it->prev = it->next = 0;
}

static void lru_push(struct kv_item *it)
{
    it->prev = 0;
    it->next = lru_head;
    if (lru_head)
        lru_head->prev = it;
    lru_head = it;
    if (!lru_tail)
        lru_tail = it;
}

static void item_free(struct kv_item *it)
{
    buddy_free(&arena, it, it->order);
}

void kv_unlink(struct kv_item *it)
{
    if (!it->linked)
        return;
    struct kv_item **pp = &table[it->hash & table_mask];
    while (*pp && *pp != it)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = it->hnext;
    it->hnext = 0;
    lru_remove(it);
    it->linked = 0;
    kv_stats.curr_items--;
    kv_stats.bytes -= (uint64_t)it->nkey + it->nbytes;
    if (it->refs == 0)
        item_free(it);
}

void kv_unpin(struct kv_item *it)
{
    if (--it->refs == 0 && !it->linked)
        item_free(it);
}

void kv_discard(struct kv_item *it)
{
    if (!it->linked && it->refs == 0)
        item_free(it);
}

static int is_dead(const struct kv_item *it, uint32_t now)
{
    if (it->exptime && it->exptime <= now)
        return 1;
    return flush_at && now >= flush_at && it->stime < flush_at;
}

struct kv_item *kv_find(const char *key, size_t nkey)
{
    uint64_t h = hash_key(key, nkey);
    for (struct kv_item *it = table[h & table_mask]; it; it = it->hnext) {
        if (it->hash != h || it->nkey != nkey || __builtin_memcmp(it->data, key, nkey) != 0)
            continue;
        if (is_dead(it, kv_now())) {
            kv_unlink(it);
            return 0;
        }
        return it;
    }
    return 0;
}

void kv_bump(struct kv_item *it)
{
    if (it->linked && lru_head != it) {
        lru_remove(it);
        lru_push(it);
    }
}

/* Evict one unpinned item from the LRU tail (expired ones count as reclaimed). Pinned items
 * are skipped, a bounded number of them, so a reply in flight never loses its memory. */
static int evict_one(void)
{
    int skipped = 0;
    uint32_t now = kv_now();
    for (struct kv_item *it = lru_tail; it && skipped < 64; it = it->prev, skipped++) {
        if (it->refs)
            continue;
        if (is_dead(it, now))
            kv_stats.reclaimed++;
        else
            kv_stats.evictions++;
        kv_unlink(it);
        return 1;
    }
    return 0;
}

struct kv_item *kv_alloc(const char *key, size_t nkey, uint32_t flags, uint32_t exptime, uint32_t nbytes)
{
    if (nkey == 0 || nkey > KV_KEY_MAX || nbytes < 2 || nbytes - 2 > item_max) {
        kv_stats.alloc_failures++;
        return 0;
    }
    int order = buddy_order_for(sizeof(struct kv_item) + nkey + nbytes);
    if (order < 0 || (unsigned)order > arena.max_order) {
        kv_stats.alloc_failures++;
        return 0;
    }
    struct kv_item *it;
    while (!(it = (struct kv_item *)buddy_alloc(&arena, (unsigned)order))) {
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
    it->nkey = (uint8_t)nkey;
    it->order = (uint8_t)order;
    it->linked = 0;
    it->pad = 0;
    __builtin_memcpy(it->data, key, nkey);
    return it;
}

void kv_link(struct kv_item *it)
{
    struct kv_item *old = kv_find(it->data, it->nkey);
    if (old)
        kv_unlink(old);
    uint64_t b = it->hash & table_mask;
    it->hnext = table[b];
    table[b] = it;
    lru_push(it);
    it->linked = 1;
    it->cas = next_cas++;
    it->stime = kv_now();
    kv_stats.curr_items++;
    kv_stats.total_items++;
    kv_stats.bytes += (uint64_t)it->nkey + it->nbytes;
}

void kv_flush(uint32_t delay)
{
    kv_stats.cmd_flush++;
    if (delay) {
        flush_at = kv_now() + delay;
        return;
    }
    flush_at = 0;
    while (lru_head)
        kv_unlink(lru_head);
}
