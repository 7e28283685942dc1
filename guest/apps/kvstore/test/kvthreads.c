/* Host unit test of the store shared by all cores: threads play the cores, each attached
 * to one store laid out by "core 0", hammering a small set of keys so that they collide
 * (set, get with pins held across other threads' operations, delete, incr-like
 * replacements, evictions in a small arena). Checks:
 *  - a pinned value is never freed and reused while pinned (its bytes are verified when it
 *    is pinned and again when it is unpinned, after many other operations of all threads);
 *  - every value read is whole (written by one set: a pattern derived from its first bytes);
 *  - when all keys are deleted every slab chunk is free again (none leaked or freed twice:
 *    each class's free chunks are all its chunks);
 *  - statistics summed over the cores' slots add up (curr_items 0, total_items = links). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store.h"
#include "check.h"

#define THREADS 4
#define KEYS 128
#define OPS 60000
#define PINS 8 /* pins a thread holds at once, released in FIFO order */

static char *mem;
static uint64_t links[THREADS];

static uint8_t pat(uint32_t seed, uint32_t i) { return (uint8_t)((seed * 2654435761u + i * 40503u) >> 13); }

/* value: 4 bytes of seed, then pat(seed, i), then "\r\n" */
static void fill(struct kv_item *it, uint32_t seed)
{
    char *v = kv_item_val(it);
    uint32_t n = it->nbytes - 2;
    memcpy(v, &seed, 4);
    for (uint32_t i = 4; i < n; i++)
        v[i] = (char)pat(seed, i);
    v[n] = '\r';
    v[n + 1] = '\n';
}

static int intact(struct kv_item *it)
{
    const char *v = kv_item_val(it);
    uint32_t n = it->nbytes - 2, seed;
    memcpy(&seed, v, 4);
    for (uint32_t i = 4; i < n; i++)
        if ((uint8_t)v[i] != pat(seed, i))
            return 0;
    return v[n] == '\r' && v[n + 1] == '\n';
}

static void *core(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    CHECK_MSG(kv_store_attach(mem, id) == 1, "core %u: attach", id);
    unsigned rs = id * 7919u + 1;
    struct kv_item *pinned[PINS] = {0};
    uint32_t np = 0;
    char key[16];
    for (uint32_t op = 0; op < OPS; op++) {
        int nk = snprintf(key, sizeof key, "key%u", (unsigned)(rand_r(&rs) % KEYS));
        int r = rand_r(&rs) % 100;
        if (r < 40) { /* set: allocate under the lock, fill outside it (unlinked), link */
            uint32_t size = 4 + (uint32_t)(rand_r(&rs) % (r < 20 ? 60000 : 3000));
            kv_lock();
            struct kv_item *it = kv_alloc(key, (size_t)nk, 0, 0, size + 2);
            kv_unlock();
            if (!it)
                continue; /* everything pinned: allowed to fail */
            fill(it, (uint32_t)rand_r(&rs));
            kv_lock();
            kv_link(it);
            kv_unlock();
            links[id]++;
        } else if (r < 90) { /* get: pin under the lock, check, keep the pin a while */
            kv_lock();
            struct kv_item *it = kv_find(key, (size_t)nk);
            if (it)
                kv_pin(it);
            kv_unlock();
            if (!it)
                continue;
            CHECK_MSG(intact(it), "core %u: value of %s torn at get", id, key);
            if (pinned[np % PINS]) {
                CHECK_MSG(intact(pinned[np % PINS]), "core %u: pinned value changed before unpin", id);
                kv_unpin(pinned[np % PINS]); /* without the lock, as conn.c does on ack */
            }
            pinned[np++ % PINS] = it;
        } else if (r < 96) {
            kv_lock();
            struct kv_item *it = kv_find(key, (size_t)nk);
            if (it)
                kv_unlink(it);
            kv_unlock();
        } else { /* replace from the old value (as incr/append do: pinned across alloc) */
            kv_lock();
            struct kv_item *old = kv_find(key, (size_t)nk);
            if (old) {
                kv_pin(old);
                struct kv_item *it = kv_alloc(key, (size_t)nk, 0, 0, old->nbytes);
                CHECK_MSG(intact(old), "core %u: old value changed while pinned for a replace", id);
                kv_unpin_locked(old);
                if (it) {
                    uint32_t seed;
                    memcpy(&seed, kv_item_val(old), 4);
                    fill(it, seed + 1);
                    kv_link(it);
                    links[id]++;
                }
            }
            kv_unlock();
        }
    }
    for (uint32_t i = 0; i < PINS; i++)
        if (pinned[i]) {
            CHECK_MSG(intact(pinned[i]), "core %u: pinned value changed", id);
            kv_unpin(pinned[i]);
        }
    return 0;
}

void kvt_threads(void)
{
    const uint64_t size = 1 << 20;
    const uint32_t item_max = 64 << 10;
    mem = aligned_alloc(4096, size);
    memset(mem, 0, size);
    /* before core 0 publishes, other cores are told to wait */
    CHECK_MSG(kv_store_attach(mem, 1) == 0, "attach before init");
    CHECK_MSG(kv_store_init(mem, size, item_max, 0) == 0, "init");
    CHECK_MSG(kv_store_attach(mem, 1) == 0, "attach before publish");
    kv_store_publish();
    pthread_t t[THREADS];
    for (uint32_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], 0, core, (void *)(uintptr_t)i);
    for (uint32_t i = 0; i < THREADS; i++)
        pthread_join(t[i], 0);
    CHECK_MSG(kv_store_attach(mem, 0) == 1, "attach");
    struct kv_counters s;
    kv_stats_total(&s);
    uint64_t nlinks = 0;
    for (uint32_t i = 0; i < THREADS; i++)
        nlinks += links[i];
    CHECK_MSG(s.total_items == nlinks, "total_items %llu, links %llu", (unsigned long long)s.total_items,
           (unsigned long long)nlinks);
    CHECK_MSG(s.evictions > 0, "the arena never filled (no evictions)");
    kv_lock();
    char key[16];
    for (uint32_t k = 0; k < KEYS; k++) {
        int nk = snprintf(key, sizeof key, "key%u", k);
        struct kv_item *it = kv_find(key, (size_t)nk);
        if (it)
            kv_unlink(it);
    }
    kv_unlock();
    kv_stats_total(&s);
    CHECK_MSG(s.curr_items == 0 && s.bytes == 0, "curr_items %llu bytes %llu after deleting all",
           (unsigned long long)s.curr_items, (unsigned long long)s.bytes);
    /* every chunk is free again: none leaked, none freed twice */
    kv_lock();
    struct kv_class_stats k;
    for (unsigned id = 1; kv_class_stats(id, &k); id++)
        CHECK_MSG(k.used_chunks == 0 && k.free_chunks == k.total_chunks, "class %u: %llu used, %llu free of %llu", id,
                  (unsigned long long)k.used_chunks, (unsigned long long)k.free_chunks,
                  (unsigned long long)k.total_chunks);
    kv_unlock();
    free(mem);
}
