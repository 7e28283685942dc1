/* Host unit tests of the guest AF_XDP ring driver (guest/drivers/xsk.c) against a fake
 * kernel side written here: the four rings in "guest memory" with the Linux layout (u32
 * producer/consumer, u64 FILL/COMPLETION entries, 16-byte RX/TX descriptors), unaligned-chunk
 * RX addresses (base | offset << 48). Built with -fsanitize=address,undefined. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xsk.h"

#define MEM_SIZE (8u << 20)
#define BUF0 (1u << 20) /* the RX buffers: frame areas 2 KiB apart from here */
#define NBUF 1024
#define TXAREA (4u << 20)
static uint8_t *mem;

struct env {
    int nfree;
    int free_bufs[NBUF];
    int doorbells, delivered, dropped;
    uint8_t last[IX_XSK_CHUNK];
    uint32_t last_len;
    int posted[NBUF];
};
static uint8_t *frame_of(int i) { return mem + BUF0 + (uint32_t)i * IX_XSK_CHUNK + IX_XSK_HEADROOM; }
static uint64_t v2p(void *ctx, const void *p) { (void)ctx; return (uint64_t)((const uint8_t *)p - mem); }
static void *p2v(void *ctx, uint64_t pa) { (void)ctx; CHECK(pa < MEM_SIZE); return mem + pa; }
static int rx_alloc(void *ctx, void **cookie, uint8_t **frame)
{
    struct env *e = ctx;
    if (e->nfree == 0)
        return -1;
    int i = e->free_bufs[--e->nfree];
    e->posted[i] = 1;
    *cookie = (void *)(uintptr_t)(i + 1);
    *frame = frame_of(i);
    return 0;
}
static void *rx_lookup(void *ctx, uint8_t *frame)
{
    struct env *e = ctx;
    if (frame < frame_of(0) || frame >= frame_of(NBUF))
        return NULL;
    uint64_t off = (uint64_t)(frame - frame_of(0));
    if (off % IX_XSK_CHUNK)
        return NULL;
    int i = (int)(off / IX_XSK_CHUNK);
    return e->posted[i] ? (void *)(uintptr_t)(i + 1) : NULL;
}
static void rx_deliver(void *ctx, void *cookie, uint8_t *frame, uint32_t len)
{
    struct env *e = ctx;
    int i = (int)(uintptr_t)cookie - 1;
    CHECK(e->posted[i]);
    e->posted[i] = 0;
    e->free_bufs[e->nfree++] = i;
    if (!frame) {
        e->dropped++;
        return;
    }
    CHECK(frame == frame_of(i));
    memcpy(e->last, frame, len);
    e->last_len = len;
    e->delivered++;
}
static void doorbell(void *ctx, uint16_t q)
{
    struct env *e = ctx;
    CHECK(q == 0);
    e->doorbells++;
}

/* ---- the fake kernel side ---------------------------------------------------------- */
static struct ix_xsk_info *info;
static uint32_t *word(uint64_t pa) { return (uint32_t *)(mem + pa); }

/* Lay out the four rings of queue 0 at `at` (size entries each). */
static void make_rings(uint64_t at, uint32_t size)
{
    memset(mem + at, 0, 0x10000);
    struct ix_xsk_ring *r[4] = { &info->q[0].rx, &info->q[0].tx, &info->q[0].fill, &info->q[0].comp };
    for (int i = 0; i < 4; i++) {
        uint64_t base = at + (uint64_t)i * 0x4000;
        *r[i] = (struct ix_xsk_ring){ .producer = base, .consumer = base + 64, .flags = base + 128, .desc = base + 256, .size = size };
    }
}

/* The kernel receives a frame: takes a FILL entry, writes the frame after the headroom,
 * posts an RX descriptor. Returns 0 if FILL was empty. */
static int kernel_rx(const uint8_t *f, uint32_t len)
{
    struct ix_xsk_ring *fr = &info->q[0].fill, *rr = &info->q[0].rx;
    uint32_t fc = *word(fr->consumer);
    if (fc == *word(fr->producer))
        return 0;
    uint64_t addr = ((uint64_t *)(mem + fr->desc))[fc & (fr->size - 1)];
    *word(fr->consumer) = fc + 1;
    CHECK(addr + IX_XSK_CHUNK <= MEM_SIZE);
    memcpy(mem + addr + IX_XSK_HEADROOM, f, len);
    uint32_t rp = *word(rr->producer);
    struct ix_xdp_desc *d = (struct ix_xdp_desc *)(mem + rr->desc);
    d[rp & (rr->size - 1)] = (struct ix_xdp_desc){ addr | ((uint64_t)IX_XSK_HEADROOM << 48), len, 0 };
    *word(rr->producer) = rp + 1;
    return 1;
}

/* The kernel sends everything in TX (checking each descriptor names a slot of the TX area)
 * and completes it. Returns the frames sent; the last one is copied to out. */
static int kernel_tx(uint8_t *out, uint32_t *out_len)
{
    struct ix_xsk_ring *tr = &info->q[0].tx, *cr = &info->q[0].comp;
    int n = 0;
    while (*word(tr->consumer) != *word(tr->producer)) {
        uint32_t c = *word(tr->consumer);
        struct ix_xdp_desc d = ((struct ix_xdp_desc *)(mem + tr->desc))[c & (tr->size - 1)];
        CHECK(d.addr >= TXAREA && d.addr + d.len <= TXAREA + XSK_TX_SLOTS_MAX * IX_XSK_CHUNK && d.len <= XSK_FRAME_MAX);
        if (out) {
            memcpy(out, mem + d.addr, d.len);
            *out_len = d.len;
        }
        *word(tr->consumer) = c + 1;
        uint32_t p = *word(cr->producer);
        ((uint64_t *)(mem + cr->desc))[p & (cr->size - 1)] = d.addr;
        *word(cr->producer) = p + 1;
        n++;
    }
    return n;
}

static struct env env;
static const struct xsk_ops ops = { &env, v2p, p2v, rx_alloc, rx_lookup, rx_deliver, doorbell };

static void reset_env(void)
{
    memset(&env, 0, sizeof env);
    for (int i = NBUF - 1; i >= 0; i--)
        env.free_bufs[env.nfree++] = i;
}

static void setup(struct xsk_queue *q, uint32_t size, uint32_t tx_slots)
{
    reset_env();
    memset(info, 0, sizeof *info);
    *info = (struct ix_xsk_info){ .present = 1, .nqueues = 1, .chunk = IX_XSK_CHUNK, .headroom = IX_XSK_HEADROOM, .doorbell_port = 0x1e8 };
    make_rings(0x10000, size);
    CHECK(xsk_queue_init(q, info, 0, &ops, mem + TXAREA, tx_slots) == 0);
}

static void test_init_refuses(void)
{
    struct xsk_queue *q = calloc(1, sizeof *q);
    setup(q, 8, 4);
    info->q[0].fill.size = 6;
    CHECK(xsk_queue_init(q, info, 0, &ops, mem + TXAREA, 4) < 0); /* not a power of two */
    info->q[0].fill.size = 8;
    CHECK(xsk_queue_init(q, info, 1, &ops, mem + TXAREA, 4) < 0); /* no such queue */
    info->chunk = 4096;
    CHECK(xsk_queue_init(q, info, 0, &ops, mem + TXAREA, 4) < 0); /* another chunk size */
    info->chunk = IX_XSK_CHUNK;
    CHECK(xsk_queue_init(q, info, 0, &ops, mem + TXAREA, XSK_TX_SLOTS_MAX + 1) < 0);
    info->present = 0;
    CHECK(xsk_queue_init(q, info, 0, &ops, mem + TXAREA, 4) < 0);
    free(q);
}

static void test_rx(void)
{
    struct xsk_queue *q = calloc(1, sizeof *q);
    setup(q, 8, 4);
    CHECK_EQ(xsk_rx_refill(q), 8);
    CHECK_EQ(*word(info->q[0].fill.producer), 8);
    /* each FILL entry is a frame area minus the headroom */
    uint64_t a = ((uint64_t *)(mem + info->q[0].fill.desc))[0];
    CHECK(mem + a + IX_XSK_HEADROOM == frame_of(0));
    CHECK_EQ(xsk_rx_refill(q), 0); /* the kernel holds the target already */
    uint8_t f[1514];
    for (unsigned i = 0; i < sizeof f; i++)
        f[i] = (uint8_t)(i * 7 + 3);
    CHECK(kernel_rx(f, 60));
    CHECK(kernel_rx(f, 1514));
    CHECK_EQ(xsk_rx_poll(q, 64), 2);
    CHECK_EQ(env.delivered, 2);
    CHECK_EQ(env.last_len, 1514);
    CHECK(memcmp(env.last, f, 1514) == 0);
    CHECK_EQ(*word(info->q[0].rx.consumer), 2);
    CHECK_EQ(xsk_rx_refill(q), 2); /* refilled what was received */
    /* budget */
    for (int i = 0; i < 5; i++)
        CHECK(kernel_rx(f, 100));
    CHECK_EQ(xsk_rx_poll(q, 3), 3);
    CHECK_EQ(xsk_rx_poll(q, 64), 2);
    /* an RX address that names no posted buffer, and an over-long frame, are dropped and counted */
    xsk_rx_refill(q);
    struct ix_xsk_ring *rr = &info->q[0].rx;
    uint32_t rp = *word(rr->producer);
    ((struct ix_xdp_desc *)(mem + rr->desc))[rp & 7] = (struct ix_xdp_desc){ 0x1234 | ((uint64_t)IX_XSK_HEADROOM << 48), 60, 0 };
    *word(rr->producer) = rp + 1;
    CHECK(kernel_rx(f, 60));
    rp = *word(rr->producer);
    ((struct ix_xdp_desc *)(mem + rr->desc))[(rp - 1) & 7].len = XSK_FRAME_MAX + 1;
    int before = env.delivered;
    CHECK_EQ(xsk_rx_poll(q, 64), 2);
    CHECK_EQ(q->st.rx_bad, 2);
    CHECK_EQ(env.delivered, before);
    CHECK_EQ(env.dropped, 1); /* the over-long frame's buffer came back to its owner */
    free(q);
}

static void test_tx(void)
{
    struct xsk_queue *q = calloc(1, sizeof *q);
    setup(q, 8, 4);
    uint8_t a[14], b[100], out[IX_XSK_CHUNK];
    uint32_t out_len = 0;
    memset(a, 0xaa, sizeof a);
    for (unsigned i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)i;
    const void *bufs[2] = { a, b };
    uint32_t lens[2] = { sizeof a, sizeof b };
    CHECK(xsk_tx(q, bufs, lens, 2) == 0);
    CHECK_EQ(*word(info->q[0].tx.producer), 0); /* not visible before the flush */
    xsk_tx_flush(q);
    CHECK_EQ(*word(info->q[0].tx.producer), 1);
    CHECK_EQ(env.doorbells, 0); /* the host polls: no doorbell */
    CHECK_EQ(kernel_tx(out, &out_len), 1);
    CHECK_EQ(out_len, 114);
    CHECK(memcmp(out, a, 14) == 0 && memcmp(out + 14, b, 100) == 0);
    /* the host sleeps: a flush rings the doorbell, an empty flush does not */
    info->ctl[0].kick_wanted = 1;
    CHECK(xsk_tx(q, bufs, lens, 2) == 0);
    xsk_tx_flush(q);
    xsk_tx_flush(q);
    CHECK_EQ(env.doorbells, 1);
    info->ctl[0].kick_wanted = 0;
    /* out of slots until the completions are reclaimed */
    CHECK_EQ(kernel_tx(NULL, NULL), 1);
    CHECK_EQ(xsk_tx_reclaim(q), 2);
    for (int i = 0; i < 4; i++)
        CHECK(xsk_tx(q, bufs, lens, 2) == 0);
    CHECK(xsk_tx(q, bufs, lens, 2) < 0);
    CHECK_EQ(q->st.tx_full, 1);
    xsk_tx_flush(q);
    CHECK_EQ(kernel_tx(NULL, NULL), 4);
    CHECK_EQ(xsk_tx_reclaim(q), 4);
    CHECK(xsk_tx(q, bufs, lens, 2) == 0);
    /* bad frames: empty, too long */
    uint32_t zero = 0, big = XSK_FRAME_MAX + 1;
    CHECK(xsk_tx(q, bufs, &zero, 1) < 0);
    CHECK(xsk_tx(q, bufs, &big, 1) < 0);
    /* a completion naming no slot of ours (or one twice) never grows the free list */
    xsk_tx_flush(q);
    CHECK_EQ(kernel_tx(NULL, NULL), 1);
    struct ix_xsk_ring *cr = &info->q[0].comp;
    uint32_t p = *word(cr->producer);
    ((uint64_t *)(mem + cr->desc))[p & 7] = 0x1000;
    ((uint64_t *)(mem + cr->desc))[(p + 1) & 7] = TXAREA + 3;
    ((uint64_t *)(mem + cr->desc))[(p + 2) & 7] = TXAREA;
    *word(cr->producer) = p + 3;
    xsk_tx_reclaim(q);
    CHECK(q->tx_nfree <= q->tx_nslots);
    free(q);
}

static void test_halt(void)
{
    struct xsk_queue *q = calloc(1, sizeof *q);
    setup(q, 8, 4);
    xsk_rx_refill(q);
    CHECK(!xsk_prepare_halt(q));
    CHECK_EQ(info->ctl[0].halt_seq, 1);
    CHECK_EQ(env.doorbells, 0);
    info->ctl[0].kick_wanted = 1;
    CHECK(!xsk_prepare_halt(q));
    CHECK_EQ(info->ctl[0].halt_seq, 2);
    CHECK_EQ(env.doorbells, 1); /* a sleeping host is told to watch RX */
    uint8_t f[60] = { 1 };
    CHECK(kernel_rx(f, sizeof f));
    CHECK(xsk_prepare_halt(q)); /* a frame is waiting: do not halt */
    free(q);
}

/* 70 000 frames each way through 8-entry rings: the free-running indices wrap the masks many
 * times and every frame arrives intact. */
static void test_wrap(void)
{
    struct xsk_queue *q = calloc(1, sizeof *q);
    setup(q, 8, 8);
    uint8_t f[64], out[IX_XSK_CHUNK];
    uint32_t out_len;
    int ok = 1;
    for (int i = 0; i < 70000 && ok; i++) {
        xsk_rx_refill(q);
        memset(f, i & 0xff, sizeof f);
        f[0] = (uint8_t)(i >> 8);
        ok &= kernel_rx(f, sizeof f);
        ok &= xsk_rx_poll(q, 8) == 1 && env.last_len == 64 && memcmp(env.last, f, 64) == 0;
        const void *bufs[1] = { f };
        uint32_t lens[1] = { sizeof f };
        xsk_tx_reclaim(q);
        ok &= xsk_tx(q, bufs, lens, 1) == 0;
        xsk_tx_flush(q);
        ok &= kernel_tx(out, &out_len) == 1 && out_len == 64 && memcmp(out, f, 64) == 0;
    }
    CHECK(ok);
    CHECK_EQ(q->st.rx_frames, 70000);
    CHECK_EQ(q->st.tx_frames, 70000);
    free(q);
}

int main(void)
{
    mem = aligned_alloc(4096, MEM_SIZE);
    memset(mem, 0, MEM_SIZE);
    info = (struct ix_xsk_info *)(mem + 0x1000);
    CHECK_RUN(test_init_refuses);
    CHECK_RUN(test_rx);
    CHECK_RUN(test_tx);
    CHECK_RUN(test_halt);
    CHECK_RUN(test_wrap);
    free(mem);
    return check_summary("test_xsk");
}
