/* Host unit tests of the kvstore app: the allocator, the store, and the connection +
 * protocol layers driven through a fake ixev that plays the network: it records what the
 * app sends, checks the bytes are still unchanged when they are "acknowledged" (zero copy:
 * the app must not free or modify them before), and counts recv_done. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conn.h"
#include "check.h"

void kvt_threads(void); /* kvthreads.c */
void kvt_slab(void);    /* kvslab.c */

/* ---- fakes: clock and ixev -------------------------------------------------------- */

static uint32_t fake_now = 10;
uint32_t kv_now(void) { return fake_now; }

struct piece {
    struct ixev_ctx *ctx;
    int acked;
    const char *p;
    size_t n;
    char *copy; /* the bytes as they were when handed over */
};
#define MAXP 100000
static struct piece pieces[MAXP];
static size_t npieces, nacked;    /* pieces sent / acknowledged (any connection) */
static size_t recv_done_total, closes;
static char *out;                 /* everything "delivered" to the client */
static size_t out_len, out_cap;

int ixev_send(struct ixev_ctx *c, const void *buf, size_t len)
{
    if (npieces - nacked >= IXEV_SENDQ) {
        check_fail(__FILE__, __LINE__, "ixev_send: at most IXEV_SENDQ pieces outstanding");
        return -IX_EAGAIN;
    }
    struct piece *p = &pieces[npieces++];
    p->ctx = c;
    p->acked = 0;
    p->p = buf;
    p->n = len;
    p->copy = malloc(len);
    memcpy(p->copy, buf, len);
    return 0;
}
void ixev_recv_done(struct ixev_ctx *c, size_t bytes)
{
    (void)c;
    recv_done_total += bytes;
}
void ixev_close(struct ixev_ctx *c)
{
    (void)c;
    closes++;
}

static size_t outstanding(struct kv_conn *c)
{
    size_t n = 0;
    for (size_t i = 0; i < npieces; i++)
        n += !pieces[i].acked && pieces[i].ctx == &c->ctx;
    return n;
}

/* c's peer acknowledges up to `max` pieces: their bytes are checked and delivered. */
static void ack(struct kv_conn *c, size_t max)
{
    size_t bytes = 0;
    for (size_t i = 0; i < npieces && max; i++) {
        struct piece *p = &pieces[i];
        if (p->acked || p->ctx != &c->ctx)
            continue;
        p->acked = 1;
        nacked++;
        max--;
        CHECK_MSG(memcmp(p->p, p->copy, p->n) == 0, "bytes changed before they were acknowledged");
        if (out_len + p->n > out_cap) {
            out_cap = (out_len + p->n) * 2;
            out = realloc(out, out_cap);
        }
        memcpy(out + out_len, p->copy, p->n);
        out_len += p->n;
        bytes += p->n;
        free(p->copy);
    }
    if (bytes)
        kv_conn_sent(c, bytes);
}
static void ack_all(struct kv_conn *c)
{
    while (outstanding(c))
        ack(c, (size_t)-1);
}

static struct kv_conn conn_a, conn_b;
#define conn (*cur)
static struct kv_conn *cur = &conn_a;
static char heap[64 << 20];

static void fresh(uint64_t heap_bytes, uint32_t item_max)
{
    for (size_t i = 0; i < npieces; i++)
        if (!pieces[i].acked)
            free(pieces[i].copy);
    cur = &conn_a;
    CHECK_MSG(kv_store_init(heap, heap_bytes, item_max, 0) == 0, "store init");
    kv_store_publish();
    memset(&conn, 0, sizeof conn);
    kv_conn_init(&conn);
    out_len = 0;
    npieces = nacked = 0;
    recv_done_total = closes = 0;
}

/* Feed `s` in segments of `seg` bytes (copied into their own buffers, as mbufs would be),
 * acknowledging after each; returns what the client received. */
static const char *run(const char *s, size_t len, size_t seg)
{
    size_t start = out_len;
    static char *bufs[4096];
    size_t nb = 0;
    for (size_t off = 0; off < len; off += seg) {
        size_t n = len - off < seg ? len - off : seg;
        char *b = malloc(n);
        memcpy(b, s + off, n);
        if (nb < 4096)
            bufs[nb++] = b;
        kv_conn_recv(&conn, b, n);
        ack_all(&conn);
    }
    ack_all(&conn);
    for (size_t i = 0; i < nb; i++)
        free(bufs[i]);
    if (out_len + 1 > out_cap) {
        out_cap = out_len + 1;
        out = realloc(out, out_cap);
    }
    out[out_len] = 0;
    return out + start;
}
static const char *run_s(const char *s) { return run(s, strlen(s), strlen(s)); }

/* ---- tests ---------------------------------------------------------------------------- */

static void expect(const char *in, const char *want)
{
    /* the same transcript whole, byte by byte and in 7-byte segments */
    size_t seg[] = {strlen(in), 1, 7};
    for (int i = 0; i < 3; i++) {
        fresh(8 << 20, 1 << 20);
        const char *got = run(in, strlen(in), seg[i]);
        CHECK_MSG(strcmp(got, want) == 0, "segments of %zu:\n--- in:\n%s--- want:\n%s--- got:\n%s", seg[i], in, want, got);
        /* all input given back, except the last segment of a command still incomplete
         * (a value being swallowed): that one stays held so the connection does not move */
        CHECK_MSG(recv_done_total == strlen(in) || closes || (conn.state != KV_LINE && recv_done_total + seg[i] >= strlen(in)),
                  "recv_done %zu of %zu", recv_done_total, strlen(in));
    }
}

static void test_protocol(void)
{
    expect("set a 5 0 3\r\nabc\r\nget a\r\n", "STORED\r\nVALUE a 5 3\r\nabc\r\nEND\r\n");
    expect("get nope\r\n", "END\r\n");
    expect("set a 0 0 1\r\nx\r\nset b 0 0 2\r\nyy\r\nget a b c\r\n",
           "STORED\r\nSTORED\r\nVALUE a 0 1\r\nx\r\nVALUE b 0 2\r\nyy\r\nEND\r\n");
    expect("set a 0 0 1\r\nx\r\ngets a\r\n", "STORED\r\nVALUE a 0 1 1\r\nx\r\nEND\r\n");
    expect("add a 0 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\nget a\r\n", "STORED\r\nNOT_STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n");
    expect("replace a 0 0 1\r\nx\r\nset a 0 0 1\r\ny\r\nreplace a 3 0 1\r\nz\r\nget a\r\n",
           "NOT_STORED\r\nSTORED\r\nSTORED\r\nVALUE a 3 1\r\nz\r\nEND\r\n");
    expect("append a 0 0 1\r\nx\r\nset a 7 0 2\r\nbc\r\nappend a 0 0 2\r\nde\r\nprepend a 0 0 1\r\na\r\nget a\r\n",
           "NOT_STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\nVALUE a 7 5\r\nabcde\r\nEND\r\n");
    expect("cas a 0 0 1 1\r\nx\r\nset a 0 0 1\r\nx\r\ncas a 0 0 1 9\r\ny\r\ncas a 0 0 1 1\r\nz\r\ngets a\r\n",
           "NOT_FOUND\r\nSTORED\r\nEXISTS\r\nSTORED\r\nVALUE a 0 1 2\r\nz\r\nEND\r\n");
    expect("delete a\r\nset a 0 0 1\r\nx\r\ndelete a\r\nget a\r\ndelete a 0\r\ndelete a 5\r\n",
           "NOT_FOUND\r\nSTORED\r\nDELETED\r\nEND\r\nNOT_FOUND\r\n"
           "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
    expect("incr n 1\r\nset n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n 18446744073709551615\r\n"
           "incr n 2\r\nset s 0 0 2\r\nab\r\nincr s 1\r\nincr n x\r\n",
           "NOT_FOUND\r\nSTORED\r\n15\r\n0\r\n18446744073709551615\r\n1\r\nSTORED\r\n"
           "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
           "CLIENT_ERROR invalid numeric delta argument\r\n");
    expect("set a 0 0 1 noreply\r\n5\r\nadd a 0 0 1 noreply\r\ny\r\ndelete b noreply\r\nincr a 1 noreply\r\n"
           "get a\r\nincr a x noreply\r\n",
           "VALUE a 0 1\r\n6\r\nEND\r\n"); /* noreply silences errors too, as in memcached 1.6 */
    expect("touch a 10\r\nset a 0 0 1\r\nx\r\ntouch a 10\r\n", "NOT_FOUND\r\nSTORED\r\nTOUCHED\r\n");
    expect("set a 0 0 1\r\nx\r\nflush_all\r\nget a\r\nflush_all noreply\r\n", "STORED\r\nOK\r\nEND\r\n");
    expect("bogus\r\n\r\nget\r\nversion\r\nverbosity 1\r\nverbosity\r\n",
           "ERROR\r\nERROR\r\nERROR\r\nVERSION 1.6.0\r\nOK\r\nERROR\r\n");
    expect("set a 0 0 -1\r\nset a 0 0 1\r\nab\r\n",
           "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\n");
    expect("set a 0 0 2000000\r\n", "SERVER_ERROR object too large for cache\r\n");
    /* the too-large value is swallowed, then the next command runs */
    {
        fresh(8 << 20, 1000);
        static char big[1100 + 64];
        strcpy(big, "set a 0 0 1001\r\n");
        size_t l = strlen(big);
        memset(big + l, 'v', 1001);
        memcpy(big + l + 1001, "\r\nget a\r\n", 10);
        const char *got = run(big, strlen(big), 100);
        CHECK_MSG(strcmp(got, "SERVER_ERROR object too large for cache\r\nEND\r\n") == 0, "got %s", got);
    }
    char key[300];
    memset(key, 'k', sizeof key);
    char line[1000];
    snprintf(line, sizeof line, "get %.251s\r\nset %.251s 0 0 1\r\nx\r\nget %.250s\r\n", key, key, key);
    char want[400];
    snprintf(want, sizeof want, "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n"
             "ERROR\r\nEND\r\n"); /* the data line of a refused set line is read as a command */
    expect(line, want);
    expect("stats nope\r\nstats sizes\r\n", "ERROR\r\nEND\r\n");
    /* memaslap's keys start with 0x10 bytes: accepted, as memcached does */
    expect("set \x10\x10k 0 0 1\r\nx\r\nget \x10\x10k\r\nget a\rb\r\n",
           "STORED\r\nVALUE \x10\x10k 0 1\r\nx\r\nEND\r\nEND\r\n"); /* any byte but space and NUL */
    expect("set a 0 0 1\r\nx\r\nquit\r\nget a\r\n", "STORED\r\n");
}

static void test_stats(void)
{
    fresh(8 << 20, 1 << 20);
    const char *got = run_s("set a 0 0 1\r\nx\r\nget a\r\nget b\r\nstats\r\n");
    CHECK_MSG(strstr(got, "STAT get_hits 1\r\n") && strstr(got, "STAT get_misses 1\r\n") &&
              strstr(got, "STAT curr_items 1\r\n") && strstr(got, "\r\nEND\r\n"),
          "stats: %s", got);
    /* refused stores (set and ms) and me are counted, and the bytes both ways */
    fresh(8 << 20, 1000);
    static char in[2 * 1100 + 64];
    size_t l = (size_t)sprintf(in, "set a 0 0 1001\r\n");
    memset(in + l, 'v', 1001);
    l += 1001;
    l += (size_t)sprintf(in + l, "\r\nms b 1001\r\n");
    memset(in + l, 'v', 1001);
    l += 1001;
    l += (size_t)sprintf(in + l, "\r\nme a\r\n");
    size_t wrote = strlen(run(in, l, 300));
    got = run_s("stats\r\n");
    char want[200];
    snprintf(want, sizeof want, "STAT bytes_read %zu\r\nSTAT bytes_written %zu\r\n", l + 7, wrote);
    CHECK_MSG(strstr(got, want) && strstr(got, "STAT cmd_meta 1\r\n") && strstr(got, "STAT store_too_large 2\r\n") &&
                  strstr(got, "STAT store_no_memory 0\r\n"),
              "stats after refused stores: want %s in %s", want, got);
}

static void test_expiry(void)
{
    fresh(8 << 20, 1 << 20);
    fake_now = 100;
    run_s("set a 0 2 1\r\nx\r\nset b 0 -1 1\r\ny\r\nset c 0 0 1\r\nz\r\n");
    const char *got = run_s("get a b c\r\n");
    CHECK_MSG(strcmp(got, "VALUE a 0 1\r\nx\r\nVALUE c 0 1\r\nz\r\nEND\r\n") == 0, "got %s", got);
    fake_now = 102;
    got = run_s("get a c\r\n");
    CHECK_MSG(strcmp(got, "VALUE c 0 1\r\nz\r\nEND\r\n") == 0, "after expiry: %s", got);
    run_s("flush_all 5\r\n"); /* at 107, items stored before 107 vanish */
    fake_now = 106;
    run_s("set d 0 0 1\r\nw\r\n");
    got = run_s("get c d\r\n");
    CHECK_MSG(strcmp(got, "VALUE c 0 1\r\nz\r\nVALUE d 0 1\r\nw\r\nEND\r\n") == 0, "before delayed flush: %s", got);
    fake_now = 107;
    run_s("set e 0 0 1\r\nv\r\n");
    fake_now = 108;
    run_s("set d 0 0 1\r\nw\r\n"); /* stored after the flush time: survives */
    got = run_s("get c d e\r\n");
    CHECK_MSG(strcmp(got, "VALUE d 0 1\r\nw\r\nVALUE e 0 1\r\nv\r\nEND\r\n") == 0, "after delayed flush: %s", got);
    /* absolute unix times: with an epoch they count from it; without one they never expire */
    kv_set_epoch(1700000000);
    run_s("set e 0 1700000005 1\r\nx\r\n");
    fake_now = 107 + 100;
    got = run_s("get e\r\n");
    CHECK_MSG(strcmp(got, "END\r\n") == 0, "absolute exptime passed: %s", got);
    kv_set_epoch(0);
    run_s("set f 0 1900000005 1\r\nx\r\n"); /* (one surely past expires: test_memcached) */
    got = run_s("get f\r\n");
    CHECK_MSG(strcmp(got, "VALUE f 0 1\r\nx\r\nEND\r\n") == 0, "no epoch: %s", got);
    fake_now = 10;
}

/* Values larger than any segment, fed in odd sizes; read back whole. */
static void test_big_values(void)
{
    fresh(16 << 20, 2 << 20); /* -I 2m: a 1 MiB value plus memcached's item header */
    size_t vlen = 1 << 20;
    char *cmd = malloc(vlen + 100);
    int h = sprintf(cmd, "set big 42 0 %zu\r\n", vlen);
    for (size_t i = 0; i < vlen; i++)
        cmd[h + i] = (char)('a' + i % 26);
    memcpy(cmd + h + vlen, "\r\nget big\r\n", 11);
    size_t len = (size_t)h + vlen + 11;
    const char *got = run(cmd, len, 1448);
    int hh = (int)strlen("STORED\r\nVALUE big 42 1048576\r\n");
    CHECK_MSG(strncmp(got, "STORED\r\nVALUE big 42 1048576\r\n", (size_t)hh) == 0, "header %.40s", got);
    CHECK_MSG(memcmp(got + hh, cmd + h, vlen) == 0, "value differs");
    CHECK_MSG(strcmp(got + hh + vlen, "\r\nEND\r\n") == 0, "tail");
    CHECK_MSG(recv_done_total == len, "recv_done %zu of %zu", recv_done_total, len);
    free(cmd);
}

/* A multi-get of more keys than the reply queue holds: the connection pauses (holding
 * its input) and resumes as acknowledgements come, never exceeding ixev's queue. */
static void test_flow_control(void)
{
    fresh(16 << 20, 1 << 20);
    char *s = malloc(1 << 20);
    size_t l = 0;
    for (int i = 0; i < 600; i++)
        l += (size_t)sprintf(s + l, "set key%d 0 0 4\r\nv%03d\r\n", i, i % 1000);
    run(s, l, l);
    l = (size_t)sprintf(s, "get");
    for (int i = 0; i < 600; i++)
        l += (size_t)sprintf(s + l, " key%d", i);
    l += (size_t)sprintf(s + l, "\r\nget key1\r\n");
    out_len = 0;
    size_t before = recv_done_total;
    kv_conn_recv(&conn, s, l);
    CHECK_MSG(outstanding(&conn) <= KV_OUTQ, "outstanding %zu", outstanding(&conn));
    CHECK_MSG(recv_done_total == before, "input given back while the command is paused");
    int rounds = 0;
    while (outstanding(&conn) && rounds++ < 10000)
        ack(&conn, 7); /* slow peer */
    out[out_len] = 0;
    char *want = malloc(1 << 20);
    size_t w = 0;
    for (int i = 0; i < 600; i++)
        w += (size_t)sprintf(want + w, "VALUE key%d 0 4\r\nv%03d\r\n", i, i % 1000);
    w += (size_t)sprintf(want + w, "END\r\nVALUE key1 0 4\r\nv001\r\nEND\r\n");
    CHECK_MSG(out_len == w && memcmp(out, want, w) == 0, "multi-get reply wrong (%zu vs %zu bytes)", out_len, w);
    CHECK_MSG(recv_done_total == before + l, "input not given back");
    free(s);
    free(want);
}

/* A multi-get line longer than the line buffer, arriving in small segments, with a slow
 * peer: answered in parts, in order, with one END. */
static void test_long_multiget(void)
{
    fresh(16 << 20, 1 << 20);
    char *s = malloc(1 << 20);
    size_t l = 0;
    for (int i = 0; i < 2000; i++)
        l += (size_t)sprintf(s + l, "set key%d 0 0 5\r\nv%04d\r\n", i, i);
    run(s, l, l);
    l = (size_t)sprintf(s, "gets");
    for (int i = 0; i < 2000; i++)
        l += (size_t)sprintf(s + l, i % 7 ? " key%d" : "  key%d", i);
    l += (size_t)sprintf(s + l, " \r\nget key1\r\n");
    out_len = 0;
    for (size_t off = 0; off < l; off += 100) {
        kv_conn_recv(&conn, s + off, l - off < 100 ? l - off : 100);
        ack(&conn, 3);
    }
    int rounds = 0;
    while (outstanding(&conn) && rounds++ < 100000)
        ack(&conn, 3);
    out[out_len] = 0;
    char *want = malloc(1 << 20);
    size_t w = 0;
    for (int i = 0; i < 2000; i++)
        w += (size_t)sprintf(want + w, "VALUE key%d 0 5 %d\r\nv%04d\r\n", i, i + 1, i);
    w += (size_t)sprintf(want + w, "END\r\nVALUE key1 0 5\r\nv0001\r\nEND\r\n");
    CHECK_MSG(out_len == w && memcmp(out, want, w) == 0, "long multi-get reply wrong (%zu vs %zu bytes): %.200s",
          out_len, w, out);
    CHECK_MSG(closes == 0, "connection closed");
    /* a bad (too long) key in the second part of a long multi-get: the keys before it are
     * answered, then the error, and the rest of the line is dropped */
    l = (size_t)sprintf(s, "get");
    for (int i = 0; i < 1200; i++)
        l += (size_t)sprintf(s + l, " key%d", i);
    s[l++] = ' ';
    memset(s + l, 'x', 300);
    l += 300;
    for (int i = 0; i < 1200; i++)
        l += (size_t)sprintf(s + l, " key%d", i);
    l += (size_t)sprintf(s + l, "\r\nget key2\r\n");
    const char *bad = run(s, l, 1000);
    w = 0;
    for (int i = 0; i < 1200; i++)
        w += (size_t)sprintf(want + w, "VALUE key%d 0 5\r\nv%04d\r\n", i, i);
    w += (size_t)sprintf(want + w, "CLIENT_ERROR bad command line format\r\nVALUE key2 0 5\r\nv0002\r\nEND\r\n");
    CHECK_MSG(strlen(bad) == w && memcmp(bad, want, w) == 0, "bad key in a long multi-get: %.300s", bad);
    /* a single key longer than the line buffer closes the connection, as memcached does */
    memset(s, 'k', 9000);
    memcpy(s, "get ", 4);
    memcpy(s + 9000, "\r\n", 2);
    const char *got = run(s, 9002, 1000);
    CHECK_MSG(strcmp(got, "") == 0 && closes == 1, "got %s", got);
    free(s);
    free(want);
}

/* Output backpressure: a peer pipelines 2400 gets of 20 KB values in tiny segments (one
 * request each, as a client pacing its requests does) without reading. The connection
 * pauses once KV_OUT_MAX bytes wait, holds (copies, merged) the tiny segments without giving
 * them back, is never closed, and answers every request once the peer reads. */
static void test_backpressure(void)
{
    fresh(32 << 20, 1 << 20);
    enum { NV = 4, VLEN = 20000, NREQ = 2400 };
    static char val[NV][VLEN];
    char *s = malloc(VLEN + 100);
    for (int k = 0; k < NV; k++) {
        for (int i = 0; i < VLEN; i++)
            val[k][i] = (char)('a' + (i * 7 + k) % 26);
        size_t l = (size_t)sprintf(s, "set v%d %d 0 %d\r\n", k, k, VLEN);
        memcpy(s + l, val[k], VLEN);
        memcpy(s + l + VLEN, "\r\n", 2);
        run(s, l + VLEN + 2, 1448);
    }
    free(s);
    out_len = 0;
    size_t before = recv_done_total, given = 0;
    static char reqs[NREQ][16];
    for (int i = 0; i < NREQ; i++) {
        int n = sprintf(reqs[i], "get v%d\r\n", i % NV);
        kv_conn_recv(&conn, reqs[i], (size_t)n);
        given += (size_t)n;
    }
    CHECK_MSG(closes == 0, "closed while the peer was not reading");
    CHECK_MSG(conn.out_bytes <= KV_OUT_MAX + VLEN + 64, "output queue unbounded: %llu bytes", (unsigned long long)conn.out_bytes);
    CHECK_MSG(recv_done_total - before < given / 2, "input given back while it cannot be answered: %zu of %zu",
          recv_done_total - before, given);
    int rounds = 0;
    while (outstanding(&conn) && rounds++ < 1000000)
        ack(&conn, 2);
    size_t w = 0, hl = 0;
    char hdr[64];
    int ok = 1;
    for (int i = 0; i < NREQ && ok; i++) {
        hl = (size_t)sprintf(hdr, "VALUE v%d %d %d\r\n", i % NV, i % NV, VLEN);
        ok = w + hl + VLEN + 7 <= out_len && memcmp(out + w, hdr, hl) == 0 &&
             memcmp(out + w + hl, val[i % NV], VLEN) == 0 && memcmp(out + w + hl + VLEN, "\r\nEND\r\n", 7) == 0;
        CHECK_MSG(ok, "reply %d wrong", i);
        w += hl + VLEN + 7;
    }
    CHECK_MSG(w == out_len, "%zu bytes of replies, want %zu", out_len, w);
    CHECK_MSG(recv_done_total - before == given, "input not all given back: %zu of %zu", recv_done_total - before, given);
    CHECK_MSG(closes == 0, "closed");
}

/* Random command streams against a reference model: random values (some many segments
 * long), random segmentation of the input and random acknowledgement pacing. */
struct model {
    int present;
    uint32_t flags;
    size_t len;
    char val[4000];
};

static void append_s(char **b, size_t *l, const char *s, size_t n)
{
    memcpy(*b + *l, s, n);
    *l += n;
}

static void test_random(void)
{
    static struct model m[8];
    char *in = malloc(8 << 20), *want = malloc(8 << 20);
    for (int seed = 1; seed <= 20; seed++) {
        srand((unsigned)seed);
        memset(m, 0, sizeof m);
        fresh(32 << 20, 1 << 20);
        size_t il = 0, wl = 0;
        char line[128], v[4000];
        for (int op = 0; op < 300; op++) {
            int k = rand() % 8, what = rand() % 8;
            struct model *e = &m[k];
            size_t vl = (size_t)(rand() % 4) == 0 ? (size_t)(rand() % 3000) : (size_t)(rand() % 20);
            for (size_t i = 0; i < vl; i++)
                v[i] = (char)(' ' + rand() % 90);
            uint32_t fl = (uint32_t)(rand() % 5);
            int n;
            if (what <= 4) { /* set add replace append prepend */
                static const char *names[] = {"set", "add", "replace", "append", "prepend"};
                if (what >= 3 && e->len + vl > sizeof e->val)
                    continue;
                n = sprintf(line, "%s k%d %u 0 %zu\r\n", names[what], k, fl, vl);
                append_s(&in, &il, line, (size_t)n);
                append_s(&in, &il, v, vl);
                append_s(&in, &il, "\r\n", 2);
                int stored = what == 0 || (what == 1 && !e->present) || (what >= 2 && e->present);
                append_s(&want, &wl, stored ? "STORED\r\n" : "NOT_STORED\r\n", stored ? 8 : 12);
                if (!stored)
                    continue;
                if (what <= 2) {
                    memcpy(e->val, v, vl);
                    e->len = vl;
                    e->flags = fl;
                } else if (what == 3) {
                    memcpy(e->val + e->len, v, vl);
                    e->len += vl;
                } else {
                    static char tmp[sizeof e->val];
                    memcpy(tmp, v, vl);
                    memcpy(tmp + vl, e->val, e->len);
                    e->len += vl;
                    memcpy(e->val, tmp, e->len);
                }
                e->present = 1;
            } else if (what == 5) {
                n = sprintf(line, "delete k%d\r\n", k);
                append_s(&in, &il, line, (size_t)n);
                append_s(&want, &wl, e->present ? "DELETED\r\n" : "NOT_FOUND\r\n", e->present ? 9 : 11);
                e->present = 0;
            } else if (what == 6) {
                n = sprintf(line, "set k%d %u 0 1\r\n5\r\nincr k%d 7\r\n", k, fl, k);
                append_s(&in, &il, line, (size_t)n);
                append_s(&want, &wl, "STORED\r\n12\r\n", 12);
                memcpy(e->val, "12", 2);
                e->len = 2;
                e->flags = fl;
                e->present = 1;
            } else { /* multi-get of 1-4 keys */
                int nk = 1 + rand() % 4;
                append_s(&in, &il, "get", 3);
                for (int j = 0; j < nk; j++) {
                    int kk = rand() % 8;
                    n = sprintf(line, " k%d", kk);
                    append_s(&in, &il, line, (size_t)n);
                    if (m[kk].present) {
                        n = sprintf(line, "VALUE k%d %u %zu\r\n", kk, m[kk].flags, m[kk].len);
                        append_s(&want, &wl, line, (size_t)n);
                        append_s(&want, &wl, m[kk].val, m[kk].len);
                        append_s(&want, &wl, "\r\n", 2);
                    }
                }
                append_s(&in, &il, "\r\n", 2);
                append_s(&want, &wl, "END\r\n", 5);
            }
        }
        out_len = 0;
        for (size_t off = 0; off < il;) {
            size_t seg = 1 + (size_t)(rand() % 2000);
            if (seg > il - off)
                seg = il - off;
            kv_conn_recv(&conn, in + off, seg);
            off += seg;
            ack(&conn, (size_t)(rand() % 4));
        }
        int rounds = 0;
        while (outstanding(&conn) && rounds++ < 100000)
            ack(&conn, 1 + (size_t)(rand() % 3));
        CHECK_MSG(out_len == wl && memcmp(out, want, wl) == 0, "seed %d: reply differs from the model (%zu vs %zu bytes)",
              seed, out_len, wl);
        CHECK_MSG(recv_done_total == il, "seed %d: recv_done %zu of %zu", seed, recv_done_total, il);
        if (check_failures)
            break;
    }
    free(in);
    free(want);
}

/* Memory bound: far more data than the arena; the LRU evicts, recent keys stay. */
static void test_eviction(void)
{
    fresh(4 << 20, 64 << 10);
    char cmd[5000];
    char val[4000];
    memset(val, 'x', sizeof val);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(cmd, sizeof cmd, "set k%d 0 0 %d\r\n%.*s\r\n", i, 1000 + i % 2000, 1000 + i % 2000, val);
        const char *got = run(cmd, (size_t)n, (size_t)n);
        CHECK_MSG(strcmp(got, "STORED\r\n") == 0, "set %d: %s", i, got);
    }
    CHECK_MSG(kv_stats.evictions > 0, "no evictions");
    CHECK_MSG(kv_stats.bytes <= kv_stats.limit_maxbytes, "bytes %llu over limit", (unsigned long long)kv_stats.bytes);
    const char *got = run_s("get k4999\r\n");
    CHECK_MSG(strncmp(got, "VALUE k4999 0 ", 14) == 0, "most recent key evicted: %.40s", got);
    got = run_s("get k0\r\n");
    CHECK_MSG(strcmp(got, "END\r\n") == 0, "oldest key survived: %.40s", got);
}

/* A value being sent is pinned: deleting it and overwriting all memory must not touch it
 * before the peer acknowledges it (the fake ixev compares the bytes at ack time). */
static void test_pinning(void)
{
    fresh(2 << 20, 256 << 10);
    char *v = malloc(200000);
    memset(v, 'p', 200000);
    char *cmd = malloc(200100);
    int n = sprintf(cmd, "set pinned 0 0 200000\r\n");
    memcpy(cmd + n, v, 200000);
    memcpy(cmd + n + 200000, "\r\n", 2);
    run(cmd, (size_t)n + 200002, 1448);
    const char *g = "get pinned\r\n";
    kv_conn_recv(&conn, g, strlen(g)); /* not acknowledged yet */
    CHECK_MSG(outstanding(&conn_a) > 0, "reply outstanding");
    /* a second connection deletes it and fills the store */
    cur = &conn_b;
    memset(&conn, 0, sizeof conn);
    kv_conn_init(&conn);
    const char *got = run_s("delete pinned\r\n");
    CHECK_MSG(strcmp(got, "DELETED\r\n") == 0, "delete: %s", got);
    memset(v, 'q', 200000);
    for (int i = 0; i < 40; i++) {
        n = sprintf(cmd, "set other%d 0 0 200000\r\n", i);
        memcpy(cmd + n, v, 200000);
        memcpy(cmd + n + 200000, "\r\n", 2);
        run(cmd, (size_t)n + 200002, 65536);
    }
    CHECK_MSG(kv_stats.evictions > 0, "store was not filled");
    /* now the first connection's reply is acknowledged: ack() checks its bytes are intact */
    cur = &conn_a;
    size_t start = out_len;
    ack_all(&conn);
    CHECK_MSG(out_len - start == strlen("VALUE pinned 0 200000\r\n") + 200002 + 5, "reply length %zu", out_len - start);
    CHECK_MSG(memcmp(out + out_len - 8, "p\r\nEND\r\n", 8) == 0, "reply tail");
    /* the dead-connection path releases pins too */
    kv_conn_recv(&conn, "get other39\r\n", 13);
    kv_conn_dead(&conn);
    free(v);
    free(cmd);
}

/* A command split over segments keeps its last segment held (not given back) until it is
 * whole: the stack counts the connection's bytes as in the app's hands, so its flow group
 * cannot move to another core while this core's parser holds part of a command
 * (docs/scale.md, "What the kvstore needs for a move"). */
static void test_in_hand(void)
{
    fresh(8 << 20, 1 << 20);
    static char seg1[] = "set k 0 0 10\r\n01234", seg2[] = "56789\r", seg3[] = "\nget k\r\n", seg4[] = "ge", seg5[] = "t k\r\n";
    kv_conn_recv(&conn, seg1, strlen(seg1));
    CHECK_MSG(recv_done_total < strlen(seg1), "a value under way: its segment held (%zu given back)", recv_done_total);
    kv_conn_recv(&conn, seg2, strlen(seg2));
    CHECK_MSG(recv_done_total == strlen(seg1), "the earlier segment given back, the last held (%zu)", recv_done_total);
    kv_conn_recv(&conn, seg3, strlen(seg3));
    ack_all(&conn);
    size_t whole = strlen(seg1) + strlen(seg2) + strlen(seg3);
    CHECK_MSG(recv_done_total == whole, "the command whole: everything given back (%zu of %zu)", recv_done_total, whole);
    kv_conn_recv(&conn, seg4, strlen(seg4)); /* a line split in two */
    CHECK_MSG(recv_done_total == whole, "half a line held (%zu)", recv_done_total);
    kv_conn_recv(&conn, seg5, strlen(seg5));
    ack_all(&conn);
    whole += strlen(seg4) + strlen(seg5);
    CHECK_MSG(recv_done_total == whole, "the line whole: given back (%zu of %zu)", recv_done_total, whole);
    out[out_len] = 0;
    CHECK_MSG(strcmp(out, "STORED\r\nVALUE k 0 10\r\n0123456789\r\nEND\r\nVALUE k 0 10\r\n0123456789\r\nEND\r\n") == 0, "replies: %s", out);
    /* the peer closes with a command half sent: nothing is held any more, the connection ends */
    static char seg6[] = "get";
    kv_conn_recv(&conn, seg6, strlen(seg6));
    kv_conn_eof(&conn);
    CHECK_MSG(recv_done_total == whole + 3 && closes == 1, "eof mid-line: given back (%zu), closed (%zu)", recv_done_total, (size_t)closes);
}

int main(void)
{
    kvt_slab();
    test_protocol();
    test_stats();
    test_expiry();
    test_big_values();
    test_flow_control();
    test_backpressure();
    test_long_multiget();
    test_random();
    test_eviction();
    test_pinning();
    test_in_hand();
    kvt_threads();
    return check_summary("kvtest");
}
/* stats.c reads these from main.c */
uint32_t kv_ncores = 1, kv_conns_max = 1, kv_port = 11211;
