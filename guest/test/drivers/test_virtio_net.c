/* Host unit tests of the guest virtio-net driver (guest/drivers) against fake_device.c.
 * Built with -fsanitize=address,undefined; any ring misuse trips an assert or a sanitizer. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fake_device.h"
#include "virtio_net.h"

#define MEM_SIZE (4u << 20)
#define NBUF 512
#define BUF_SIZE 2048
static uint8_t *mem;

/* test environment behind struct vnet_ops */
struct env {
    int free_bufs[NBUF], nfree;
    int kicks;
    int delivered, returned_empty;
    uint8_t last[BUF_SIZE];
    uint32_t last_len;
    int tx_done[NBUF], ntx_done;
};
static uint8_t *buf_of(int i) { return mem + (1u << 20) + (uint32_t)i * BUF_SIZE; }

/* [2 MiB, 2 MiB + 64 KiB) is mapped with adjacent pages swapped, like app memory whose
 * pages are not physically contiguous; everything else is identity (the direct map). */
#define SCRAMBLED 0x200000u
#define SCRAMBLED_LEN 0x10000u
static uint64_t scramble(uint64_t a)
{
    if (a >= SCRAMBLED && a < SCRAMBLED + SCRAMBLED_LEN)
        return SCRAMBLED + ((((a - SCRAMBLED) >> 12) ^ 1) << 12) + (a & 4095);
    return a;
}
static uint64_t v2p(void *ctx, const void *p)
{
    (void)ctx;
    uint64_t a = (uint64_t)((const uint8_t *)p - mem);
    assert(a < MEM_SIZE);
    return scramble(a);
}
static void *p2v(void *ctx, uint64_t pa)
{
    (void)ctx;
    assert(pa < MEM_SIZE);
    return mem + scramble(pa);
}
static int rx_alloc(void *ctx, void **cookie, void **buf, uint32_t *len)
{
    struct env *e = ctx;
    if (e->nfree == 0)
        return -1;
    int b = e->free_bufs[--e->nfree];
    *cookie = (void *)(uintptr_t)(b + 1);
    *buf = buf_of(b);
    *len = BUF_SIZE;
    return 0;
}
static void rx_deliver(void *ctx, void *cookie, uint8_t *frame, uint32_t len)
{
    struct env *e = ctx;
    int b = (int)(uintptr_t)cookie - 1;
    assert(b >= 0 && b < NBUF);
    if (frame) {
        assert(frame == buf_of(b) + VNET_HDR_LEN);
        memcpy(e->last, frame, len);
        e->last_len = len;
        e->delivered++;
    } else {
        e->returned_empty++;
    }
    e->free_bufs[e->nfree++] = b;
}
static void tx_done(void *ctx, void *cookie)
{
    struct env *e = ctx;
    e->tx_done[e->ntx_done++ % NBUF] = (int)(uintptr_t)cookie;
}
static void kick(void *ctx, uint16_t q)
{
    (void)q;
    ((struct env *)ctx)->kicks++;
}

static struct ix_nic_info info;
static struct fake_vq drx[2], dtx[2];

static void setup(struct env *e, struct vnet_ops *ops, uint16_t qsize)
{
    memset(mem, 0, MEM_SIZE);
    memset(e, 0, sizeof *e);
    for (int i = 0; i < NBUF; i++)
        e->free_bufs[e->nfree++] = NBUF - 1 - i;
    *ops = (struct vnet_ops){ e, v2p, p2v, rx_alloc, rx_deliver, tx_done, kick };
    memset(&info, 0, sizeof info);
    info.present = 1;
    info.nqueues = 2;
    info.mtu = 1500;
    uint64_t at = 4096;
    for (int q = 0; q < 2; q++) {
        struct ix_nic_vq *v[2] = { &info.rx[q], &info.tx[q] };
        for (int k = 0; k < 2; k++) {
            v[k]->size = qsize;
            v[k]->desc = at;
            at += vq_desc_bytes(qsize);
            v[k]->avail = at;
            at += (vq_avail_bytes(qsize) + 63) & ~63ull;
            v[k]->used = at;
            at += (vq_used_bytes(qsize) + 63) & ~63ull;
        }
        fdev_init(&drx[q], mem, MEM_SIZE, info.rx[q].desc, info.rx[q].avail, info.rx[q].used, qsize);
        fdev_init(&dtx[q], mem, MEM_SIZE, info.tx[q].desc, info.tx[q].avail, info.tx[q].used, qsize);
    }
    assert(at < (1u << 20));
}

/* The queue struct holds the shared TX header, which the device reads: in the guest it is
 * kernel memory; here it must live inside the fake guest memory too. */
static struct vnet_queue *qalloc(void)
{
    _Static_assert(sizeof(struct vnet_queue) < (1u << 20), "queue fits in the test area");
    return (struct vnet_queue *)(mem + (3u << 20));
}

static void frame(uint8_t *f, uint32_t len, uint32_t seed)
{
    for (uint32_t i = 0; i < len; i++)
        f[i] = (uint8_t)(seed * 13 + i * 3);
}

static void test_init_rejects_bad_info(void)
{
    struct env e;
    struct vnet_ops ops;
    setup(&e, &ops, 64);
    struct vnet_queue *q = qalloc();
    CHECK(vnet_queue_init(q, &info, 2, &ops) < 0); /* index out of range */
    info.present = 0;
    CHECK(vnet_queue_init(q, &info, 0, &ops) < 0);
    info.present = 1;
    info.rx[0].size = 48; /* not a power of two */
    CHECK(vnet_queue_init(q, &info, 0, &ops) < 0);
    info.rx[0].size = 2048; /* above VQ_SIZE_MAX */
    CHECK(vnet_queue_init(q, &info, 0, &ops) < 0);
    info.rx[0].size = 64;
    CHECK(vnet_queue_init(q, &info, 0, &ops) == 0);
}

static void test_rx_tx_roundtrip(void)
{
    struct env e;
    struct vnet_ops ops;
    setup(&e, &ops, 64);
    struct vnet_queue *q = qalloc();
    CHECK(vnet_queue_init(q, &info, 1, &ops) == 0);
    CHECK(vnet_rx_refill(q, 1000) == 64); /* fills the ring, no more */
    CHECK(fdev_pending(&drx[1]) == 64);
    CHECK(e.kicks == 1); /* avail_event starts at 0: first publish kicks */
    uint8_t f[1514], out[2048];
    for (uint32_t i = 0; i < 10; i++) {
        frame(f, 60 + i * 100, i);
        CHECK(fdev_rx(&drx[1], f, 60 + i * 100));
    }
    fdev_publish(&drx[1]);
    CHECK(vnet_rx_poll(q, 4) == 4); /* budget respected */
    CHECK(vnet_rx_poll(q, 64) == 6);
    CHECK(e.delivered == 10 && e.last_len == 960 && memcmp(e.last, f, 960) == 0);
    CHECK(q->st.rx_frames == 10);
    CHECK(vnet_rx_refill(q, 64) == 10);

    /* TX of a frame in three pieces: the device sees header + concatenation */
    frame(f, 1000, 77);
    const void *bufs[3] = { f, f + 14, f + 34 };
    uint32_t lens[3] = { 14, 20, 966 };
    memcpy(buf_of(400), f, 1000); /* TX segments must live in guest memory */
    const void *gb[3] = { buf_of(400), buf_of(400) + 14, buf_of(400) + 34 };
    (void)bufs;
    CHECK(vnet_tx(q, (void *)1, gb, lens, 3) == 0);
    CHECK(vnet_tx(q, (void *)2, gb, lens, 1) == 0);
    CHECK(fdev_pending(&dtx[1]) == 0); /* not published yet */
    vnet_tx_flush(q);
    CHECK(fdev_tx(&dtx[1], out, sizeof out) == 1000 && memcmp(out, f, 1000) == 0);
    CHECK(fdev_tx(&dtx[1], out, sizeof out) == 14 && memcmp(out, f, 14) == 0);
    CHECK(vnet_tx_reclaim(q, 64) == 0); /* device has not published */
    fdev_publish(&dtx[1]);
    CHECK(vnet_tx_reclaim(q, 64) == 2 && e.tx_done[0] == 1 && e.tx_done[1] == 2);
}

static void test_tx_ring_full_and_bad_args(void)
{
    struct env e;
    struct vnet_ops ops;
    setup(&e, &ops, 16);
    struct vnet_queue *q = qalloc();
    CHECK(vnet_queue_init(q, &info, 0, &ops) == 0);
    const void *b[2] = { buf_of(0), buf_of(1) };
    uint32_t l[2] = { 60, 60 };
    int ok = 0;
    while (vnet_tx(q, (void *)(uintptr_t)(ok + 1), b, l, 2) == 0)
        ok++;
    /* 16 descriptors / 3 per frame in the ring, the rest in the backlog until it is full */
    CHECK(ok == 5 + VNET_TX_BACKLOG);
    CHECK(q->st.tx_full == 1 && q->st.tx_backlogged == VNET_TX_BACKLOG && q->txb_n == VNET_TX_BACKLOG);
    CHECK(fdev_pending(&dtx[0]) == 5); /* the full ring was published when the backlog began */
    CHECK(vnet_prepare_halt(q) == true); /* frames wait for descriptors: do not halt */
    uint32_t zero[1] = { 0 };
    CHECK(vnet_tx(q, (void *)1, b, zero, 1) < 0);
    CHECK(vnet_tx(q, (void *)0, b, l, 1) < 0);
    CHECK(vnet_tx(q, (void *)1, b, l, VNET_TX_SEGS_MAX + 1) < 0);
    /* the device drains the ring again and again: every accepted frame comes out, in order */
    uint8_t out[256];
    int sent = 0, done = 0;
    for (int round = 0; round < 1000 && done < ok; round++) {
        vnet_tx_flush(q);
        while (fdev_tx(&dtx[0], out, sizeof out) == 120)
            sent++;
        fdev_publish(&dtx[0]);
        int n = vnet_tx_reclaim(q, 100);
        for (int i = 0; i < n; i++)
            CHECK(e.tx_done[(done + i) % NBUF] == done + i + 1);
        done += n;
    }
    CHECK(sent == ok && done == ok);
    CHECK(q->txb_n == 0 && q->txb_nsegs == 0 && q->tx.num_free == 16);
    CHECK(vnet_prepare_halt(q) == false);
    /* a frame with more segments than the backlog has room for is refused, nothing queued */
    while (vnet_tx(q, (void *)7, b, l, 2) == 0)
        ;
    CHECK(q->st.tx_full == 2);
}

static void test_tx_backlog_keeps_order_and_segments(void)
{
    struct env e;
    struct vnet_ops ops;
    setup(&e, &ops, 8);
    struct vnet_queue *q = qalloc();
    CHECK(vnet_queue_init(q, &info, 0, &ops) == 0);
    /* frames of 1..3 pieces, each with its own bytes, many times the ring: what the device
     * reads is every frame whole, in the order they were queued, across the backlog's wrap */
    uint8_t want[64], out[256];
    uint32_t next_out = 0, next_in = 0;
    for (int round = 0; round < 400; round++) {
        for (int k = 0; k < 7; k++, next_in++) {
            int n = 1 + (int)(next_in % 3);
            const void *bp[3];
            uint32_t lp[3];
            for (int i = 0; i < n; i++) {
                uint8_t *p = buf_of(600 + (next_in % 64) * 3 + (uint32_t)i);
                memset(p, (int)(next_in + (uint32_t)i) & 0xff, 20);
                bp[i] = p;
                lp[i] = 20;
            }
            CHECK(vnet_tx(q, (void *)(uintptr_t)(next_in + 1), bp, lp, n) == 0);
        }
        for (int pass = 0; pass < 16 && (q->txb_n > 0 || q->tx.num_free < 8); pass++) {
            vnet_tx_flush(q);
            for (int got; (got = fdev_tx(&dtx[0], out, sizeof out)) > 0; next_out++) {
                int n = 1 + (int)(next_out % 3);
                for (int i = 0; i < n; i++)
                    memset(want + 20 * i, (int)(next_out + (uint32_t)i) & 0xff, 20);
                CHECK(got == 20 * n && memcmp(out, want, (size_t)got) == 0);
            }
            fdev_publish(&dtx[0]);
            vnet_tx_reclaim(q, 8);
        }
        if (check_failures)
            break;
    }
    CHECK(next_out == next_in && q->txb_n == 0);
    CHECK(q->st.tx_full == 0 && q->st.tx_backlogged > 400);
}

static void test_event_idx(void)
{
    struct env e;
    struct vnet_ops ops;
    setup(&e, &ops, 64);
    struct vnet_queue *q = qalloc();
    CHECK(vnet_queue_init(q, &info, 0, &ops) == 0);
    const void *b[1] = { buf_of(300) };
    uint32_t l[1] = { 60 };
    CHECK(vnet_tx(q, (void *)1, b, l, 1) == 0);
    vnet_tx_flush(q);
    CHECK(e.kicks == 1); /* first publish crosses avail_event 0 */
    CHECK(vnet_tx(q, (void *)2, b, l, 1) == 0);
    vnet_tx_flush(q);
    CHECK(e.kicks == 1); /* device is polling: suppressed */
    uint8_t out[128];
    fdev_tx(&dtx[0], out, sizeof out);
    fdev_tx(&dtx[0], out, sizeof out);
    fdev_want_kick(&dtx[0]); /* device goes idle */
    CHECK(vnet_tx(q, (void *)3, b, l, 1) == 0);
    vnet_tx_flush(q);
    CHECK(e.kicks == 2);
    vnet_tx_flush(q); /* nothing new: no kick */
    CHECK(e.kicks == 2);

    /* interrupts: the device signals only after the driver armed used_event */
    vnet_rx_refill(q, 8);
    uint8_t f[64];
    frame(f, 64, 1);
    fdev_rx(&drx[0], f, 64);
    CHECK(fdev_publish(&drx[0]) == true); /* used_event 0 at init: the first one interrupts */
    CHECK(vnet_rx_poll(q, 8) == 1);
    fdev_rx(&drx[0], f, 64);
    CHECK(fdev_publish(&drx[0]) == false); /* polling driver: no interrupt */
    CHECK(vnet_prepare_halt(q) == true);   /* a frame is waiting: do not halt */
    CHECK(vnet_rx_poll(q, 8) == 1);
    CHECK(vnet_prepare_halt(q) == false);
    fdev_rx(&drx[0], f, 64);
    CHECK(fdev_publish(&drx[0]) == true); /* armed: interrupt */
}

static void test_index_wraparound(void)
{
    struct env e;
    struct vnet_ops ops;
    setup(&e, &ops, 8);
    struct vnet_queue *q = qalloc();
    CHECK(vnet_queue_init(q, &info, 0, &ops) == 0);
    uint8_t f[200], out[2048];
    const void *b[1] = { buf_of(500) };
    for (uint32_t i = 0; i < 70000; i++) {
        vnet_rx_refill(q, 8);
        uint32_t len = 60 + i % 140;
        frame(f, len, i);
        CHECK(fdev_rx(&drx[0], f, len));
        fdev_publish(&drx[0]);
        e.delivered = 0;
        CHECK(vnet_rx_poll(q, 8) == 1);
        CHECK(e.delivered == 1 && e.last_len == len && memcmp(e.last, f, len) == 0);
        memcpy(buf_of(500), f, len);
        uint32_t l[1] = { len };
        CHECK(vnet_tx(q, (void *)(uintptr_t)(i + 1), b, l, 1) == 0);
        vnet_tx_flush(q);
        CHECK(fdev_tx(&dtx[0], out, sizeof out) == (int)len && memcmp(out, f, len) == 0);
        fdev_publish(&dtx[0]);
        CHECK(vnet_tx_reclaim(q, 8) == 1);
        if (check_failures)
            break;
    }
    CHECK(q->st.rx_frames == 70000 && q->st.tx_frames == 70000);
}

static void test_tx_splits_at_physical_page_breaks(void)
{
    struct env e;
    struct vnet_ops ops;
    setup(&e, &ops, 64);
    struct vnet_queue *q = qalloc();
    CHECK(vnet_queue_init(q, &info, 0, &ops) == 0);
    /* a 9000-byte piece starting 100 bytes into the scrambled region: pages 0,1,2 of it
     * are physically 1,0,3 -> 3 physical segments (+ header) */
    static uint8_t want[9000], out[9100];
    uint8_t *v = mem + SCRAMBLED + 100;
    for (uint32_t i = 0; i < sizeof want; i++) {
        want[i] = (uint8_t)(i * 7 + 3);
        mem[v2p(0, v + i)] = want[i]; /* store through the "page table" */
    }
    const void *b[2] = { v, buf_of(10) };
    uint32_t l[2] = { sizeof want, 50 };
    memset(buf_of(10), 0xab, 50);
    CHECK(vnet_tx(q, (void *)1, b, l, 2) == 0);
    CHECK(q->tx.num_free == 64 - (1 + 3 + 1));
    vnet_tx_flush(q);
    CHECK(fdev_tx(&dtx[0], out, sizeof out) == (int)sizeof want + 50);
    CHECK(memcmp(out, want, sizeof want) == 0);
    CHECK(out[sizeof want] == 0xab && out[sizeof want + 49] == 0xab);
    /* identity-mapped memory is merged into one segment even across pages */
    const void *c[1] = { buf_of(20) + 4000 };
    uint32_t cl[1] = { 3000 };
    uint16_t before = q->tx.num_free;
    CHECK(vnet_tx(q, (void *)2, c, cl, 1) == 0);
    CHECK(q->tx.num_free == before - 2);
}

static void test_buggy_device(void)
{
    struct env e;
    struct vnet_ops ops;
    setup(&e, &ops, 16);
    struct vnet_queue *q = qalloc();
    CHECK(vnet_queue_init(q, &info, 0, &ops) == 0);
    vnet_rx_refill(q, 4);
    fdev_push_used_raw(&drx[0], 9999, 100); /* unknown head */
    fdev_push_used_raw(&drx[0], 7, 100);    /* a head we never posted */
    uint8_t f[64];
    frame(f, 64, 3);
    fdev_rx(&drx[0], f, 64);
    fdev_push_used_raw(&drx[0], 1, 5000); /* a head we posted, with a length beyond the buffer */
    fdev_publish(&drx[0]);
    CHECK(vnet_rx_poll(q, 16) == 2);
    CHECK(q->rx.bad_used == 2);
    CHECK(e.delivered == 2 && e.last_len == BUF_SIZE - VNET_HDR_LEN); /* clamped to what we posted */
}

int main(void)
{
    mem = aligned_alloc(4096, MEM_SIZE);
    test_init_rejects_bad_info();
    test_rx_tx_roundtrip();
    test_tx_ring_full_and_bad_args();
    test_tx_backlog_keeps_order_and_segments();
    test_event_idx();
    test_index_wraparound();
    test_tx_splits_at_physical_page_breaks();
    test_buggy_device();
    free(mem);
    return check_summary("test_virtio_net");
}
