/* kvstore: storage commands (set/add/replace/append/prepend/cas) and incr/decr, with
 * memcached 1.6's replies: which errors swallow the value (only a value the store refuses:
 * too large or no memory; a bad command line leaves the data line to be read as a command),
 * noreply silencing every reply, a refused set deleting the old value, and incr/decr keeping
 * a value's length (padded with spaces) when the result fits. */
#include "../../lib/fmt.h"
#include "cmd.h"

#define KV_INT_MAX 2147483647

static void swallow(struct kv_conn *c, uint64_t bytes)
{
    c->state = KV_SWALLOW;
    c->data_left = bytes;
}

void kv_cmd_store(struct kv_conn *c, int cmd, struct kv_tok *t, uint32_t ntok)
{
    kv_noreply_maybe(c, t, ntok);
    uint32_t flags;
    int32_t exptime, vlen;
    uint64_t cas = 0;
    if (t[1].n > KV_KEY_MAX || !kv_num_u32(&t[2], &flags) || !kv_num_i32(&t[3], &exptime) ||
        !kv_num_i32(&t[4], &vlen) || (cmd == C_CAS && !kv_num_u64(&t[5], &cas)) || vlen < 0 ||
        vlen > KV_INT_MAX - 2) {
        kv_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    uint32_t nbytes = (uint32_t)vlen + 2;
    uint32_t exp = kv_exptime(exptime);
    kv_stats.cmd_set++;
    struct kv_item *it = 0;
    int too_large = !kv_item_size_ok(t[1].n, flags, nbytes);
    if (!too_large) {
        kv_lock();
        it = kv_alloc(t[1].p, t[1].n, flags, exp, nbytes);
        kv_unlock();
    }
    if (!it) {
        if (too_large)
            kv_stats.store_too_large++;
        else
            kv_stats.store_no_memory++;
        kv_reply(c, too_large ? "SERVER_ERROR object too large for cache" : "SERVER_ERROR out of memory storing object");
        swallow(c, nbytes);
        if (cmd == C_SET) { /* memcached: a refused set must not leave the old value readable */
            kv_lock();
            struct kv_item *old = kv_find(t[1].p, t[1].n);
            if (old)
                kv_unlink(old);
            kv_unlock();
        }
        return;
    }
    c->pend = it;
    c->pend_cmd = (uint8_t)cmd;
    c->pend_noreply = c->noreply;
    c->pend_cas = cas;
    c->data_off = 0;
    c->data_left = nbytes;
    c->state = KV_DATA;
}

/* append/prepend: a new item holding old + new (items are never changed once linked). */
struct kv_item *kv_concat(struct kv_item *old, struct kv_item *add, int append)
{
    uint32_t nbytes = old->nbytes - 2 + add->nbytes;
    if (!kv_item_size_ok(old->nkey, old->flags, nbytes))
        return 0;
    kv_pin(old); /* eviction for the new item must not take the old one */
    struct kv_item *it = kv_alloc(kv_item_key(old), old->nkey, old->flags, old->exptime, nbytes);
    kv_unpin_locked(old);
    if (!it)
        return 0;
    struct kv_item *a = append ? old : add, *b = append ? add : old;
    __builtin_memcpy(kv_item_val(it), kv_item_val(a), a->nbytes - 2);
    __builtin_memcpy(kv_item_val(it) + a->nbytes - 2, kv_item_val(b), b->nbytes);
    return it;
}

void kv_cmd_value_done(struct kv_conn *c)
{
    struct kv_item *it = c->pend;
    c->noreply = c->pend_noreply;
    c->pend = 0;
    c->state = KV_LINE;
    const char *v = kv_item_val(it);
    kv_lock(); /* find, compare and link as one step: a cas or add racing on another core */
    if (v[it->nbytes - 2] != '\r' || v[it->nbytes - 1] != '\n') {
        kv_discard(it);
        kv_unlock();
        kv_reply(c, "CLIENT_ERROR bad data chunk");
        c->noreply = 0;
        return;
    }
    struct kv_item *old = kv_find(kv_item_key(it), it->nkey);
    if (c->pend_cmd == C_META) {
        struct kv_item *linked;
        const char *code = kv_meta_store(c, it, old, &linked);
        kv_meta_store_reply(c, code, linked); /* under the lock: the cas of what was linked */
        if (linked != it)
            kv_discard(it);
        kv_unlock();
        return;
    }
    const char *r = "STORED";
    switch (c->pend_cmd) {
    case C_SET:
        kv_link(it);
        break;
    case C_ADD:
        if (old) {
            kv_bump(old);
            r = "NOT_STORED";
            kv_discard(it);
        } else {
            kv_link(it);
        }
        break;
    case C_REPLACE:
        if (old)
            kv_link(it);
        else {
            r = "NOT_STORED";
            kv_discard(it);
        }
        break;
    case C_APPEND:
    case C_PREPEND: {
        struct kv_item *n = old ? kv_concat(old, it, c->pend_cmd == C_APPEND) : 0;
        kv_discard(it);
        if (!n)
            r = "NOT_STORED"; /* no old value, or the result too large: as memcached */
        else
            kv_link(n);
        break;
    }
    case C_CAS:
        if (!old) {
            kv_stats.cas_misses++;
            r = "NOT_FOUND";
            kv_discard(it);
        } else if (old->cas != c->pend_cas) {
            kv_stats.cas_badval++;
            r = "EXISTS";
            kv_discard(it);
        } else {
            kv_stats.cas_hits++;
            kv_link(it);
        }
        break;
    }
    kv_unlock();
    kv_reply(c, r);
    c->noreply = 0;
}

void kv_cmd_arith(struct kv_conn *c, int incr, struct kv_tok *t, uint32_t ntok)
{
    kv_noreply_maybe(c, t, ntok);
    uint64_t delta;
    if (t[1].n > KV_KEY_MAX) {
        kv_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    if (!kv_num_u64(&t[2], &delta)) {
        kv_reply(c, "CLIENT_ERROR invalid numeric delta argument");
        return;
    }
    kv_lock(); /* read, compute and link the new value as one step */
    struct kv_item *old = kv_find(t[1].p, t[1].n);
    if (!old) {
        kv_unlock();
        if (incr)
            kv_stats.incr_misses++;
        else
            kv_stats.decr_misses++;
        kv_reply(c, "NOT_FOUND");
        return;
    }
    uint64_t v;
    /* memcached keeps values over its largest slab chunk in chunks it does not parse */
    if (old->nbytes <= 2 || kv_item_chunked(old->nkey, old->flags, old->nbytes) ||
        !kv_num_value(kv_item_val(old), old->nbytes, &v)) {
        kv_unlock();
        kv_reply(c, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        return;
    }
    if (incr) {
        v += delta; /* wraps at 2^64 as memcached does */
        kv_stats.incr_hits++;
    } else {
        v = delta > v ? 0 : v - delta;
        kv_stats.decr_hits++;
    }
    char num[24];
    struct kv_item *it = kv_arith_item(c, old, kv_item_key(old), old->nkey, old->exptime, v, num);
    if (!it) {
        kv_unlock();
        kv_reply(c, "SERVER_ERROR out of memory");
        return;
    }
    kv_link(it);
    kv_unlock();
    kv_reply(c, num);
}

struct kv_item *kv_arith_item(struct kv_conn *c, struct kv_item *old, const char *key, uint32_t nkey,
                              uint32_t exptime, uint64_t v, char num[24])
{
    uint32_t len = (uint32_t)ix_snprintf(num, 24, "%llu", (unsigned long long)v);
    /* memcached rewrites the value in place when the number fits, padding with spaces (not
     * when a reply it has not written yet holds the item: then it is a new item of the
     * number's length; that depends on its reads, and the differential test masks it) */
    (void)c;
    uint32_t nbytes = old && len + 2 <= old->nbytes ? old->nbytes : len + 2;
    if (old)
        kv_pin(old);
    struct kv_item *it = kv_alloc(key, nkey, old ? old->flags : 0, exptime, nbytes);
    if (it && old && nbytes == old->nbytes)
        it->fetched = old->fetched; /* memcached's item rewritten in place keeps its mark (meta h) */
    if (old)
        kv_unpin_locked(old);
    if (!it)
        return 0;
    char *d = kv_item_val(it);
    __builtin_memcpy(d, num, len);
    for (uint32_t i = len; i < nbytes - 2; i++)
        d[i] = ' ';
    d[nbytes - 2] = '\r';
    d[nbytes - 1] = '\n';
    return it;
}
