/* kvstore: the key-value store: items in slab classes (slab.h), a chained hash table, an
 * LRU list per class, lazy expiry, eviction from the LRU tail of the item's class, the cas
 * counter.
 *
 * The store lives in one memory region: with `[app] shared` configured, the region mapped at
 * the same address into every core's instance, so that all cores serve one table, as
 * memcached's threads do; without it, a part of each core's private heap (one partition per
 * core). Both modes run the same code: core 0 (or each core, privately) lays the store out
 * with kv_store_init and publishes it; the other cores wait in kv_store_attach until it is
 * ready. One spinlock (kv_lock) guards the table, the LRU, the arena, the cas counter and the
 * mutable item fields (exptime, linked, list links); every function below that takes or
 * returns an item must be called with it held, except kv_unpin.
 *
 * Items are immutable once linked: every update (set, append, incr ...) builds a new item
 * and links it in place of the old one. A reply can therefore send straight from item
 * memory without the lock. `refs` counts the table's reference (1 while linked) plus pins by
 * replies in flight, atomically: a reply on one core unpins while another core may unlink the
 * item; whoever drops the last reference frees it, so an item pinned on core 0 is never freed
 * by an eviction or a delete on core 1. */
#ifndef KV_STORE_H
#define KV_STORE_H
#include <stddef.h>
#include <stdint.h>

#define KV_KEY_MAX 250
#define KV_CORES_MAX 64 /* per-core statistics slots in the store */

/* The host unit test runs "cores" as threads: per-core variables are thread-local there. */
#ifdef KV_HOST_THREADS
#define KV_PER_CORE _Thread_local
#else
#define KV_PER_CORE
#endif

struct kv_item {
    struct kv_item *hnext;      /* hash chain */
    struct kv_item *prev, *next;/* LRU list, head = most recent */
    uint64_t cas;
    uint32_t hash;              /* of the key (the bucket is hash & table mask) */
    uint32_t exptime;           /* store clock seconds; 0 = never; expired when <= now */
    uint32_t stime;             /* store clock second of the last link (flush_all delay) */
    uint32_t flags;
    uint32_t nbytes;            /* value bytes including the trailing "\r\n" */
    uint32_t refs;              /* atomic: 1 while linked + pins by replies in flight */
    uint32_t atime;             /* store clock second of the last move to the LRU head */
    uint8_t nkey, clsid, linked;
    uint8_t fetched;            /* read by a get since it was linked (expired_unfetched) */
    char data[];                /* key (nkey bytes) then value (nbytes bytes) */
};

static inline char *kv_item_key(struct kv_item *it) { return it->data; }
static inline char *kv_item_val(struct kv_item *it) { return it->data + it->nkey; }

/* All uint64_t (summed field by field). Each core counts in its own slot (no shared cache
 * lines on the hot path); `stats` adds the slots up. A gauge such as curr_items may go
 * "negative" in one slot (an item linked on core 0, deleted on core 1): the sum modulo 2^64
 * is right. */
struct kv_counters {
    uint64_t curr_items, total_items, bytes, evictions, reclaimed, expired_unfetched, evicted_unfetched;
    uint64_t cmd_get, get_hits, get_misses, get_expired, get_flushed, cmd_set, cmd_touch, touch_hits,
        touch_misses, delete_hits, delete_misses, incr_hits, incr_misses, decr_hits, decr_misses,
        cas_hits, cas_misses, cas_badval, cmd_flush, alloc_failures;
    uint64_t limit_maxbytes;
    uint64_t curr_connections, total_connections, rejected_connections;
    uint64_t lock_waits; /* store lock found held by another core */
    uint64_t input_overflows; /* connections closed: more held input than kept track of */
    uint64_t bytes_read, bytes_written; /* TCP payload received; reply bytes acknowledged */
    uint64_t store_too_large, store_no_memory, cmd_meta; /* set/ms refused; me (memcached's meta_cmds) */
};

/* This core's statistics slot. */
extern KV_PER_CORE struct kv_counters *kv_stats_slot;
#define kv_stats (*kv_stats_slot)

/* Seconds since start, + 10 so that small internal values (1 = "already expired") never
 * collide with a real time. Provided by the app (main.c) or the unit test. */
uint32_t kv_now(void);

/* Slab classes of the stores laid out from now on (main.c: the slab_min= and slab_factor=
 * arguments): class 1 holds the item header and min_data bytes of key and value, each next
 * class factor_pct percent of the one before (memcached's -n and -f). Defaults: class 1 of
 * 96 bytes as memcached's, factor 1.2 (docs/kvstore.md, Memory: measured against 1.25). */
#define KV_SLAB_MIN 32
#define KV_SLAB_FACTOR 120
void kv_store_slab_params(uint32_t min_data, uint32_t factor_pct);
void kv_store_slab_get(uint32_t *min_data, uint32_t *factor_pct);
/* Lay the store out in [mem, mem + size) (zeroed memory: the shared region or a part of the
 * heap) and use it from `core`. item_max: the largest value accepted (bytes, without
 * "\r\n"). Returns 0, or -1 when the memory is too small for one item of that size (waiting
 * cores then see the store failed). Other cores cannot attach before kv_store_publish. */
int kv_store_init(void *mem, uint64_t size, uint32_t item_max, uint32_t core);
/* Make the initialized store usable by the cores waiting in kv_store_attach. */
void kv_store_publish(void);
/* Use the store another core lays out in mem: 1 when attached, 0 when it is not ready yet
 * (call again: the caller bounds the wait), -1 when its initialization failed. */
int kv_store_attach(void *mem, uint32_t core);

uint32_t kv_item_max(void);
/* memcached's item size limit (-I, item_max): its item header (48 bytes), the key and a NUL,
 * 4 bytes of flags unless they are 0, the 8-byte cas and the value with "\r\n" must fit. */
#define KV_MC_ITEM_HDR 57u
int kv_item_size_ok(size_t nkey, uint32_t flags, uint32_t nbytes);
/* Would memcached keep this item in chunks (larger than its largest slab chunk, 512 KB)?
 * It then refuses incr/decr on it as non-numeric. */
int kv_item_chunked(size_t nkey, uint32_t flags, uint32_t nbytes);
/* Wall-clock seconds (unix time) at store clock 0, or 0 when unknown (see kv_exptime).
 * Set before publishing. */
void kv_set_epoch(uint64_t unix_at_start);
uint64_t kv_epoch(void);
/* A value every core reads back (main.c: the TSC at store clock 0). Set before publishing. */
void kv_set_clock_base(uint64_t v);
uint64_t kv_clock_base(void);

void kv_lock(void);
void kv_unlock(void);

/* Protocol exptime -> store clock (0 never; negative -> already expired; <= 30 days relative;
 * larger: unix time, converted with the epoch, or treated as never when there is none). */
uint32_t kv_exptime(int64_t exptime);
/* Without an epoch, absolute times up to this one (2025-01-01) are surely in the past. */
#define KV_PAST_UNIX 1735689600

/* The live item for key, or NULL (expired and flushed items are unlinked on the way). */
struct kv_item *kv_find(const char *key, size_t nkey);
/* Move to the LRU head, unless it got there less than KV_BUMP_INTERVAL seconds ago (as
 * memcached's ITEM_UPDATE_INTERVAL): a hot key read on every core would otherwise make
 * each get write the list head and its neighbours, bouncing their cache lines between
 * cores under the lock. */
#define KV_BUMP_INTERVAL 60
void kv_bump(struct kv_item *it);

/* A new, unlinked item with room for nbytes of value (incl. "\r\n"); evicts from the LRU tail
 * as needed. NULL when the size exceeds the limit or nothing more can be evicted. Until it
 * is linked no other core can reach it: its value may be filled in without the lock. */
struct kv_item *kv_alloc(const char *key, size_t nkey, uint32_t flags, uint32_t exptime, uint32_t nbytes);
/* Link it (replacing any item with the same key), new cas, LRU head. */
void kv_link(struct kv_item *it);
void kv_unlink(struct kv_item *it);
/* Drop an item never linked (abandoned store). */
void kv_discard(struct kv_item *it);
/* Pin a linked item (lock held: it cannot go meanwhile). */
static inline void kv_pin(struct kv_item *it) { __atomic_add_fetch(&it->refs, 1, __ATOMIC_RELAXED); }
/* Unpin, without the lock held: takes it only to free an item whose last reference this was. */
void kv_unpin(struct kv_item *it);
/* Unpin with the lock held. */
void kv_unpin_locked(struct kv_item *it);
/* flush_all: at 0 (or not in the future) unlinks everything now; else items stored up to the
 * store clock `at` vanish then. */
void kv_flush(uint32_t at);

/* Statistics of all cores (counters since the last reset; gauges as they are). */
void kv_stats_total(struct kv_counters *out);
/* stats reset: counters of all cores start again from 0 (lock held). */
void kv_stats_reset(void);
/* One slab class, for `stats items` / `stats slabs` (memcached's field names). */
struct kv_class_stats {
    uint64_t chunk_size, chunks_per_page, total_pages, total_chunks, used_chunks, free_chunks,
        free_chunks_end, mem_requested, number, age, evicted, evicted_nonzero, evicted_time,
        evicted_unfetched, expired_unfetched, reclaimed, outofmemory;
};
/* Class id (1 .. 63): 0 when it does not exist. With the lock held. */
int kv_class_stats(unsigned id, struct kv_class_stats *out);
/* Bytes of all pages given to classes, and the page size. With the lock held. */
uint64_t kv_slab_malloced(void);
uint64_t kv_slab_page_size(void);
/* Bytes of the chunks in use, and of the pages given to classes (0 used once everything is
 * flushed and unpinned: the fuzz target checks it). With the lock held. */
void kv_arena_usage(uint64_t *used, uint64_t *size);
/* Pages moved from one class to another so far (memcached's slabs_moved). With the lock held. */
uint64_t kv_slabs_moved(void);

#endif
