#include "conn.h"

/* reservation made by kv_out_reserve, consumed by kv_out_commit (single-threaded per core) */
static uint32_t res_off, res_waste;

void kv_conn_init(struct kv_conn *c)
{
    /* ixev owns ctx (it fills it in at accept); everything after it is ours */
    __builtin_memset((char *)c + sizeof(c->ctx), 0,
                     __builtin_offsetof(struct kv_conn, lbuf) - sizeof(c->ctx));
    c->state = KV_LINE;
}

/* ---- reply queue ------------------------------------------------------------------ */

char *kv_out_reserve(struct kv_conn *c, uint32_t max)
{
    if (max == 0 || max > KV_HRING)
        return 0;
    if (c->hr_used == 0)
        c->hr_head = c->hr_tail = 0;
    res_waste = 0;
    if (c->hr_used == 0 || c->hr_head > c->hr_tail) {
        /* free: [head, end) and [0, tail) */
        if (KV_HRING - c->hr_head >= max) {
            res_off = c->hr_head;
            return c->hring + res_off;
        }
        if (c->hr_tail >= max) { /* wrap: the ring's end is wasted until this piece goes */
            res_waste = KV_HRING - c->hr_head;
            res_off = 0;
            return c->hring;
        }
        return 0;
    }
    /* head <= tail with bytes in use: free is [head, tail) */
    if (c->hr_tail - c->hr_head >= max) {
        res_off = c->hr_head;
        return c->hring + res_off;
    }
    return 0;
}

void kv_out_commit(struct kv_conn *c, uint32_t n)
{
    if (n == 0)
        return;
    const char *base = c->hring + res_off;
    c->out_bytes += n;
    c->hr_head = res_off + n;
    c->hr_used += n + res_waste;
    if (c->out_tail != c->out_sub) {
        struct kv_out *last = &c->outq[(c->out_tail - 1) % KV_OUTQ];
        if (last->kind == OUT_HDR && last->base + last->len == base && res_waste == 0) {
            last->len += n; /* adjacent header text: one piece */
            last->cost += n;
            return;
        }
    }
    struct kv_out *o = &c->outq[c->out_tail++ % KV_OUTQ];
    o->base = base;
    o->len = n;
    o->cost = n + res_waste;
    o->it = 0;
    o->kind = OUT_HDR;
}

int kv_out_room(struct kv_conn *c, uint32_t bytes, uint32_t pieces)
{
    if (KV_OUTQ - (c->out_tail - c->out_head) < pieces || c->out_bytes >= KV_OUT_MAX)
        return 0;
    return kv_out_reserve(c, bytes) != 0;
}

void kv_out_str(struct kv_conn *c, const char *s)
{
    uint32_t n = 0;
    while (s[n])
        n++;
    char *p = kv_out_reserve(c, n);
    if (!p)
        return; /* callers check room first; dropping beats corrupting the ring */
    __builtin_memcpy(p, s, n);
    kv_out_commit(c, n);
}

void kv_out_item(struct kv_conn *c, struct kv_item *it)
{
    struct kv_out *o = &c->outq[c->out_tail++ % KV_OUTQ];
    o->base = kv_item_val(it);
    o->len = it->nbytes;
    c->out_bytes += it->nbytes;
    o->cost = 0;
    o->it = it;
    o->kind = OUT_ITEM;
}

static void release(struct kv_conn *c, struct kv_out *o)
{
    if (o->kind == OUT_ITEM) {
        kv_unpin(o->it);
    } else {
        c->hr_used -= o->cost;
        c->hr_tail = (uint32_t)(o->base - c->hring) + o->len;
    }
}

/* Hand the pieces queued this round to the stack. */
static void flush_out(struct kv_conn *c)
{
    while (c->out_sub != c->out_tail && !c->closed) {
        struct kv_out *o = &c->outq[c->out_sub % KV_OUTQ];
        if (ixev_send(&c->ctx, o->base, o->len))
            break; /* cannot happen while outq <= ixev's queue; retried on the next round */
        c->out_sub++;
    }
}

/* ---- input ------------------------------------------------------------------------ */

/* The parser holds part of a command (a line gathered in lbuf, a value arriving, a get
 * paused for reply room) that only later input completes. Its state lives in this core's
 * instance alone, so the connection must not move to another core now (docs/scale.md). */
static int mid_command(const struct kv_conn *c)
{
    return c->state != KV_LINE || c->lbuf_len || c->lbuf_done || c->lbuf_cut || c->skip_line ||
           c->resume || c->get_parted;
}

/* The first segment with unparsed bytes; fully parsed ones are given back on the way, except
 * the last one while a command is incomplete: the stack then counts the connection's bytes as
 * held by the app, so a move of its flow group waits until the command is whole (and the
 * stack keeps posting its input to us meanwhile). At most one parsed segment is kept. */
static struct kv_in *in_head(struct kv_conn *c)
{
    while (c->in_head != c->in_tail) {
        struct kv_in *in = &c->inq[c->in_head % KV_INQ];
        if (in->off < in->len)
            return in;
        if (c->in_head + 1 == c->in_tail && mid_command(c) && !c->eof && !c->closed)
            return 0;
        ixev_recv_done(&c->ctx, in->len);
        if (in->data >= c->cbuf && in->data < c->cbuf + KV_CBUF) {
            c->cb_used -= in->len;
            c->cb_tail = (uint32_t)(in->data - c->cbuf) + in->len;
        }
        c->in_head++;
    }
    return 0;
}

/* Room for n more bytes at the cbuf write position: 1 (contiguous after cb_head), 2 (at the
 * start, wrapping), 0 (none). */
static int cbuf_room(struct kv_conn *c, uint32_t n)
{
    if (c->cb_used == 0)
        c->cb_head = c->cb_tail = 0;
    if (c->cb_used == 0 || c->cb_head > c->cb_tail)
        return KV_CBUF - c->cb_head >= n ? 1 : c->cb_tail >= n ? 2 : 0;
    return c->cb_tail - c->cb_head >= n ? 1 : 0; /* wrapped: free is [head, tail) */
}

/* A small segment that arrives while earlier input waits (the connection is paused): copy
 * it, keep its buffer held (not given back, so the window stays closed by those bytes), and
 * merge it with the previous copy. Thousands of tiny pipelined requests then take a few
 * entries instead of one each. Returns 0 when there is no room. */
static int hold_copy(struct kv_conn *c, const char *data, uint32_t len)
{
    if (len > KV_COPY_MAX)
        return 0;
    struct kv_in *last = &c->inq[(c->in_tail - 1) % KV_INQ];
    int r = cbuf_room(c, len);
    if (r == 1 && c->cb_used && last->data >= c->cbuf && last->data + last->len == c->cbuf + c->cb_head) {
        __builtin_memcpy(c->cbuf + c->cb_head, data, len);
        last->len += len;
    } else if (r && c->in_tail - c->in_head < KV_INQ) {
        if (r == 2)
            c->cb_head = 0;
        __builtin_memcpy(c->cbuf + c->cb_head, data, len);
        c->inq[c->in_tail++ % KV_INQ] = (struct kv_in){c->cbuf + c->cb_head, len, 0};
    } else {
        return 0;
    }
    c->cb_head += len;
    c->cb_used += len;
    return 1;
}

static void maybe_close(struct kv_conn *c)
{
    if (c->closed)
        return;
    if (c->eof && !c->quitting && c->in_head == c->in_tail && !c->lbuf_done && !c->lbuf_cut)
        c->quitting = 1; /* the peer is done and every command it sent has run */
    if (c->quitting && c->out_head == c->out_tail) {
        c->closed = 1;
        ixev_close(&c->ctx);
    }
}

static void line_too_long(struct kv_conn *c)
{
    /* memcached closes a connection whose line (not a multi-get) outgrows its buffer, without
     * a reply; the replies queued before still go */
    c->quitting = 1;
}

/* Parse and execute what has arrived until done or out of reply room. */
static void drain(struct kv_conn *c)
{
    if (c->in_drain)
        return;
    c->in_drain = 1;
    while (!c->quitting && !c->closed) {
        if (c->state == KV_LINE && c->lbuf_cut) {
            /* lbuf is full of a multi-get: answer its complete keys, keep the rest */
            uint32_t prefix = 0;
            int r = kv_cmd_get_part(c, c->lbuf, c->lbuf_cut, &prefix);
            if (r == 0)
                break;
            if (r == 2) {
                c->lbuf_len = c->lbuf_cut = 0;
                c->skip_line = 1;
                continue;
            }
            if (r < 0 || prefix == 0 || prefix >= c->lbuf_cut) {
                line_too_long(c);
                break;
            }
            uint32_t rest = c->lbuf_len - c->lbuf_cut;
            __builtin_memmove(c->lbuf + prefix, c->lbuf + c->lbuf_cut, rest);
            c->lbuf_len = prefix + rest;
            c->lbuf_cut = 0;
            continue;
        }
        if (c->state == KV_LINE && c->lbuf_done) {
            if (!kv_cmd_line(c, c->lbuf, c->lbuf_len))
                break; /* paused: resumes on the next acknowledgement */
            c->lbuf_done = 0;
            c->lbuf_len = 0;
            continue;
        }
        struct kv_in *in = in_head(c);
        if (!in)
            break;
        const char *p = in->data + in->off;
        uint32_t n = in->len - in->off;
        if (c->state == KV_LINE) {
            const char *nl = 0;
            for (uint32_t i = 0; i < n; i++)
                if (p[i] == '\n') {
                    nl = p + i;
                    break;
                }
            if (c->skip_line) {
                in->off += nl ? (uint32_t)(nl - p) + 1 : n;
                c->skip_line = !nl;
                continue;
            }
            if (nl && c->lbuf_len == 0) {
                /* the whole line is in this segment: parse it where it lies */
                uint32_t ll = (uint32_t)(nl - p);
                if (!kv_cmd_line(c, p, ll))
                    break;
                in->off += ll + 1;
                continue;
            }
            uint32_t take = nl ? (uint32_t)(nl - p) + 1 : n;
            uint32_t keep = nl ? take - 1 : take;
            if (c->lbuf_len + keep > KV_LINE_MAX) {
                /* Only a multi-get may be this long: cut it after its last complete key
                 * (memcached also answers long multi-gets in parts). */
                uint32_t fit = KV_LINE_MAX - c->lbuf_len;
                __builtin_memcpy(c->lbuf + c->lbuf_len, p, fit);
                c->lbuf_len += fit;
                in->off += fit;
                uint32_t cut = c->lbuf_len;
                while (cut > 0 && c->lbuf[cut - 1] != ' ')
                    cut--;
                if (cut == 0) {
                    line_too_long(c);
                    break;
                }
                c->lbuf_cut = cut;
                continue;
            }
            __builtin_memcpy(c->lbuf + c->lbuf_len, p, keep);
            c->lbuf_len += keep;
            in->off += take;
            if (nl)
                c->lbuf_done = 1;
            continue;
        }
        /* KV_DATA / KV_SWALLOW: value bytes go straight into the item (or nowhere) */
        uint32_t k = c->data_left < n ? (uint32_t)c->data_left : n;
        if (c->state == KV_DATA) {
            __builtin_memcpy(kv_item_val(c->pend) + c->data_off, p, k);
            c->data_off += k;
        }
        in->off += k;
        c->data_left -= k;
        if (c->data_left == 0) {
            if (c->state == KV_DATA)
                kv_cmd_value_done(c); /* back to KV_LINE */
            else
                c->state = KV_LINE;
        }
    }
    in_head(c); /* give back what is fully parsed */
    flush_out(c);
    c->in_drain = 0;
    maybe_close(c);
}

void kv_conn_recv(struct kv_conn *c, const void *data, size_t len)
{
    if (c->closed)
        return; /* the stack frees it with the connection */
    kv_stats.bytes_read += len;
    if (in_head(c) != 0 && hold_copy(c, (const char *)data, (uint32_t)len))
        return; /* paused: parsed when acknowledgements make room */
    if (c->in_tail - c->in_head == KV_INQ || len > 0xffffffffu) {
        /* More held segments than entries and copy room: only a peer sending tiny segments
         * into a 256 KB window without reading replies gets here (docs/kvstore.md). Dropping
         * one would corrupt the stream, so the connection ends. */
        kv_stats.input_overflows++;
        c->closed = 1;
        ixev_close(&c->ctx);
        return;
    }
    c->inq[c->in_tail++ % KV_INQ] = (struct kv_in){(const char *)data, (uint32_t)len, 0};
    drain(c);
}

void kv_conn_sent(struct kv_conn *c, size_t bytes)
{
    kv_stats.bytes_written += bytes;
    c->out_bytes -= bytes < c->out_bytes ? bytes : c->out_bytes;
    while (bytes && c->out_head != c->out_sub) {
        struct kv_out *o = &c->outq[c->out_head % KV_OUTQ];
        uint32_t left = o->len - c->out_acked;
        if (bytes >= left) {
            bytes -= left;
            release(c, o);
            c->out_head++;
            c->out_acked = 0;
        } else {
            c->out_acked += (uint32_t)bytes;
            bytes = 0;
        }
    }
    drain(c); /* room may have opened for a paused command */
}

void kv_conn_eof(struct kv_conn *c)
{
    c->eof = 1;
    drain(c);
}

void kv_conn_dead(struct kv_conn *c)
{
    while (c->out_head != c->out_tail) {
        struct kv_out *o = &c->outq[c->out_head++ % KV_OUTQ];
        if (o->kind == OUT_ITEM)
            kv_unpin(o->it);
    }
    if (c->pend) {
        kv_lock();
        kv_discard(c->pend);
        kv_unlock();
        c->pend = 0;
    }
    c->in_head = c->in_tail = 0; /* the stack frees the segments with the connection */
    c->closed = 1;
}
