/* kvstore: the meta commands of memcached's text protocol (mg, ms, md, ma, mn, me), with the
 * replies, flag order and error texts of memcached 1.6.18 (checked against it by the
 * differential test). A command is "<cmd> <key> <flag tokens>*": each flag is one character,
 * some with a value after it (T30, Oopaque). The return flags (c, f, h, k, l, O, s, t) are
 * written in the order the request named them. q makes the common answer silent (mg: EN;
 * ms, md, ma: HD). The flags are parsed in meta_flags.c. Not implemented (docs/kvstore.md):
 * the lease flags N on mg, R, and the stale/win state of I (accepted, no effect). */
#include "../../lib/fmt.h"
#include "cmd.h"
#include "meta.h"

#define META_ROOM 400

static int is_ret(const struct kv_meta *m, char ch)
{
    for (uint32_t i = 0; i < m->nret; i++)
        if (m->ret[i] == ch)
            return 1;
    return 0;
}

/* " k<key>" and " O<opaque>", in request order (the flags a miss returns; an ms miss also
 * " c0"). hit: an mg hit answers the decoded key, everything else the token as sent and
 * " b" after it. */
static uint32_t ret_key_opaque_hit(const struct kv_meta *m, char *p, int hit)
{
    uint32_t n = 0;
    int enc = m->b && !(hit && m->op == 'g'); /* sic: an mg hit answers it decoded */
    for (uint32_t i = 0; i < m->nret; i++) {
        if (m->ret[i] == 'c' && m->op == 's' && !hit) {
            __builtin_memcpy(p + n, " c0", 3);
            n += 3;
        } else if (m->ret[i] == 'k') {
            const struct kv_tok *k = enc ? &m->raw : &m->key;
            p[n++] = ' ';
            p[n++] = 'k';
            __builtin_memcpy(p + n, k->p, k->n);
            n += k->n;
            if (enc) {
                __builtin_memcpy(p + n, " b", 2);
                n += 2;
            }
        } else if (m->ret[i] == 'O') {
            __builtin_memcpy(p + n, " ", 1);
            __builtin_memcpy(p + n + 1, m->opaque.p, m->opaque.n);
            n += 1 + m->opaque.n;
        }
    }
    return n;
}

static uint32_t ret_key_opaque(const struct kv_meta *m, char *p) { return ret_key_opaque_hit(m, p, 0); }

/* The return flags of a hit in request order: those in `which` (of c f h k l O s t). */
static uint32_t ret_flags(const struct kv_meta *m, struct kv_item *it, const char *which, uint32_t hit_before,
                          uint32_t last, char *p)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->nret; i++) {
        char ch = m->ret[i];
        /* mg, ma: the new ttl holds from its place in the flags on (a t before it shows the
         * old one); ma's N, for an item it created, likewise */
        if (ch == 'T' && (m->op == 'g' || m->op == 'a'))
            it->exptime = kv_exptime(m->ttl);
        if (ch == 'N' && m->op == 'a' && m->made)
            it->exptime = kv_exptime(m->viv);
        int want = 0;
        for (const char *w = which; *w; w++)
            want |= *w == ch;
        if (!want)
            continue;
        if (ch == 'k' || ch == 'O') {
            struct kv_meta one = *m;
            one.nret = 1;
            one.ret[0] = ch;
            n += ret_key_opaque_hit(&one, p + n, 1);
            continue;
        }
        int w = 0;
        switch (ch) {
        case 'c': w = ix_snprintf(p + n, 32, " c%llu", (unsigned long long)it->cas); break;
        case 'f': w = ix_snprintf(p + n, 32, " f%u", it->flags); break;
        case 'h': w = ix_snprintf(p + n, 32, " h%u", hit_before); break;
        case 'l': w = ix_snprintf(p + n, 32, " l%u", last); break;
        case 's': w = ix_snprintf(p + n, 32, " s%u", it->nbytes - 2); break;
        case 't':
            /* unsigned, as memcached prints it: a time already past wraps */
            w = it->exptime == 0 ? ix_snprintf(p + n, 32, " t-1") : ix_snprintf(p + n, 32, " t%u", it->exptime - kv_now());
            break;
        }
        n += (uint32_t)w;
    }
    return n;
}

static void reply_n(struct kv_conn *c, const char *code, const char *flags, uint32_t nflags)
{
    char *p = kv_out_reserve(c, META_ROOM + KV_KEY_MAX);
    if (!p)
        return;
    uint32_t n = 0;
    while (code[n]) {
        p[n] = code[n];
        n++;
    }
    __builtin_memcpy(p + n, flags, nflags);
    n += nflags;
    p[n++] = '\r';
    p[n++] = '\n';
    kv_out_commit(c, n);
}

static void reply_miss(struct kv_conn *c, const struct kv_meta *m, const char *code)
{
    char f[META_ROOM];
    reply_n(c, code, f, ret_key_opaque(m, f));
}

/* ---- mg ------------------------------------------------------------------------------- */

static void meta_get(struct kv_conn *c, struct kv_meta *m)
{
    kv_stats.cmd_get++;
    kv_lock();
    struct kv_item *it = kv_find(m->key.p, m->key.n);
    if (!it) {
        kv_unlock();
        kv_stats.get_misses++;
        if (!m->q)
            reply_miss(c, m, "EN");
        return;
    }
    uint32_t hit_before = it->fetched, last = kv_now() - it->atime;
    char f[META_ROOM];
    uint32_t nf = ret_flags(m, it, "cfhklOst", hit_before, last, f); /* applies T */
    if (!is_ret(m, 'u')) { /* u: neither bumped nor marked fetched */
        kv_bump(it);
        it->fetched = 1;
    }
    kv_pin(it);
    kv_unlock();
    kv_stats.get_hits++;
    if (is_ret(m, 'v')) {
        char code[24];
        ix_snprintf(code, sizeof code, "VA %u", it->nbytes - 2);
        reply_n(c, code, f, nf);
        kv_out_item(c, it);
    } else {
        kv_unpin(it);
        reply_n(c, "HD", f, nf);
    }
}

/* ---- ms ------------------------------------------------------------------------------- */

static void meta_set(struct kv_conn *c, struct kv_meta *m, const struct kv_tok *t, uint32_t n)
{
    int32_t vlen;
    if (n < 4 || m->key.n > KV_KEY_MAX || !kv_num_i32(&t[2], &vlen) || vlen < 0 || vlen > 2147483645) {
        kv_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    uint32_t nbytes = (uint32_t)vlen + 2;
    const char *err = kv_meta_preparse(m, t, 3, n, 0);
    if (!err)
        err = kv_meta_own_pass(m);
    if (!err && !kv_item_size_ok(m->key.n, m->flags, nbytes)) {
        err = "SERVER_ERROR object too large for cache";
        kv_stats.store_too_large++;
    }
    struct kv_item *it = 0;
    if (!err) {
        kv_stats.cmd_set++;
        kv_lock();
        it = kv_alloc(m->key.p, m->key.n, m->flags, kv_exptime(m->has_ttl ? m->ttl : 0), nbytes);
        kv_unlock();
        if (!it) {
            err = "SERVER_ERROR out of memory storing object";
            kv_stats.store_no_memory++;
        }
    }
    if (err) {
        kv_reply(c, err);
        c->state = KV_SWALLOW;
        c->data_left = nbytes;
        return;
    }
    c->pend = it;
    c->pend_cmd = C_META;
    c->pend_noreply = 0;
    c->pend_cas = m->cas;
    c->meta = *m; /* key and opaque pointed into the line: to the item's key and a copy */
    c->meta.key = (struct kv_tok){kv_item_key(it), m->key.n};
    __builtin_memcpy(c->meta_text, m->opaque.p, m->opaque.n);
    c->meta.opaque.p = c->meta_text;
    __builtin_memcpy(c->meta_text + 40, m->raw.p, m->raw.n);
    c->meta.raw.p = c->meta_text + 40;
    c->data_off = 0;
    c->data_left = nbytes;
    c->state = KV_DATA;
}

/* The value of an ms arrived whole and well terminated (lock held). Returns the code. */
const char *kv_meta_store(struct kv_conn *c, struct kv_item *it, struct kv_item *old, struct kv_item **linked)
{
    const struct kv_meta *m = &c->meta;
    char mode = m->mode ? m->mode : 'S';
    *linked = 0;
    if (m->has_cas && (mode == 'S' || mode == 'R')) {
        if (!old)
            return "NF";
        if (old->cas != m->cas)
            return "EX";
    }
    if ((mode == 'E' && old) || ((mode == 'R' || mode == 'A' || mode == 'P') && !old))
        return "NS";
    if (mode == 'A' || mode == 'P') {
        /* memcached's do_store_item: for append/prepend a cas of 0 compares nothing */
        if (m->has_cas && m->cas && old->cas != m->cas)
            return "EX";
        struct kv_item *n = kv_concat(old, it, mode == 'A');
        if (!n)
            return "NS";
        kv_link(n);
        *linked = n;
        return "HD";
    }
    kv_link(it);
    *linked = it;
    return "HD";
}

void kv_meta_store_reply(struct kv_conn *c, const char *code, struct kv_item *it)
{
    const struct kv_meta *m = &c->meta;
    if (m->q && code[0] == 'H')
        return;
    char f[META_ROOM];
    uint32_t nf = it ? ret_flags(m, it, "ckO", 0, 0, f) : ret_key_opaque(m, f);
    reply_n(c, code, f, nf);
}

/* ---- md ------------------------------------------------------------------------------- */

static void meta_delete(struct kv_conn *c, struct kv_meta *m)
{
    kv_lock();
    struct kv_item *it = kv_find(m->key.p, m->key.n);
    const char *code = "HD";
    if (!it)
        code = "NF";
    else if (m->has_cas && it->cas != m->cas)
        code = "EX";
    else
        kv_unlink(it);
    kv_unlock();
    if (code[0] == 'H')
        kv_stats.delete_hits++;
    else if (code[0] == 'N')
        kv_stats.delete_misses++;
    if (m->q && code[0] == 'H')
        return;
    reply_miss(c, m, code);
}

/* ma that created its item: the c and t flags named before N read c0 and t-1 (memcached
 * 1.6.18 fills them in before it has the new item). Rewrites f in place. */
static uint32_t viv_flags(const struct kv_meta *m, char *f, uint32_t nf)
{
    char out[META_ROOM];
    uint32_t o = 0, i = 0, before_n = 1;
    for (uint32_t r = 0; r < m->nret; r++) {
        char ch = m->ret[r];
        if (ch == 'N')
            before_n = 0;
        if (!kv_meta_one_of(ch, "ctkO"))
            continue;
        uint32_t start = i; /* this flag's text: up to the next " <flag>" */
        i++;
        while (i < nf && f[i] != ' ')
            i++;
        if (ch == 'k' && m->b) /* " k<key> b": the b belongs to it */
            i += 2;
        if (before_n && (ch == 'c' || ch == 't')) {
            __builtin_memcpy(out + o, ch == 'c' ? " c0" : " t-1", ch == 'c' ? 3 : 4);
            o += ch == 'c' ? 3 : 4;
        } else {
            __builtin_memcpy(out + o, f + start, i - start);
            o += i - start;
        }
    }
    __builtin_memcpy(f, out, o);
    return o;
}

/* ---- ma ------------------------------------------------------------------------------- */

static void meta_arith(struct kv_conn *c, struct kv_meta *m)
{
    int incr = m->mode != 'D' && m->mode != '-'; /* the others refused by own_pass */
    if (!is_ret(m, 'D'))
        m->delta = 1;
    kv_lock();
    struct kv_item *old = kv_find(m->key.p, m->key.n);
    uint64_t v;
    char num[24];
    struct kv_item *it;
    int created = 0;
    if (!old) {
        if (m->opaque.n > KV_META_OPAQUE_MAX) {
            kv_unlock();
            kv_reply(c, "CLIENT_ERROR opaque token too long");
            return;
        }
        if (!m->has_viv) {
            kv_unlock();
            reply_miss(c, m, "NF");
            return;
        }
        /* created with N's ttl; as memcached 1.6.18 answers: q does not silence it, and
         * c and t named before N show c0 and t-1 */
        v = is_ret(m, 'J') ? m->initial : 0;
        it = kv_arith_item(c, 0, m->key.p, m->key.n, 0, v, num); /* N's ttl at its place */
        created = m->made = 1;
    } else {
        /* memcached 1.6.18's order (its do_add_delta, then the reply): an empty or chunked
         * value is non-numeric, then the cas (C0 is none; a mismatch still checks the
         * opaque's length, as every reply does), then the value must be a number; the
         * opaque's length of a stored result only when it writes the reply */
        if (old->nbytes <= 2 || kv_item_chunked(old->nkey, old->flags, old->nbytes))
            goto non_numeric;
        if (m->has_cas && m->cas && old->cas != m->cas) {
            kv_unlock();
            if (m->opaque.n > KV_META_OPAQUE_MAX)
                kv_reply(c, "CLIENT_ERROR opaque token too long");
            else
                reply_miss(c, m, "EX");
            return;
        }
        if (!kv_num_value(kv_item_val(old), old->nbytes, &v))
            goto non_numeric;
        v = incr ? v + m->delta : m->delta > v ? 0 : v - m->delta;
        /* the old ttl: a T applies at its place among the return flags */
        it = kv_arith_item(c, old, kv_item_key(old), old->nkey, old->exptime, v, num);
    }
    if (!it) {
        kv_unlock();
        kv_reply(c, "SERVER_ERROR out of memory");
        return;
    }
    kv_link(it);
    char f[META_ROOM];
    uint32_t nf = ret_flags(m, it, "ctkO", 0, 0, f);
    if (created)
        nf = viv_flags(m, f, nf);
    kv_unlock();
    if (m->opaque.n > KV_META_OPAQUE_MAX) {
        kv_reply(c, "CLIENT_ERROR opaque token too long");
        return;
    }
    if (m->q && !created)
        return; /* memcached: q silences a successful ma, its VA reply too */
    if (is_ret(m, 'v')) {
        char code[24];
        uint32_t len = 0;
        while (num[len])
            len++;
        ix_snprintf(code, sizeof code, "VA %u", len);
        reply_n(c, code, f, nf);
        kv_reply(c, num);
    } else {
        reply_n(c, "HD", f, nf);
    }
    return;
non_numeric:
    kv_unlock();
    kv_reply(c, "CLIENT_ERROR cannot increment or decrement non-numeric value");
}

/* ---- dispatch ------------------------------------------------------------------------- */

int kv_cmd_meta(struct kv_conn *c, struct kv_tok *t, uint32_t n)
{
    char op = t[0].p[1];
    if (op == 'n') {
        kv_reply(c, "MN");
        return 1;
    }
    if (!kv_meta_one_of(op, "gsdae")) {
        kv_reply(c, "ERROR");
        return 1;
    }
    if (n < 3) {
        kv_reply(c, op == 'e' ? "CLIENT_ERROR bad command line format" : "ERROR");
        return 1;
    }
    struct kv_meta m = {0};
    m.key = m.raw = t[1];
    m.op = (uint8_t)op;
    if (op == 's') {
        meta_set(c, &m, t, n);
        return 1;
    }
    if (m.key.n > KV_KEY_MAX) {
        kv_reply(c, "CLIENT_ERROR bad command line format");
        return 1;
    }
    if (op == 'e') { /* me reads only b */
        for (uint32_t i = 2; i + 1 < n; i++)
            if (t[i].p[0] == 'b' && !kv_meta_b64_key(&m)) {
                kv_reply(c, "CLIENT_ERROR bad command line format");
                return 1;
            }
        kv_stats.cmd_meta++; /* memcached counts me (its "meta" command) there */
        kv_meta_debug(c, &m);
        return 1;
    }
    const char *err = kv_meta_preparse(&m, t, 2, n, op != 'g');
    if (!err)
        err = kv_meta_own_pass(&m);
    if (err) {
        kv_reply(c, err);
        return 1;
    }
    if (op == 'g')
        meta_get(c, &m);
    else if (op == 'd')
        meta_delete(c, &m);
    else
        meta_arith(c, &m);
    return 1;
}

/* ---- me ------------------------------------------------------------------------------- */

/* memcached's slab class for an item of this size (default -n 48, -f 1.25: 96-byte first
 * chunks, each class 1.25 times the last, 8-byte aligned). */
static uint32_t mc_class(uint32_t size)
{
    uint32_t cls = 1, chunk = 96;
    while (chunk < size && cls < 63) {
        chunk = chunk * 5 / 4;
        chunk = (chunk + 7) & ~7u;
        cls++;
    }
    return cls;
}

void kv_meta_debug(struct kv_conn *c, const struct kv_meta *m)
{
    kv_lock();
    struct kv_item *it = kv_find(m->key.p, m->key.n);
    if (!it) {
        kv_unlock();
        kv_reply(c, "EN");
        return;
    }
    uint32_t now = kv_now();
    int exp = it->exptime ? (int)(now - it->exptime) : -1; /* sic: memcached 1.6.18 prints it so */
    uint32_t size = KV_MC_ITEM_HDR + it->nkey + it->nbytes + (it->flags ? 4 : 0);
    char tail[160];
    int n = ix_snprintf(tail, sizeof tail, " exp=%d la=%u cas=%llu fetch=%s cls=%u size=%u", exp, now - it->atime,
                        (unsigned long long)it->cas, it->fetched ? "yes" : "no", mc_class(size), size);
    kv_unlock();
    char f[META_ROOM];
    f[0] = ' ';
    __builtin_memcpy(f + 1, m->key.p, m->key.n);
    __builtin_memcpy(f + 1 + m->key.n, tail, (uint32_t)n);
    reply_n(c, "ME", f, 1 + m->key.n + (uint32_t)n);
}
