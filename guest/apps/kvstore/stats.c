/* kvstore: `stats` and its sub-commands, with the fields memcached's tools read
 * (memcstat, memcached-tool, libmemcached's memcached_stat). Values are this store's own:
 * the differential test masks them (docs/kvstore.md). */
#include "../../lib/fmt.h"
#include "cmd.h"
#include "slab.h"

extern uint32_t kv_ncores, kv_conns_max, kv_port;

#define LLU(x) ((unsigned long long)(x))

static void line(struct kv_conn *c, const char *name, unsigned long long v)
{
    kv_reply_fmt(c, 96, "STAT %s %llu\r\n", name, v);
}

static void general(struct kv_conn *c)
{
    struct kv_counters total;
    kv_stats_total(&total); /* all cores sharing the store */
    const struct kv_counters *s = &total;
    uint32_t up = kv_now() - 10;
    uint64_t epoch = kv_epoch();
    line(c, "pid", kv_core + 1);
    line(c, "uptime", up);
    line(c, "time", epoch ? epoch + up : up);
    kv_reply(c, "STAT version " KV_VERSION);
    kv_reply(c, "STAT pointer_size 64");
    kv_reply(c, "STAT rusage_user 0.000000");
    kv_reply(c, "STAT rusage_system 0.000000");
    line(c, "max_connections", (uint64_t)kv_conns_max * kv_ncores);
    line(c, "curr_connections", s->curr_connections);
    line(c, "total_connections", s->total_connections);
    line(c, "rejected_connections", s->rejected_connections);
    line(c, "connection_structures", (uint64_t)kv_conns_max * kv_ncores);
    line(c, "bytes_read", s->bytes_read);
    line(c, "bytes_written", s->bytes_written);
    line(c, "accepting_conns", 1); /* never stops accepting: a full pool refuses each one */
    line(c, "listen_disabled_num", 0);
    line(c, "cmd_meta", s->cmd_meta);
    line(c, "store_too_large", s->store_too_large);
    line(c, "store_no_memory", s->store_no_memory);
    line(c, "cmd_get", s->cmd_get);
    line(c, "cmd_set", s->cmd_set);
    line(c, "cmd_flush", s->cmd_flush);
    line(c, "cmd_touch", s->cmd_touch);
    line(c, "get_hits", s->get_hits);
    line(c, "get_misses", s->get_misses);
    line(c, "get_expired", s->get_expired);
    line(c, "get_flushed", s->get_flushed);
    line(c, "delete_misses", s->delete_misses);
    line(c, "delete_hits", s->delete_hits);
    line(c, "incr_misses", s->incr_misses);
    line(c, "incr_hits", s->incr_hits);
    line(c, "decr_misses", s->decr_misses);
    line(c, "decr_hits", s->decr_hits);
    line(c, "cas_misses", s->cas_misses);
    line(c, "cas_hits", s->cas_hits);
    line(c, "cas_badval", s->cas_badval);
    line(c, "touch_hits", s->touch_hits);
    line(c, "touch_misses", s->touch_misses);
    line(c, "threads", kv_ncores);
    line(c, "limit_maxbytes", s->limit_maxbytes);
    line(c, "bytes", s->bytes);
    line(c, "curr_items", s->curr_items);
    line(c, "total_items", s->total_items);
    line(c, "expired_unfetched", s->expired_unfetched);
    line(c, "evicted_unfetched", s->evicted_unfetched);
    line(c, "evictions", s->evictions);
    line(c, "reclaimed", s->reclaimed);
    kv_lock();
    uint64_t moved = kv_slabs_moved();
    kv_unlock();
    line(c, "slabs_moved", moved);
    /* kvstore's own */
    line(c, "core", kv_core);
    line(c, "lock_waits", s->lock_waits);
    line(c, "input_overflows", s->input_overflows);
    kv_reply(c, "END");
}

static void settings(struct kv_conn *c)
{
    struct kv_counters s;
    kv_stats_total(&s);
    line(c, "maxbytes", s.limit_maxbytes);
    line(c, "maxconns", (uint64_t)kv_conns_max * kv_ncores);
    line(c, "tcpport", kv_port);
    line(c, "udpport", 0);
    line(c, "verbosity", 0);
    line(c, "num_threads", kv_ncores);
    kv_reply(c, "STAT evictions on");
    uint32_t smin, sfactor;
    kv_store_slab_get(&smin, &sfactor);
    kv_reply_fmt(c, 96, "STAT growth_factor %u.%02u\r\n", sfactor / 100, sfactor % 100);
    line(c, "chunk_size", smin);
    line(c, "item_size_max", kv_item_max());
    kv_lock();
    uint64_t page = kv_slab_page_size();
    kv_unlock();
    line(c, "slab_page_size", page);
    kv_reply(c, "STAT slab_reassign no");
    kv_reply(c, "STAT cas_enabled yes");
    kv_reply(c, "STAT binding_protocol ascii");
    kv_reply(c, "STAT flush_enabled yes");
    kv_reply(c, "END");
}

/* One slab class's figures, read under the store's lock; 0 past the last class. */
static int class_stats(unsigned id, struct kv_class_stats *k)
{
    kv_lock();
    int ok = kv_class_stats(id, k);
    kv_unlock();
    return ok;
}

/* Per slab class with items (memcached prints the classes with items; age: seconds since
 * the class's LRU tail was last used). */
static void items(struct kv_conn *c)
{
    for (unsigned id = 1; id < SLAB_CLASSES; id++) {
        struct kv_class_stats k;
        if (!class_stats(id, &k))
            break;
        if (!k.number)
            continue;
        const char *names[] = {"number", "age", "mem_requested", "evicted", "evicted_nonzero", "evicted_time",
                               "outofmemory", "tailrepairs", "reclaimed", "expired_unfetched", "evicted_unfetched"};
        uint64_t v[] = {k.number, k.age, k.mem_requested, k.evicted, k.evicted_nonzero, k.evicted_time,
                        k.outofmemory, 0, k.reclaimed, k.expired_unfetched, k.evicted_unfetched};
        for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++)
            kv_reply_fmt(c, 96, "STAT items:%u:%s %llu\r\n", id, names[i], LLU(v[i]));
    }
    kv_reply(c, "END");
}

/* Per slab class with pages, then the totals, as memcached's `stats slabs`. */
static void slabs(struct kv_conn *c)
{
    unsigned active = 0;
    for (unsigned id = 1; id < SLAB_CLASSES; id++) {
        struct kv_class_stats k;
        if (!class_stats(id, &k))
            break;
        if (!k.total_pages)
            continue;
        active++;
        const char *names[] = {"chunk_size", "chunks_per_page", "total_pages", "total_chunks", "used_chunks",
                               "free_chunks", "free_chunks_end", "mem_requested"};
        uint64_t v[] = {k.chunk_size, k.chunks_per_page, k.total_pages, k.total_chunks, k.used_chunks,
                        k.free_chunks, k.free_chunks_end, k.mem_requested};
        for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++)
            kv_reply_fmt(c, 96, "STAT %u:%s %llu\r\n", id, names[i], LLU(v[i]));
    }
    line(c, "active_slabs", active);
    kv_lock();
    uint64_t malloced = kv_slab_malloced();
    kv_unlock();
    line(c, "total_malloced", malloced);
    kv_reply(c, "END");
}

void kv_cmd_stats(struct kv_conn *c, struct kv_tok *t, uint32_t ntok)
{
    if (ntok == 2) {
        general(c);
        return;
    }
    const struct kv_tok *sub = &t[1];
    if (kv_tok_is(sub, "reset")) {
        kv_lock();
        kv_stats_reset();
        kv_unlock();
        kv_reply(c, "RESET");
    } else if (kv_tok_is(sub, "detail")) {
        if (ntok >= 4 && (kv_tok_is(&t[2], "on") || kv_tok_is(&t[2], "off")))
            kv_reply(c, "OK"); /* accepted; no per-prefix statistics are kept */
        else if (ntok >= 4 && kv_tok_is(&t[2], "dump"))
            kv_reply(c, "END");
        else
            kv_reply(c, "CLIENT_ERROR usage: stats detail on|off|dump");
    } else if (kv_tok_is(sub, "cachedump")) {
        uint32_t id, limit;
        if (ntok < 5)
            kv_reply(c, "CLIENT_ERROR bad command line");
        else if (!kv_num_u32(&t[2], &id) || !kv_num_u32(&t[3], &limit))
            kv_reply(c, "CLIENT_ERROR bad command line format");
        else if (id >= 64)
            kv_reply(c, "CLIENT_ERROR Illegal slab id");
        else
            kv_reply(c, "END");
    } else if (kv_tok_is(sub, "settings")) {
        settings(c);
    } else if (kv_tok_is(sub, "items")) {
        items(c);
    } else if (kv_tok_is(sub, "slabs")) {
        slabs(c);
    } else if (kv_tok_is(sub, "sizes") || kv_tok_is(sub, "conns")) {
        kv_reply(c, "END");
    } else {
        kv_reply(c, "ERROR");
    }
}
