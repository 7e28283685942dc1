/* kvstore: the memcached text protocol (protocol.txt of the memcached project): parsing
 * and executing one command line. Replies go through the connection's reply queue
 * (conn.c); storage commands hand over to conn.c to receive the value into a new item. */
#include "../../lib/fmt.h"
#include "conn.h"

#define KV_VERSION "1.6.0"
#define GET_ROOM 320   /* "VALUE <250-byte key> <flags> <bytes> <cas>\r\n" + "END\r\n" */
#define MAX_TOKENS 8

uint32_t kv_core;

enum { C_SET = 1, C_ADD, C_REPLACE, C_APPEND, C_PREPEND, C_CAS };

struct tok {
    const char *p;
    uint32_t n;
};

/* Split on spaces; returns the token count, or max + 1 if there are more. */
static int tokenize(const char *s, uint32_t len, struct tok *t, int max)
{
    int n = 0;
    uint32_t i = 0;
    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        if (i == len)
            break;
        uint32_t start = i;
        while (i < len && s[i] != ' ')
            i++;
        if (n == max)
            return max + 1;
        t[n].p = s + start;
        t[n].n = i - start;
        n++;
    }
    return n;
}

static int eq(const struct tok *t, const char *s)
{
    uint32_t i = 0;
    for (; i < t->n; i++)
        if (s[i] != t->p[i])
            return 0;
    return s[i] == 0;
}

static int parse_u64(const struct tok *t, uint64_t *v)
{
    if (t->n == 0 || t->n > 20)
        return -1;
    uint64_t x = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        char ch = t->p[i];
        if (ch < '0' || ch > '9')
            return -1;
        uint64_t d = (uint64_t)(ch - '0');
        if (x > (~0ull - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

static int parse_i64(const struct tok *t, int64_t *v)
{
    uint64_t u;
    if (t->n > 1 && t->p[0] == '-') {
        struct tok r = {t->p + 1, t->n - 1};
        if (parse_u64(&r, &u) || u > (1ull << 63))
            return -1;
        *v = -(int64_t)(u - 1) - 1;
        return 0;
    }
    if (parse_u64(t, &u) || u > (uint64_t)INT64_MAX)
        return -1;
    *v = (int64_t)u;
    return 0;
}

/* protocol.txt says keys hold no control characters, but memcached only refuses what breaks
 * the framing, and memaslap (libmemcached-tools) sends keys starting with 0x10 bytes: so
 * refused here are only the bytes that cannot be part of a key on the wire (NUL, CR, LF;
 * spaces separate tokens already). */
static int key_ok(const struct tok *t)
{
    if (t->n == 0 || t->n > KV_KEY_MAX)
        return 0;
    for (uint32_t i = 0; i < t->n; i++) {
        char ch = t->p[i];
        if (ch == 0 || ch == '\r' || ch == '\n')
            return 0;
    }
    return 1;
}

static void reply(struct kv_conn *c, int noreply, const char *s)
{
    if (!noreply)
        kv_out_str(c, s);
}

static void reply_fmt(struct kv_conn *c, uint32_t max, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply_fmt(struct kv_conn *c, uint32_t max, const char *fmt, ...)
{
    char *p = kv_out_reserve(c, max);
    if (!p)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = ix_vsnprintf(p, max, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    kv_out_commit(c, (uint32_t)n < max ? (uint32_t)n : max - 1);
}

/* ---- retrieval ---------------------------------------------------------------------- */

/* "VALUE <key> <flags> <bytes>[ <cas>]\r\n" (the formatter has no %.*s for the key) */
static void value_header(struct kv_conn *c, const struct tok *k, const struct kv_item *it, int with_cas)
{
    char *p = kv_out_reserve(c, GET_ROOM);
    if (!p)
        return;
    __builtin_memcpy(p, "VALUE ", 6);
    __builtin_memcpy(p + 6, k->p, k->n);
    uint32_t n = 6 + k->n;
    int m = with_cas ? ix_snprintf(p + n, GET_ROOM - n, " %u %u %llu\r\n", it->flags, it->nbytes - 2,
                                   (unsigned long long)it->cas)
                     : ix_snprintf(p + n, GET_ROOM - n, " %u %u\r\n", it->flags, it->nbytes - 2);
    kv_out_commit(c, n + (uint32_t)m);
}

/* get/gets/gat/gats: keys from `first`; one key at a time so that a long multi-get pauses
 * where the reply queue fills and resumes there (c->resume). */
static int cmd_get(struct kv_conn *c, const char *line, uint32_t len, uint32_t first, int with_cas,
                   int touch, uint32_t exptime, int final)
{
    uint32_t i = c->resume ? c->resume : first;
    int any = c->resume != 0;
    for (;;) {
        while (i < len && line[i] == ' ')
            i++;
        if (i == len)
            break;
        uint32_t start = i;
        while (i < len && line[i] != ' ')
            i++;
        struct tok k = {line + start, i - start};
        if (!kv_out_room(c, GET_ROOM, 3)) {
            c->resume = start; /* paused before this key */
            return 0;
        }
        if (!key_ok(&k)) {
            /* memcached answers the keys before it with their values, then the error */
            c->resume = 0;
            c->get_parted = 0;
            kv_out_str(c, "CLIENT_ERROR bad command line format\r\n");
            return final ? 1 : 2; /* 2: the rest of a long line is to be skipped */
        }
        any = 1;
        kv_stats.cmd_get++;
        if (touch)
            kv_stats.cmd_touch++;
        kv_lock(); /* one key at a time: other cores wait for one lookup, not a multi-get */
        struct kv_item *it = kv_find(k.p, k.n);
        if (!it) {
            kv_unlock();
            kv_stats.get_misses++;
            if (touch)
                kv_stats.touch_misses++;
            continue;
        }
        if (touch)
            it->exptime = exptime;
        kv_bump(it);
        kv_pin(it); /* the reply's reference: the item stays valid after the lock is dropped */
        kv_unlock();
        kv_stats.get_hits++;
        if (touch)
            kv_stats.touch_hits++;
        value_header(c, &k, it, with_cas); /* flags, nbytes, cas never change once linked */
        kv_out_item(c, it);
    }
    c->resume = 0;
    if (!final) {
        c->get_parted = 1;
        return 1; /* more keys follow in the next part of the line */
    }
    if (c->get_parted)
        any = 1;
    c->get_parted = 0;
    if (!any && !touch) { /* "get" without keys; "gat <exptime>" without keys answers END */
        kv_out_str(c, "ERROR\r\n");
        return 1;
    }
    kv_out_str(c, "END\r\n");
    return 1;
}

/* ---- storage ------------------------------------------------------------------------ */

static void swallow(struct kv_conn *c, uint64_t bytes)
{
    c->state = KV_SWALLOW;
    c->data_left = bytes;
}

static void cmd_store(struct kv_conn *c, int cmd, struct tok *t, int n)
{
    int want = cmd == C_CAS ? 6 : 5;
    int noreply = n == want + 1 && eq(&t[want], "noreply");
    uint64_t flags, cas = 0;
    int64_t exptime, bytes;
    if ((n != want && !noreply) || parse_i64(&t[4], &bytes) || bytes < 0 || bytes > 0x7fffffff) {
        kv_out_str(c, "CLIENT_ERROR bad command line format\r\n");
        return;
    }
    /* from here on the client will send bytes + 2 bytes of data: swallow them on errors */
    if (!key_ok(&t[1]) || parse_u64(&t[2], &flags) || flags > 0xffffffffu || parse_i64(&t[3], &exptime) ||
        (cmd == C_CAS && parse_u64(&t[5], &cas))) {
        kv_out_str(c, "CLIENT_ERROR bad command line format\r\n");
        swallow(c, (uint64_t)bytes + 2);
        return;
    }
    kv_stats.cmd_set++;
    if ((uint64_t)bytes > kv_item_max()) {
        kv_out_str(c, "SERVER_ERROR object too large for cache\r\n");
        swallow(c, (uint64_t)bytes + 2);
        return;
    }
    kv_lock();
    struct kv_item *it = kv_alloc(t[1].p, t[1].n, (uint32_t)flags, kv_exptime(exptime), (uint32_t)bytes + 2);
    kv_unlock();
    if (!it) {
        kv_out_str(c, "SERVER_ERROR out of memory storing object\r\n");
        swallow(c, (uint64_t)bytes + 2);
        return;
    }
    c->pend = it;
    c->pend_cmd = (uint8_t)cmd;
    c->pend_noreply = (uint8_t)noreply;
    c->pend_cas = cas;
    c->data_off = 0;
    c->data_left = (uint64_t)bytes + 2;
    c->state = KV_DATA;
}

/* append/prepend: a new item holding old + new (items are never changed once linked). */
static struct kv_item *concat(struct kv_item *old, struct kv_item *add, int append)
{
    kv_pin(old); /* eviction for the new item must not take the old one */
    struct kv_item *it = kv_alloc(kv_item_key(old), old->nkey, old->flags, old->exptime,
                                  old->nbytes - 2 + add->nbytes);
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
    int noreply = c->pend_noreply;
    c->pend = 0;
    c->state = KV_LINE;
    const char *v = kv_item_val(it);
    kv_lock(); /* find, compare and link as one step: a cas or add racing on another core */
    if (v[it->nbytes - 2] != '\r' || v[it->nbytes - 1] != '\n') {
        kv_discard(it);
        kv_unlock();
        kv_out_str(c, "CLIENT_ERROR bad data chunk\r\n");
        return;
    }
    struct kv_item *old = kv_find(kv_item_key(it), it->nkey);
    const char *r = "STORED\r\n";
    switch (c->pend_cmd) {
    case C_SET:
        kv_link(it);
        break;
    case C_ADD:
        if (old) {
            kv_bump(old);
            r = "NOT_STORED\r\n";
            kv_discard(it);
        } else {
            kv_link(it);
        }
        break;
    case C_REPLACE:
        if (old)
            kv_link(it);
        else {
            r = "NOT_STORED\r\n";
            kv_discard(it);
        }
        break;
    case C_APPEND:
    case C_PREPEND: {
        struct kv_item *n = old ? concat(old, it, c->pend_cmd == C_APPEND) : 0;
        kv_discard(it);
        if (!old)
            r = "NOT_STORED\r\n";
        else if (!n)
            r = "SERVER_ERROR out of memory storing object\r\n";
        else
            kv_link(n);
        break;
    }
    case C_CAS:
        if (!old) {
            kv_stats.cas_misses++;
            r = "NOT_FOUND\r\n";
            kv_discard(it);
        } else if (old->cas != c->pend_cas) {
            kv_stats.cas_badval++;
            r = "EXISTS\r\n";
            kv_discard(it);
        } else {
            kv_stats.cas_hits++;
            kv_link(it);
        }
        break;
    }
    kv_unlock();
    if (r[0] == 'S' && r[1] == 'E')
        noreply = 0; /* errors are always reported */
    reply(c, noreply, r);
}

/* ---- the rest ------------------------------------------------------------------------ */

static void cmd_arith(struct kv_conn *c, int incr, struct tok *t, int n)
{
    int noreply = n == 4 && eq(&t[3], "noreply");
    uint64_t delta;
    if (n != 3 && !noreply) {
        kv_out_str(c, "ERROR\r\n");
        return;
    }
    if (!key_ok(&t[1])) {
        kv_out_str(c, "CLIENT_ERROR bad command line format\r\n");
        return;
    }
    if (parse_u64(&t[2], &delta)) {
        kv_out_str(c, "CLIENT_ERROR invalid numeric delta argument\r\n");
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
        reply(c, noreply, "NOT_FOUND\r\n");
        return;
    }
    uint64_t v;
    struct tok cur = {kv_item_val(old), old->nbytes - 2};
    while (cur.n && cur.p[cur.n - 1] == ' ') /* values stored by other servers' decr may be padded */
        cur.n--;
    if (parse_u64(&cur, &v)) {
        kv_unlock();
        kv_out_str(c, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
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
    int len = ix_snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    kv_pin(old);
    struct kv_item *it = kv_alloc(kv_item_key(old), old->nkey, old->flags, old->exptime, (uint32_t)len + 2);
    kv_unpin_locked(old);
    if (!it) {
        kv_unlock();
        kv_out_str(c, "SERVER_ERROR out of memory\r\n");
        return;
    }
    __builtin_memcpy(kv_item_val(it), num, (size_t)len);
    kv_item_val(it)[len] = '\r';
    kv_item_val(it)[len + 1] = '\n';
    kv_link(it);
    kv_unlock();
    if (!noreply)
        reply_fmt(c, 32, "%s\r\n", num);
}

static void cmd_stats(struct kv_conn *c, struct tok *t, int n)
{
    if (n > 1) {
        if (eq(&t[1], "reset") && n == 2) {
            kv_lock();
            kv_stats_reset();
            kv_unlock();
            kv_out_str(c, "RESET\r\n");
        } else if (n == 2 && (eq(&t[1], "settings") || eq(&t[1], "items") || eq(&t[1], "slabs") ||
                              eq(&t[1], "sizes") || eq(&t[1], "conns"))) {
            kv_out_str(c, "END\r\n"); /* nothing to report for these here */
        } else {
            kv_out_str(c, "ERROR\r\n");
        }
        return;
    }
    struct kv_counters total;
    kv_stats_total(&total); /* all cores sharing the store */
    const struct kv_counters *s = &total;
    uint32_t up = kv_now() - 10;
    reply_fmt(c, KV_CMD_ROOM,
              "STAT pid %u\r\nSTAT uptime %u\r\nSTAT version " KV_VERSION "\r\nSTAT pointer_size 64\r\n"
              "STAT threads 1\r\nSTAT core %u\r\nSTAT curr_connections %llu\r\nSTAT total_connections %llu\r\n"
              "STAT rejected_connections %llu\r\nSTAT cmd_get %llu\r\nSTAT cmd_set %llu\r\n"
              "STAT cmd_flush %llu\r\nSTAT cmd_touch %llu\r\nSTAT get_hits %llu\r\nSTAT get_misses %llu\r\n"
              "STAT delete_misses %llu\r\nSTAT delete_hits %llu\r\nSTAT incr_misses %llu\r\n"
              "STAT incr_hits %llu\r\nSTAT decr_misses %llu\r\nSTAT decr_hits %llu\r\nSTAT cas_misses %llu\r\n"
              "STAT cas_hits %llu\r\nSTAT cas_badval %llu\r\nSTAT touch_hits %llu\r\nSTAT touch_misses %llu\r\n"
              "STAT limit_maxbytes %llu\r\nSTAT bytes %llu\r\nSTAT curr_items %llu\r\nSTAT total_items %llu\r\n"
              "STAT evictions %llu\r\nSTAT reclaimed %llu\r\nSTAT lock_waits %llu\r\nSTAT input_overflows %llu\r\nEND\r\n",
              kv_core + 1, up, kv_core, (unsigned long long)s->curr_connections,
              (unsigned long long)s->total_connections, (unsigned long long)s->rejected_connections,
              (unsigned long long)s->cmd_get, (unsigned long long)s->cmd_set, (unsigned long long)s->cmd_flush,
              (unsigned long long)s->cmd_touch, (unsigned long long)s->get_hits,
              (unsigned long long)s->get_misses, (unsigned long long)s->delete_misses,
              (unsigned long long)s->delete_hits, (unsigned long long)s->incr_misses,
              (unsigned long long)s->incr_hits, (unsigned long long)s->decr_misses,
              (unsigned long long)s->decr_hits, (unsigned long long)s->cas_misses,
              (unsigned long long)s->cas_hits, (unsigned long long)s->cas_badval,
              (unsigned long long)s->touch_hits, (unsigned long long)s->touch_misses,
              (unsigned long long)s->limit_maxbytes, (unsigned long long)s->bytes,
              (unsigned long long)s->curr_items, (unsigned long long)s->total_items,
              (unsigned long long)s->evictions, (unsigned long long)s->reclaimed,
              (unsigned long long)s->lock_waits, (unsigned long long)s->input_overflows);
}

int kv_cmd_get_part(struct kv_conn *c, const char *line, uint32_t len, uint32_t *prefix)
{
    struct tok t[2];
    if (tokenize(line, len, t, 1) < 1 || !(eq(&t[0], "get") || eq(&t[0], "gets")))
        return -1;
    uint32_t after = t[0].n;
    uint32_t first = after;
    while (first < len && line[first] == ' ')
        first++;
    *prefix = first;
    if (t[0].p != line || first == after)
        return -1; /* leading spaces or no space after the command word */
    if (c->resume == 0 && !kv_out_room(c, KV_CMD_ROOM, 4))
        return 0;
    return cmd_get(c, line, len, after, t[0].n == 4, 0, 0, 0);
}

int kv_cmd_line(struct kv_conn *c, const char *line, uint32_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    struct tok t[MAX_TOKENS];
    if (c->resume == 0 && !kv_out_room(c, KV_CMD_ROOM, 4))
        return 0; /* every command's reply fits in this; wait for acknowledgements */
    int n = tokenize(line, len, t, MAX_TOKENS);
    if (n == 0) {
        kv_out_str(c, "ERROR\r\n");
        return 1;
    }
    const struct tok *cmd = &t[0];
    uint32_t after = (uint32_t)(cmd->p + cmd->n - line);
    if (eq(cmd, "get"))
        return cmd_get(c, line, len, after, 0, 0, 0, 1);
    if (eq(cmd, "gets"))
        return cmd_get(c, line, len, after, 1, 0, 0, 1);
    if (eq(cmd, "gat") || eq(cmd, "gats")) {
        int64_t e;
        if (n < 2 || parse_i64(&t[1], &e)) {
            kv_out_str(c, "CLIENT_ERROR bad command line format\r\n");
            return 1;
        }
        /* exptime is converted once, when the command starts (resume keeps it stable) */
        return cmd_get(c, line, len, (uint32_t)(t[1].p + t[1].n - line), cmd->n == 4, 1, kv_exptime(e), 1);
    }
    if (n > MAX_TOKENS) {
        kv_out_str(c, "ERROR\r\n");
        return 1;
    }
    if (eq(cmd, "set") || eq(cmd, "add") || eq(cmd, "replace") || eq(cmd, "append") || eq(cmd, "prepend") ||
        eq(cmd, "cas")) {
        int which = eq(cmd, "set") ? C_SET : eq(cmd, "add") ? C_ADD : eq(cmd, "replace") ? C_REPLACE
                  : eq(cmd, "append") ? C_APPEND : eq(cmd, "prepend") ? C_PREPEND : C_CAS;
        if (n < (which == C_CAS ? 6 : 5)) {
            kv_out_str(c, "ERROR\r\n");
            return 1;
        }
        cmd_store(c, which, t, n);
    } else if (eq(cmd, "delete")) {
        /* "delete <key> [0] [noreply]": the 0 is a legacy hold time, anything else is refused */
        int noreply = n >= 3 && eq(&t[n - 1], "noreply");
        int args = n - noreply;
        if (n < 2) {
            kv_out_str(c, "ERROR\r\n");
        } else if (!key_ok(&t[1]) || args > 3 || (args == 3 && !eq(&t[2], "0"))) {
            kv_out_str(c, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
        } else {
            kv_lock();
            struct kv_item *it = kv_find(t[1].p, t[1].n);
            if (it)
                kv_unlink(it);
            kv_unlock();
            if (it) { /* not dereferenced: it may be gone already */
                kv_stats.delete_hits++;
                reply(c, noreply, "DELETED\r\n");
            } else {
                kv_stats.delete_misses++;
                reply(c, noreply, "NOT_FOUND\r\n");
            }
        }
    } else if (eq(cmd, "incr") || eq(cmd, "decr")) {
        cmd_arith(c, cmd->p[0] == 'i', t, n);
    } else if (eq(cmd, "touch")) {
        int noreply = n == 4 && eq(&t[3], "noreply");
        int64_t e;
        if (n != 3 && !noreply) {
            kv_out_str(c, "ERROR\r\n");
        } else if (!key_ok(&t[1]) || parse_i64(&t[2], &e)) {
            kv_out_str(c, "CLIENT_ERROR bad command line format\r\n");
        } else {
            kv_stats.cmd_touch++;
            kv_lock();
            struct kv_item *it = kv_find(t[1].p, t[1].n);
            if (it) {
                it->exptime = kv_exptime(e);
                kv_bump(it);
            }
            kv_unlock();
            if (it) {
                kv_stats.touch_hits++;
                reply(c, noreply, "TOUCHED\r\n");
            } else {
                kv_stats.touch_misses++;
                reply(c, noreply, "NOT_FOUND\r\n");
            }
        }
    } else if (eq(cmd, "flush_all")) {
        int noreply = n >= 2 && eq(&t[n - 1], "noreply");
        int64_t delay = 0;
        if (n - noreply > 2 || (n - noreply == 2 && parse_i64(&t[1], &delay))) {
            kv_out_str(c, "CLIENT_ERROR bad command line format\r\n");
        } else {
            kv_lock();
            kv_flush(delay > 0 ? (uint32_t)delay : 0);
            kv_unlock();
            reply(c, noreply, "OK\r\n");
        }
    } else if (eq(cmd, "version")) {
        kv_out_str(c, "VERSION " KV_VERSION "\r\n"); /* extra arguments are ignored, as memcached does */
    } else if (eq(cmd, "verbosity")) {
        /* "verbosity <level> [noreply]": accepted and ignored (there is no verbose log) */
        uint64_t level;
        if (eq(&t[n - 1], "noreply"))
            ; /* memcached answers nothing here, whatever the level */
        else if (n != 2 || parse_u64(&t[1], &level))
            kv_out_str(c, "ERROR\r\n");
        else
            kv_out_str(c, "OK\r\n");
    } else if (eq(cmd, "stats")) {
        cmd_stats(c, t, n);
    } else if (eq(cmd, "quit")) {
        c->quitting = 1;
    } else {
        kv_out_str(c, "ERROR\r\n");
    }
    return 1;
}
