/* kvstore: `stats` and its sub-commands, with the fields memcached's tools read
 * (memcstat, memcached-tool, libmemcached's memcached_stat). Values are this store's own:
 * the differential test masks them (docs/kvstore.md). */
#include "../../lib/fmt.h"
#include "cmd.h"

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
    line(c, "item_size_max", kv_item_max());
    kv_reply(c, "STAT cas_enabled yes");
    kv_reply(c, "STAT binding_protocol ascii");
    kv_reply(c, "STAT flush_enabled yes");
    kv_reply(c, "END");
}

/* One "slab class": the store has one arena for all sizes (docs/kvstore.md, Memory). */
static void items(struct kv_conn *c)
{
    struct kv_counters s;
    kv_stats_total(&s);
    kv_lock();
    uint32_t age = kv_oldest_age();
    kv_unlock();
    if (s.curr_items) {
        line(c, "items:1:number", s.curr_items);
        line(c, "items:1:age", age);
        line(c, "items:1:evicted", s.evictions);
        line(c, "items:1:evicted_unfetched", s.evicted_unfetched);
        line(c, "items:1:expired_unfetched", s.expired_unfetched);
        line(c, "items:1:reclaimed", s.reclaimed);
        line(c, "items:1:outofmemory", s.alloc_failures);
    }
    kv_reply(c, "END");
}

static void slabs(struct kv_conn *c)
{
    struct kv_counters s;
    kv_stats_total(&s);
    uint64_t used, size;
    kv_lock();
    kv_arena_usage(&used, &size);
    kv_unlock();
    if (s.curr_items) {
        line(c, "1:chunk_size", 64);
        line(c, "1:total_pages", size >> 20);
        line(c, "1:used_chunks", s.curr_items);
        line(c, "1:mem_requested", s.bytes);
    }
    line(c, "active_slabs", s.curr_items ? 1 : 0);
    line(c, "total_malloced", used);
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
