/* Host unit tests of the slab allocator (slab.c) and of the store's use of it: classes as
 * memcached lays them out, the smallest fitting class chosen, chunks that never overlap and
 * stay inside their class's pages, freed chunks reused before new pages, and no chunk leaked
 * or freed twice after deletes, expiry, flush and eviction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "slab.h"
#include "store.h"

void kvt_slab(void);

static void test_classes(void)
{
    static char mem[(4 << 20) + 4096] __attribute__((aligned(64))); /* 4 pages and the owner map */
    struct slab s;
    CHECK_MSG(slab_init(&s, mem, sizeof mem, 1 << 20, 96, 125) == 0, "init");
    CHECK_EQ(s.npages, 4);
    /* memcached 1.6's default classes with its 48-byte item header: 96, 120, 152, 192 ... */
    const uint32_t want[] = {96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184, 1480};
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(s.cls[i + 1].size == want[i], "class %u: %u, want %u", i + 1, s.cls[i + 1].size, want[i]);
    CHECK_MSG(s.largest < SLAB_CLASSES && s.cls[s.largest].size == 1 << 20 && s.cls[s.largest].perslab == 1,
              "the last class is the page");
    for (unsigned id = 1; id < s.largest; id++) {
        CHECK_MSG(s.cls[id].size % SLAB_ALIGN == 0 && s.cls[id].size < s.cls[id + 1].size, "class %u ascends", id);
        CHECK_MSG(s.cls[id].perslab == (1u << 20) / s.cls[id].size, "class %u perslab", id);
    }
    for (uint64_t b = 1; b <= (1 << 20); b += 1 + b / 64) {
        unsigned id = slab_class_for(&s, b);
        CHECK_MSG(id >= 1 && s.cls[id].size >= b && (id == 1 || s.cls[id - 1].size < b), "class for %llu: %u",
                  (unsigned long long)b, id);
    }
    CHECK_MSG(slab_class_for(&s, (1 << 20) + 1) == 0, "larger than a page");
    /* a finer factor: more classes, never more than 63 */
    CHECK_MSG(slab_init(&s, mem, sizeof mem, 1 << 20, 72, 101) == 0, "init 1.01");
    CHECK_MSG(s.largest == SLAB_CLASSES - 1 && s.cls[s.largest].size == 1 << 20, "63 classes, last the page");
    CHECK_MSG(slab_init(&s, mem, (1 << 20) - 1, 1 << 20, 96, 125) != 0, "no page");
    CHECK_MSG(slab_init(&s, mem, sizeof mem, 1 << 20, 96, 100) != 0, "factor 1");
}

/* Random allocations and frees of random classes: every chunk lies in a page of its class,
 * none overlaps another (each is filled with its own pattern and checked at free), a freed
 * chunk is reused before a new page is taken, and all chunks come back. */
static void test_alloc(void)
{
    enum { PAGE = 64 << 10, NPAGES = 32, MAXN = 20000 };
    static char mem[PAGE * NPAGES + 4096] __attribute__((aligned(64)));
    static unsigned char owner[NPAGES]; /* class of each page */
    static void *ptr[MAXN];
    static unsigned cls[MAXN];
    struct slab s;
    CHECK_MSG(slab_init(&s, mem, sizeof mem, PAGE, 64, 125) == 0, "init");
    unsigned n = 0;
    srand(7);
    for (int round = 0; round < 200000 && !check_failures; round++) {
        if (n < MAXN && (rand() % 3 || n == 0)) {
            unsigned id = 1 + (unsigned)rand() % 8;
            uint64_t pages = s.next_page, nfree = s.cls[id].nfree;
            void *p = slab_alloc(&s, id);
            if (!p)
                continue;
            CHECK_MSG(nfree == 0 || s.next_page == pages, "a new page while chunks were free");
            uint64_t off = (uint64_t)((char *)p - s.base), pg = off / PAGE;
            CHECK_MSG(pg < NPAGES && (off % PAGE) % s.cls[id].size == 0 &&
                          (off % PAGE) + s.cls[id].size <= PAGE, "chunk at %llu", (unsigned long long)off);
            if (s.next_page > pages) /* a new page, given to this class */
                owner[s.next_page - 1] = (unsigned char)id;
            CHECK_MSG(owner[pg] == id, "chunk of class %u in a page of class %u", id, owner[pg]);
            memset(p, (int)(n & 0xff), s.cls[id].size);
            ptr[n] = p;
            cls[n++] = id;
        } else {
            unsigned i = (unsigned)rand() % n;
            const unsigned char *q = ptr[i];
            for (uint32_t k = 0; k < s.cls[cls[i]].size; k++)
                if (q[k] != (unsigned char)(i & 0xff)) {
                    CHECK_MSG(0, "chunk %u was overwritten (overlapping chunks)", i);
                    break;
                }
            slab_free(&s, ptr[i], cls[i]);
            n--;
            if (i != n) {
                ptr[i] = ptr[n];
                cls[i] = cls[n];
                memset(ptr[i], (int)(i & 0xff), s.cls[cls[i]].size);
            }
        }
    }
    CHECK_MSG(s.next_page == NPAGES, "the arena never filled");
    while (n) {
        n--;
        slab_free(&s, ptr[n], cls[n]);
    }
    for (unsigned id = 1; id <= s.largest; id++) {
        const struct slab_class *c = &s.cls[id];
        CHECK_MSG(c->used == 0 && c->nfree + c->end_left == c->pages * c->perslab, "class %u: %llu used, %llu free of %llu",
                  id, (unsigned long long)c->used, (unsigned long long)(c->nfree + c->end_left),
                  (unsigned long long)(c->pages * c->perslab));
    }
}

/* Every class's chunks are all free (none leaked or freed twice) once the store is empty. */
static void check_store_empty(const char *when)
{
    struct kv_class_stats k;
    for (unsigned id = 1; kv_class_stats(id, &k); id++)
        CHECK_MSG(k.used_chunks == 0 && k.number == 0 && k.mem_requested == 0 && k.free_chunks == k.total_chunks,
                  "%s: class %u: %llu used, %llu items, %llu free of %llu", when, id, (unsigned long long)k.used_chunks,
                  (unsigned long long)k.number, (unsigned long long)k.free_chunks, (unsigned long long)k.total_chunks);
}

static struct kv_item *put(uint32_t i, uint32_t exptime)
{
    char key[32];
    int nk = snprintf(key, sizeof key, "key%u", i);
    uint32_t nbytes = 2 + (i * 37) % 5000;
    struct kv_item *it = kv_alloc(key, (size_t)nk, 0, exptime, nbytes);
    if (it) {
        memset(kv_item_val(it), 'v', nbytes);
        kv_link(it);
    }
    return it;
}

/* The store over slabs: items of many sizes until eviction runs, then deletes, expiry and
 * flush: no chunk leaks. */
static void test_store(void)
{
    static char mem[8 << 20] __attribute__((aligned(64)));
    memset(mem, 0, sizeof mem);
    CHECK_MSG(kv_store_init(mem, sizeof mem, 64 << 10, 0) == 0, "init");
    kv_store_publish();
    kv_lock();
    for (uint32_t i = 0; i < 20000; i++)
        CHECK_MSG(put(i, 0) != 0, "set %u refused", i);
    struct kv_class_stats k;
    uint64_t items = 0, used = 0, pages = 0;
    for (unsigned id = 1; kv_class_stats(id, &k); id++) {
        items += k.number;
        used += k.used_chunks;
        pages += k.total_pages;
        CHECK_MSG(k.used_chunks <= k.total_chunks, "class %u over its chunks", id);
    }
    kv_unlock();
    struct kv_counters s;
    kv_stats_total(&s); /* takes the lock */
    kv_lock();
    CHECK_MSG(s.evictions > 0, "no evictions");
    CHECK_MSG(items == s.curr_items && used == items, "%llu items, %llu chunks used, curr_items %llu",
              (unsigned long long)items, (unsigned long long)used, (unsigned long long)s.curr_items);
    CHECK_MSG(pages * kv_slab_page_size() == kv_slab_malloced() && kv_slab_malloced() <= s.limit_maxbytes, "pages");
    /* delete what is left, odd keys first; expire some new ones; flush the rest */
    for (uint32_t i = 0; i < 20000; i++) {
        char key[32];
        int nk = snprintf(key, sizeof key, "key%u", i);
        struct kv_item *it = kv_find(key, (size_t)nk);
        if (it && i % 2)
            kv_unlink(it);
    }
    for (uint32_t i = 20000; i < 20500; i++)
        put(i, kv_exptime(-1)); /* already expired: gone when next looked up */
    for (uint32_t i = 20000; i < 20500; i++) {
        char key[32];
        int nk = snprintf(key, sizeof key, "key%u", i);
        CHECK_MSG(kv_find(key, (size_t)nk) == 0, "expired key%u found", i);
    }
    kv_flush(0);
    check_store_empty("after deletes, expiry and flush");
    /* freed chunks serve new items without new pages */
    uint64_t before = kv_slab_malloced();
    for (uint32_t i = 0; i < 200; i++)
        put(i, 0);
    CHECK_MSG(kv_slab_malloced() == before, "new pages although chunks were free");
    kv_flush(0);
    check_store_empty("after a second flush");
    kv_unlock();
}

/* Sizes that only grow (each new class appears after the arena is full, the case that
 * leaves memcached without slab reassignment out of memory): every set is stored, pages
 * move to the classes that need them, and no chunk leaks. */
static void test_page_move(void)
{
    static char mem[4 << 20] __attribute__((aligned(64)));
    memset(mem, 0, sizeof mem);
    CHECK_MSG(kv_store_init(mem, sizeof mem, 64 << 10, 0) == 0, "init");
    kv_store_publish();
    kv_lock();
    uint32_t n = 0;
    for (uint32_t size = 100; size < 60000 && !check_failures; size += 1 + size / 200)
        for (int rep = 0; rep < 40; rep++, n++) {
            char key[32];
            int nk = snprintf(key, sizeof key, "k%u", n);
            struct kv_item *it = kv_alloc(key, (size_t)nk, 0, 0, size);
            CHECK_MSG(it != 0, "%u bytes refused", size);
            if (!it)
                break;
            memset(kv_item_val(it), 'm', size);
            kv_link(it);
        }
    CHECK_MSG(kv_slabs_moved() > 0, "no page moved");
    uint64_t items = 0, used = 0;
    struct kv_class_stats k;
    for (unsigned id = 1; kv_class_stats(id, &k); id++) {
        items += k.number;
        used += k.used_chunks;
        CHECK_MSG(k.free_chunks + k.used_chunks == k.total_chunks, "class %u: %llu free + %llu used of %llu", id,
                  (unsigned long long)k.free_chunks, (unsigned long long)k.used_chunks,
                  (unsigned long long)k.total_chunks);
    }
    CHECK_MSG(items == used && items > 0, "%llu items in %llu chunks", (unsigned long long)items, (unsigned long long)used);
    kv_flush(0);
    check_store_empty("after page moves and a flush");
    kv_unlock();
}

void kvt_slab(void)
{
    test_classes();
    test_alloc();
    test_store();
    test_page_move();
}
