/* libFuzzer target (c): a client's byte stream into the kvstore (guest/apps/kvstore): the
 * connection layer (reassembly, flow control), the text-protocol parser, the commands and the
 * store, with a small arena so that eviction runs.
 *
 * The input is a program of one-byte records, each maybe followed by data:
 *   h & 3 == 0, 1   a segment of 1 + (h >> 2) * 3 bytes of stream follows (the split points
 *                   are the fuzzer's)
 *   h & 3 == 2      the client acknowledges (h >> 2) reply pieces (0: all)
 *   h & 3 == 3      (h >> 2) == 63: the client closes its side (eof); else the clock
 *                   advances by (h >> 2) seconds
 * A fake ixev plays the network as the unit test's does, with checks: segments are handed
 * over in their own heap buffers and freed the moment the app gives them back
 * (ixev_recv_done), so a read after that is a use-after-free; the app never gives back more
 * than it got; reply pieces must be unchanged when acknowledged (zero copy) and never more
 * than IXEV_SENDQ outstanding. At the end the connection dies, everything is flushed, and
 * the arena must be empty (no item leaked by a pin). */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "slab.h"
#include "fuzz_input.h"

static uint32_t fake_now = 10;
uint32_t kv_now(void) { return fake_now; }
/* what main.c defines for stats */
uint32_t kv_ncores = 1, kv_conns_max = 1, kv_port = 11211;

/* ---- received segments: held by the app until ixev_recv_done ---- */
#define MAX_SEGS 4096
static struct seg {
    uint8_t *buf;
    size_t len, done;
} segs[MAX_SEGS];
static size_t seg_head, seg_tail;     /* [head, tail): not yet fully given back */
static size_t given, returned;

void ixev_recv_done(struct ixev_ctx *c, size_t bytes)
{
    (void)c;
    returned += bytes;
    FZ_CHECK(returned <= given); /* the app gives back only what it got */
    while (bytes > 0) {
        FZ_CHECK(seg_head < seg_tail);
        struct seg *s = &segs[seg_head];
        size_t n = s->len - s->done < bytes ? s->len - s->done : bytes;
        s->done += n;
        bytes -= n;
        if (s->done == s->len) {
            free(s->buf); /* any later read of these bytes is an ASan use-after-free */
            s->buf = NULL;
            seg_head++;
        }
    }
}

/* ---- reply pieces: unchanged until acknowledged ---- */
struct piece {
    const char *p;
    size_t n;
    char *copy;
};
#define MAX_PIECES 4096
static struct piece pieces[MAX_PIECES];
static size_t p_head, p_tail;
static int closed;

int ixev_send(struct ixev_ctx *c, const void *buf, size_t len)
{
    (void)c;
    FZ_CHECK(!closed);
    FZ_CHECK(p_tail - p_head < IXEV_SENDQ);
    FZ_CHECK(len > 0);
    struct piece *p = &pieces[p_tail++ % MAX_PIECES];
    p->p = buf;
    p->n = len;
    p->copy = malloc(len);
    memcpy(p->copy, buf, len);
    return 0;
}

void ixev_close(struct ixev_ctx *c)
{
    (void)c;
    FZ_CHECK(!closed); /* once */
    closed = 1;
}

static struct kv_conn conn;
static char heap[1 << 20] __attribute__((aligned(64)));

/* Each input starts from the store as kv_store_init leaves it on a zeroed heap. Instead of
 * zeroing the whole megabyte per input (a fifth of the run time), only what the last input
 * wrote is zeroed: the chunks slab_alloc handed out and the pages slab_page_move re-carved
 * (both wrapped at link time, see the Makefile); kv_store_init rewrites its own state, table
 * and page map. Every HEAP_VERIFY_EVERY inputs the heap after kv_store_init is compared with
 * the one the first input had; a difference (the store wrote somewhere else) prints a
 * warning and the target goes back to zeroing everything. */
#define MAX_DIRTY 4096
#define HEAP_VERIFY_EVERY 256
static struct {
    char *p;
    size_t n;
} dirty[MAX_DIRTY];
static size_t ndirty;
static int zero_all = 1; /* the first input, after an overflow of dirty[], or for good */
static int zero_all_for_good;
static char *heap0; /* the heap after the first kv_store_init */
static unsigned long inputs;

static void note_dirty(void *p, size_t n)
{
    if (ndirty == MAX_DIRTY) {
        zero_all = 1;
        return;
    }
    dirty[ndirty].p = p;
    dirty[ndirty].n = n;
    ndirty++;
}

void *__real_slab_alloc(struct slab *s, unsigned id);
void *__wrap_slab_alloc(struct slab *s, unsigned id)
{
    void *p = __real_slab_alloc(s, id);
    if (p)
        note_dirty(p, s->cls[id].size);
    return p;
}

void __real_slab_page_move(struct slab *s, uint64_t page, unsigned to);
void __wrap_slab_page_move(struct slab *s, uint64_t page, unsigned to)
{
    note_dirty(s->base + page * s->page_size, s->page_size);
    __real_slab_page_move(s, page, to);
}

static void heap_reset(void)
{
    if (zero_all || zero_all_for_good) {
        memset(heap, 0, sizeof heap);
    } else {
        for (size_t i = 0; i < ndirty; i++)
            memset(dirty[i].p, 0, dirty[i].n);
    }
    ndirty = 0;
    zero_all = 0;
    FZ_CHECK(kv_store_init(heap, sizeof heap, 64 << 10, 0) == 0);
    kv_store_publish();
    if (!heap0) {
        heap0 = malloc(sizeof heap);
        FZ_CHECK(heap0 != NULL);
        memcpy(heap0, heap, sizeof heap);
    } else if (++inputs % HEAP_VERIFY_EVERY == 0 && !zero_all_for_good && memcmp(heap, heap0, sizeof heap) != 0) {
        fprintf(stderr, "fuzz_kvstore: the store wrote outside the chunks and pages it was given; "
                        "zeroing the whole heap per input from now on (slower; update heap_reset)\n");
        zero_all_for_good = 1;
        memset(heap, 0, sizeof heap);
        FZ_CHECK(kv_store_init(heap, sizeof heap, 64 << 10, 0) == 0);
        kv_store_publish();
    }
}

static void ack(size_t max)
{
    size_t bytes = 0;
    while (p_head < p_tail && (max == 0 || max-- > 0)) {
        struct piece *p = &pieces[p_head++ % MAX_PIECES];
        FZ_CHECK(memcmp(p->p, p->copy, p->n) == 0); /* sent bytes changed before their ack */
        bytes += p->n;
        free(p->copy);
    }
    if (bytes && !closed)
        kv_conn_sent(&conn, bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fake_now = 10;
    heap_reset();
    memset(&conn, 0, sizeof conn);
    kv_conn_init(&conn);
    seg_head = seg_tail = given = returned = 0;
    p_head = p_tail = 0;
    closed = 0;
    int eof = 0;

    struct fz_in in = {data, size};
    while (in.n > 0 && !closed) {
        uint8_t h = fz_u8(&in);
        switch (h & 3) {
        case 0: case 1: {
            if (eof || seg_tail == MAX_SEGS)
                break;
            size_t want = 1 + (size_t)(h >> 2) * 3;
            size_t n = want < in.n ? want : in.n;
            if (n == 0)
                break;
            struct seg *s = &segs[seg_tail++];
            s->buf = malloc(n);
            s->len = fz_bytes(&in, s->buf, (uint32_t)n);
            s->done = 0;
            given += s->len;
            kv_conn_recv(&conn, s->buf, s->len);
            break;
        }
        case 2:
            ack(h >> 2);
            break;
        case 3:
            if ((h >> 2) == 63) {
                if (!eof)
                    kv_conn_eof(&conn);
                eof = 1;
            } else {
                fake_now += h >> 2;
            }
            break;
        }
    }
    /* the client takes every reply, then the connection goes */
    for (int i = 0; i < 1000 && p_head < p_tail && !closed; i++)
        ack(0);
    kv_conn_dead(&conn);
    while (p_head < p_tail)
        free(pieces[p_head++ % MAX_PIECES].copy);
    for (; seg_head < seg_tail; seg_head++)
        free(segs[seg_head].buf); /* the stack frees what the dead connection held */
    kv_lock();
    kv_flush(0);
    uint64_t used, total;
    kv_arena_usage(&used, &total);
    kv_unlock();
    FZ_CHECK(used == 0); /* nothing pinned or leaked once all is flushed */
    return 0;
}
