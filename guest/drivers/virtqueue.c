/* Driver side of a split virtqueue. See virtqueue.h. */
#include "virtqueue.h"

/* The ring words shared with the device are accessed with atomics so the compiler neither
 * tears nor caches them; on x86 acquire/release cost nothing, the one full fence sits
 * between publishing and reading the device's event index. */
#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define STORE_RLX(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static inline volatile uint16_t *used_event(struct virtqueue *vq) { return &vq->avail->ring[vq->size]; }
static inline volatile uint16_t *avail_event(struct virtqueue *vq)
{
    return (volatile uint16_t *)&vq->used->ring[vq->size];
}

int vq_init(struct virtqueue *vq, void *desc, void *avail, void *used, uint16_t size)
{
    if (!vq || !desc || !avail || !used || size == 0 || size > VQ_SIZE_MAX || (size & (size - 1)) != 0)
        return -1;
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->size = size;
    for (uint16_t i = 0; i < size; i++) {
        vq->desc[i].next = (uint16_t)(i + 1);
        vq->cookie[i] = NULL;
        vq->chain_len[i] = 0;
    }
    vq->free_head = 0;
    vq->num_free = size;
    vq->avail->flags = 0; /* with EVENT_IDX the flags are unused; used_event does the job */
    vq->avail_idx = vq->published = LOAD_ACQ(&vq->avail->idx);
    vq->last_used = LOAD_ACQ(&vq->used->idx);
    *used_event(vq) = vq->last_used; /* the first used entry interrupts; re-armed explicitly */
    vq->bad_used = 0;
    return 0;
}

int vq_add(struct virtqueue *vq, const struct vq_seg *segs, int n, bool writable, void *cookie)
{
    if (n < 1 || n > vq->num_free || !cookie)
        return -1;
    uint16_t head = vq->free_head, i = head, last = head;
    uint16_t flags = writable ? VQ_DESC_F_WRITE : 0;
    for (int s = 0; s < n; s++) {
        struct vq_desc *d = &vq->desc[i];
        d->addr = segs[s].addr;
        d->len = segs[s].len;
        d->flags = (uint16_t)(flags | (s + 1 < n ? VQ_DESC_F_NEXT : 0));
        last = i;
        i = d->next; /* free list link == chain link for the next segment */
    }
    vq->free_head = vq->desc[last].next;
    vq->num_free = (uint16_t)(vq->num_free - n);
    vq->cookie[head] = cookie;
    vq->chain_len[head] = (uint16_t)n;
    STORE_RLX(&vq->avail->ring[vq->avail_idx & (vq->size - 1)], head);
    vq->avail_idx++;
    return head;
}

bool vq_publish(struct virtqueue *vq)
{
    uint16_t old = vq->published, now = vq->avail_idx;
    if (old == now)
        return false;
    STORE_REL(&vq->avail->idx, now); /* descriptors and ring slots before the index */
    vq->published = now;
    FENCE(); /* the index must be visible before we read the device's avail_event */
    return vq_need_event(*avail_event(vq), now, old);
}

uint16_t vq_used_pending(const struct virtqueue *vq)
{
    return (uint16_t)(LOAD_ACQ(&vq->used->idx) - vq->last_used);
}

void *vq_get_used(struct virtqueue *vq, uint32_t *len, uint16_t *head)
{
    for (;;) {
        if (LOAD_ACQ(&vq->used->idx) == vq->last_used)
            return NULL;
        struct vq_used_elem *e = &vq->used->ring[vq->last_used & (vq->size - 1)];
        uint32_t id = e->id;
        uint32_t l = e->len;
        vq->last_used++;
        if (id >= vq->size || !vq->cookie[id]) {
            vq->bad_used++; /* not ours: never follow it */
            continue;
        }
        void *cookie = vq->cookie[id];
        uint16_t n = vq->chain_len[id];
        vq->cookie[id] = NULL;
        /* return the chain to the free list: walk n-1 links to its tail */
        uint16_t tail = (uint16_t)id;
        for (uint16_t k = 1; k < n; k++)
            tail = vq->desc[tail].next;
        vq->desc[tail].next = vq->free_head;
        vq->free_head = (uint16_t)id;
        vq->num_free = (uint16_t)(vq->num_free + n);
        if (len)
            *len = l;
        if (head)
            *head = (uint16_t)id;
        return cookie;
    }
}

bool vq_arm_interrupt(struct virtqueue *vq)
{
    *used_event(vq) = vq->last_used;
    FENCE();
    return vq_used_pending(vq) != 0;
}
