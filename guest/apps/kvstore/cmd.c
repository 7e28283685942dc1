/* kvstore: the memcached text protocol (protocol.txt of the memcached project), answered
 * as memcached 1.6 answers: dispatching one command line by its tokens (proto.c), retrieval
 * (get/gets/gat/gats/bget) and the small commands. Storage commands and incr/decr are in
 * cmd_store.c. Replies go through the connection's reply queue (conn.c). */
#include "../../lib/fmt.h"
#include "cmd.h"
#include "meta.h"

#define GET_ROOM 320   /* "VALUE <250-byte key> <flags> <bytes> <cas>\r\n" + "END\r\n" */

uint32_t kv_core;

void kv_reply(struct kv_conn *c, const char *s)
{
    if (c->noreply)
        return;
    uint32_t n = 0;
    while (s[n])
        n++;
    char *p = kv_out_reserve(c, n + 2);
    if (!p)
        return; /* callers check room first */
    __builtin_memcpy(p, s, n);
    p[n] = '\r';
    p[n + 1] = '\n';
    kv_out_commit(c, n + 2);
}

void kv_reply_fmt(struct kv_conn *c, uint32_t max, const char *fmt, ...)
{
    if (c->noreply)
        return;
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

int kv_noreply_maybe(struct kv_conn *c, const struct kv_tok *t, uint32_t ntok)
{
    if (ntok >= 2 && kv_tok_is(&t[ntok - 2], "noreply"))
        c->noreply = 1;
    return c->noreply;
}

/* ---- retrieval ---------------------------------------------------------------------- */

/* "VALUE <key> <flags> <bytes>[ <cas>]\r\n" (the formatter has no %.*s for the key) */
static void value_header(struct kv_conn *c, const struct kv_tok *k, const struct kv_item *it, int with_cas)
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

/* A key longer than memcached's limit anywhere in [i, len): memcached then answers only the
 * error, none of the values. */
static int long_key(const char *line, uint32_t len, uint32_t i)
{
    while (i < len) {
        while (i < len && line[i] == ' ')
            i++;
        uint32_t start = i;
        while (i < len && line[i] != ' ')
            i++;
        if (i - start > KV_KEY_MAX)
            return 1;
    }
    return 0;
}

/* get/gets/gat/gats: keys from `first`; one key at a time so that a long multi-get pauses
 * where the reply queue fills and resumes there (c->resume). */
static int cmd_get(struct kv_conn *c, const char *line, uint32_t len, uint32_t first, int with_cas,
                   int touch, uint32_t exptime, int final)
{
    uint32_t i = c->resume ? c->resume : first;
    if (!c->resume && !c->get_parted && final && long_key(line, len, i)) {
        kv_reply(c, "CLIENT_ERROR bad command line format");
        return 1;
    }
    for (;;) {
        while (i < len && line[i] == ' ')
            i++;
        if (i == len)
            break;
        uint32_t start = i;
        while (i < len && line[i] != ' ')
            i++;
        struct kv_tok k = {line + start, i - start};
        if (!kv_out_room(c, GET_ROOM, 3)) {
            c->resume = start; /* paused before this key */
            return 0;
        }
        if (k.n > KV_KEY_MAX) {
            /* only in a multi-get longer than the line buffer, answered in parts: the keys
             * before it are answered already (docs/kvstore.md) */
            c->resume = 0;
            c->get_parted = 0;
            kv_reply(c, "CLIENT_ERROR bad command line format");
            return final ? 1 : 2; /* 2: the rest of a long line is to be skipped */
        }
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
        it->fetched = 1;
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
    c->get_parted = 0;
    kv_reply(c, "END");
    return 1;
}

/* ---- the rest ------------------------------------------------------------------------ */

static void cmd_delete(struct kv_conn *c, struct kv_tok *t, uint32_t n)
{
    if (n < 3 || n > 5) {
        kv_reply(c, "ERROR");
        return;
    }
    if (n > 3) {
        /* "delete <key> 0", "delete <key> noreply", "delete <key> 0 noreply" (a legacy hold time) */
        int zero = kv_tok_is(&t[2], "0");
        int nr = kv_noreply_maybe(c, t, n);
        if (!((n == 4 && (zero || nr)) || (n == 5 && zero && nr))) {
            kv_reply(c, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
            return;
        }
    }
    if (t[1].n > KV_KEY_MAX) {
        kv_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    kv_lock();
    struct kv_item *it = kv_find(t[1].p, t[1].n);
    if (it)
        kv_unlink(it);
    kv_unlock();
    if (it) { /* not dereferenced: it may be gone already */
        kv_stats.delete_hits++;
        kv_reply(c, "DELETED");
    } else {
        kv_stats.delete_misses++;
        kv_reply(c, "NOT_FOUND");
    }
}

static void cmd_touch(struct kv_conn *c, struct kv_tok *t, uint32_t n)
{
    kv_noreply_maybe(c, t, n);
    int32_t e;
    if (t[1].n > KV_KEY_MAX) {
        kv_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    if (!kv_num_i32(&t[2], &e)) {
        kv_reply(c, "CLIENT_ERROR invalid exptime argument");
        return;
    }
    kv_stats.cmd_touch++;
    kv_lock();
    struct kv_item *it = kv_find(t[1].p, t[1].n);
    if (it) {
        it->exptime = kv_exptime(e);
        kv_bump(it);
        it->fetched = 1; /* memcached's touch counts as a fetch (me's fetch=yes) */
    }
    kv_unlock();
    if (it) {
        kv_stats.touch_hits++;
        kv_reply(c, "TOUCHED");
    } else {
        kv_stats.touch_misses++;
        kv_reply(c, "NOT_FOUND");
    }
}

static void cmd_flush(struct kv_conn *c, struct kv_tok *t, uint32_t n)
{
    int32_t delay = 0;
    kv_noreply_maybe(c, t, n);
    if (n != (c->noreply ? 3u : 2u) && !kv_num_i32(&t[1], &delay)) {
        kv_reply(c, "CLIENT_ERROR invalid exptime argument");
        return;
    }
    kv_lock();
    kv_flush(delay > 0 ? kv_exptime(delay) : 0);
    kv_unlock();
    kv_reply(c, "OK");
}

int kv_cmd_get_part(struct kv_conn *c, const char *line, uint32_t len, uint32_t *prefix)
{
    struct kv_tok t[KV_MAX_TOKENS];
    if (kv_tokenize(line, len, t) < 2 || !(kv_tok_is(&t[0], "get") || kv_tok_is(&t[0], "gets")))
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


/* memcached's dispatch order and token-count checks decide which error a malformed line
 * gets; they are followed exactly. */
int kv_cmd_line(struct kv_conn *c, const char *line, uint32_t len)
{
    struct kv_tok t[KV_MAX_TOKENS];
    if (c->resume == 0 && !kv_out_room(c, KV_CMD_ROOM, 4))
        return 0; /* every command's reply fits in this; wait for acknowledgements */
    len = kv_line_len(line, len);
    uint32_t n = kv_tokenize(line, len, t);
    c->noreply = 0;
    const struct kv_tok *cmd = &t[0];
    if (n < 2 || cmd->n < 2) {
        kv_reply(c, "ERROR");
        return 1;
    }
    if (cmd->n == 2 && cmd->p[0] == 'm')
        return kv_cmd_meta(c, t, n);
    uint32_t after = (uint32_t)(cmd->p + cmd->n - line);
    if (kv_tok_is(cmd, "get") || kv_tok_is(cmd, "bget") || kv_tok_is(cmd, "gets")) {
        if (n < 3) {
            kv_reply(c, "ERROR");
            return 1;
        }
        return cmd_get(c, line, len, after, cmd->n == 4 && cmd->p[3] == 's', 0, 0, 1);
    }
    if (kv_tok_is(cmd, "gat") || kv_tok_is(cmd, "gats")) {
        int32_t e;
        if (n < 3) {
            kv_reply(c, "ERROR");
            return 1;
        }
        if (!kv_num_i32(&t[1], &e)) {
            kv_reply(c, "CLIENT_ERROR invalid exptime argument");
            return 1;
        }
        /* exptime is converted once, when the command starts (resume keeps it stable) */
        return cmd_get(c, line, len, (uint32_t)(t[1].p + t[1].n - line), cmd->n == 4, 1, kv_exptime(e), 1);
    }
    int store = kv_tok_is(cmd, "set") ? C_SET : kv_tok_is(cmd, "add") ? C_ADD : kv_tok_is(cmd, "replace") ? C_REPLACE
              : kv_tok_is(cmd, "append") ? C_APPEND : kv_tok_is(cmd, "prepend") ? C_PREPEND : kv_tok_is(cmd, "cas") ? C_CAS : 0;
    if (store) {
        uint32_t want = store == C_CAS ? 7 : 6;
        if (n != want && n != want + 1)
            kv_reply(c, "ERROR");
        else
            kv_cmd_store(c, store, t, n);
    } else if (kv_tok_is(cmd, "delete")) {
        cmd_delete(c, t, n);
    } else if (kv_tok_is(cmd, "incr") || kv_tok_is(cmd, "decr")) {
        if (n != 4 && n != 5)
            kv_reply(c, "ERROR");
        else
            kv_cmd_arith(c, cmd->p[0] == 'i', t, n);
    } else if (kv_tok_is(cmd, "touch")) {
        if (n != 4 && n != 5)
            kv_reply(c, "ERROR");
        else
            cmd_touch(c, t, n);
    } else if (kv_tok_is(cmd, "flush_all")) {
        if (n > 4)
            kv_reply(c, "ERROR");
        else
            cmd_flush(c, t, n);
    } else if (kv_tok_is(cmd, "version")) {
        kv_reply(c, "VERSION " KV_VERSION); /* extra tokens are ignored, as memcached does */
    } else if (kv_tok_is(cmd, "verbosity")) {
        uint32_t level;
        if (n != 3 && n != 4)
            kv_reply(c, "ERROR");
        else if (kv_noreply_maybe(c, t, n), !kv_num_u32(&t[1], &level))
            kv_reply(c, "CLIENT_ERROR bad command line format");
        else
            kv_reply(c, "OK"); /* there is no verbose log: accepted and ignored */
    } else if (kv_tok_is(cmd, "stats")) {
        kv_cmd_stats(c, t, n);
    } else if (kv_tok_is(cmd, "quit")) {
        c->quitting = 1;
    } else if (n >= 2 && t[n - 2].n >= 5 && __builtin_memcmp(t[n - 2].p, "HTTP/", 5) == 0) {
        c->quitting = 1; /* memcached closes on what looks like an HTTP request */
    } else {
        kv_reply(c, "ERROR");
    }
    return 1;
}
