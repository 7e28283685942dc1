#include "fake_device.h"

#include <assert.h>
#include <string.h>

static uint16_t rd16(struct fake_vq *q, uint64_t a) { uint16_t v; memcpy(&v, q->mem + a, 2); return v; }
static uint32_t rd32(struct fake_vq *q, uint64_t a) { uint32_t v; memcpy(&v, q->mem + a, 4); return v; }
static uint64_t rd64(struct fake_vq *q, uint64_t a) { uint64_t v; memcpy(&v, q->mem + a, 8); return v; }
static void wr16(struct fake_vq *q, uint64_t a, uint16_t v) { memcpy(q->mem + a, &v, 2); }
static void wr32(struct fake_vq *q, uint64_t a, uint32_t v) { memcpy(q->mem + a, &v, 4); }

void fdev_init(struct fake_vq *q, uint8_t *mem, uint64_t mem_size, uint64_t desc, uint64_t avail, uint64_t used, uint16_t size)
{
    q->mem = mem;
    q->mem_size = mem_size;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
    q->size = size;
    q->last_avail = q->used_idx = q->published = 0;
}

uint16_t fdev_pending(struct fake_vq *q) { return (uint16_t)(rd16(q, q->avail + 2) - q->last_avail); }

struct seg { uint64_t addr; uint32_t len; uint16_t flags; };

/* pop a chain; asserts it is well formed (the driver under test must never post a bad one) */
static int pop(struct fake_vq *q, struct seg *segs, int max, uint16_t *head)
{
    if (fdev_pending(q) == 0)
        return 0;
    *head = rd16(q, q->avail + 4 + 2u * (q->last_avail & (q->size - 1)));
    q->last_avail++;
    assert(*head < q->size);
    int n = 0;
    uint16_t i = *head;
    for (;;) {
        assert(n < max);
        uint64_t d = q->desc + 16u * i;
        segs[n].addr = rd64(q, d);
        segs[n].len = rd32(q, d + 8);
        segs[n].flags = rd16(q, d + 12);
        assert(segs[n].len > 0 && segs[n].addr + segs[n].len <= q->mem_size);
        n++;
        if (!(segs[n - 1].flags & 1))
            return n;
        i = rd16(q, d + 14);
        assert(i < q->size);
    }
}

static void push_used(struct fake_vq *q, uint32_t id, uint32_t len)
{
    uint64_t e = q->used + 4 + 8u * (q->used_idx & (q->size - 1));
    wr32(q, e, id);
    wr32(q, e + 4, len);
    q->used_idx++;
}

void fdev_push_used_raw(struct fake_vq *q, uint32_t id, uint32_t len) { push_used(q, id, len); }

bool fdev_rx(struct fake_vq *q, const uint8_t *frame, uint32_t len)
{
    struct seg s[8];
    uint16_t head;
    int n = pop(q, s, 8, &head);
    if (n == 0)
        return false;
    uint32_t off = 0, want = 12 + len;
    uint8_t hdr[12] = { 0 };
    for (int k = 0; k < n && off < want; k++) {
        assert(s[k].flags & 2); /* RX buffers must be device-writable */
        uint32_t c = s[k].len < want - off ? s[k].len : want - off;
        for (uint32_t b = 0; b < c; b++) {
            uint32_t p = off + b;
            q->mem[s[k].addr + b] = p < 12 ? hdr[p] : frame[p - 12];
        }
        off += c;
    }
    assert(off == want);
    push_used(q, head, want);
    return true;
}

int fdev_tx(struct fake_vq *q, uint8_t *out, uint32_t cap)
{
    struct seg s[32];
    uint16_t head;
    int n = pop(q, s, 32, &head);
    if (n == 0)
        return -1;
    uint32_t off = 0;
    for (int k = 0; k < n; k++) {
        assert(!(s[k].flags & 2)); /* TX buffers are device-readable */
        for (uint32_t b = 0; b < s[k].len; b++, off++) {
            uint8_t v = q->mem[s[k].addr + b];
            if (off < 12)
                assert(v == 0); /* no offloads: header all zero */
            else if (off - 12 < cap)
                out[off - 12] = v;
        }
    }
    push_used(q, head, 0);
    assert(off >= 12);
    return (int)(off - 12);
}

bool fdev_publish(struct fake_vq *q)
{
    uint16_t old = q->published, now = q->used_idx;
    if (old == now)
        return false;
    wr16(q, q->used + 2, now);
    q->published = now;
    uint16_t ev = rd16(q, q->avail + 4 + 2u * q->size);
    return (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
}

void fdev_want_kick(struct fake_vq *q) { wr16(q, q->used + 4 + 8u * q->size, q->last_avail); }
