/* kvstore: one partition of the key-value store (one per core): items in a buddy arena, a
 * chained hash table, one LRU list, lazy expiry, eviction from the LRU tail.
 *
 * Items are immutable once linked: every update (set, append, incr ...) builds a new item
 * and links it in place of the old one. A reply can therefore send straight from item
 * memory; an item pinned by a reply in flight (refs > 0) is only unlinked on replacement or
 * deletion and is freed when the last pin goes. */
#ifndef KV_STORE_H
#define KV_STORE_H
#include <stddef.h>
#include <stdint.h>

#define KV_KEY_MAX 250

struct kv_item {
    struct kv_item *hnext;      /* hash chain */
    struct kv_item *prev, *next;/* LRU list, head = most recent */
    uint64_t cas;
    uint64_t hash;
    uint32_t exptime;           /* store clock seconds; 0 = never; expired when <= now */
    uint32_t stime;             /* store clock second of the last link (flush_all delay) */
    uint32_t flags;
    uint32_t nbytes;            /* value bytes including the trailing "\r\n" */
    uint32_t refs;              /* pins by replies in flight */
    uint8_t nkey, order, linked, pad;
    char data[];                /* key (nkey bytes) then value (nbytes bytes) */
};

static inline char *kv_item_key(struct kv_item *it) { return it->data; }
static inline char *kv_item_val(struct kv_item *it) { return it->data + it->nkey; }

struct kv_stats {
    uint64_t curr_items, total_items, bytes, evictions, reclaimed, expired_unfetched;
    uint64_t cmd_get, get_hits, get_misses, get_expired, get_flushed, cmd_set, cmd_touch, touch_hits,
        touch_misses, delete_hits, delete_misses, incr_hits, incr_misses, decr_hits, decr_misses,
        cas_hits, cas_misses, cas_badval, cmd_flush, alloc_failures;
    uint64_t limit_maxbytes;
    uint64_t curr_connections, total_connections, rejected_connections;
};

extern struct kv_stats kv_stats;

/* Seconds since start, + 10 so that small internal values (1 = "already expired") never
 * collide with a real time. Provided by the app (main.c) or the unit test. */
uint32_t kv_now(void);

/* Carve the hash table, the buddy tag map and the arena out of [mem, mem + size).
 * item_max: the largest value accepted (bytes, without "\r\n"). Returns 0 or -1 when the
 * memory is too small for one item of that size. */
int kv_store_init(void *mem, uint64_t size, uint32_t item_max);
uint32_t kv_item_max(void);
/* Wall-clock seconds (unix time) at store clock 0, or 0 when unknown (see kv_exptime). */
void kv_set_epoch(uint64_t unix_at_start);

/* Protocol exptime -> store clock (0 never; negative -> already expired; <= 30 days relative;
 * larger: unix time, converted with the epoch, or treated as never when there is none). */
uint32_t kv_exptime(int64_t exptime);

/* The live item for key, or NULL (expired and flushed items are unlinked on the way). */
struct kv_item *kv_find(const char *key, size_t nkey);
void kv_bump(struct kv_item *it); /* move to the LRU head */

/* A new, unlinked item with room for nbytes of value (incl. "\r\n"); evicts from the LRU tail
 * as needed. NULL when the size exceeds the limit or nothing more can be evicted. */
struct kv_item *kv_alloc(const char *key, size_t nkey, uint32_t flags, uint32_t exptime, uint32_t nbytes);
/* Link it (replacing any item with the same key), new cas, LRU head. */
void kv_link(struct kv_item *it);
void kv_unlink(struct kv_item *it);
/* Drop an item never linked (abandoned store). */
void kv_discard(struct kv_item *it);
static inline void kv_pin(struct kv_item *it) { it->refs++; }
void kv_unpin(struct kv_item *it);
/* flush_all: delay 0 unlinks everything now; else items stored up to now+delay vanish then. */
void kv_flush(uint32_t delay);

#endif
