/* Driver side of a virtio 1.x split virtqueue (virtio 1.2 §2.7) with VIRTIO_F_VERSION_1 and
 * VIRTIO_RING_F_EVENT_IDX. No indirect descriptors. The host allocated the three ring parts
 * in guest memory (struct ix_nic_vq in boot info) and zeroed them; vq_init() takes their
 * virtual addresses and builds the free list. Single producer, single consumer: one core
 * owns a queue, so there are no locks.
 *
 * Batching: vq_add() only writes descriptors and the avail ring slot; vq_publish() makes a
 * whole batch visible with one index store and tells the caller whether the device asked for
 * a kick (EVENT_IDX), so a busy device that is polling is never notified.
 */
#ifndef IX_DRIVERS_VIRTQUEUE_H
#define IX_DRIVERS_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_SIZE_MAX 1024 /* per-queue cookie arrays are sized for this */

struct vq_desc {
    uint64_t addr; /* guest-physical */
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
_Static_assert(sizeof(struct vq_desc) == 16, "virtq_desc is 16 bytes");

struct vq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[]; /* size entries, then used_event */
};

struct vq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct vq_used {
    uint16_t flags;
    uint16_t idx;
    struct vq_used_elem ring[]; /* size entries, then avail_event */
};

/* One segment of a buffer, by guest-physical address. */
struct vq_seg {
    uint64_t addr;
    uint32_t len;
};

struct virtqueue {
    struct vq_desc *desc;
    struct vq_avail *avail;
    struct vq_used *used;
    uint16_t size;
    uint16_t free_head;   /* first free descriptor (linked through .next) */
    uint16_t num_free;
    uint16_t avail_idx;   /* next avail slot to fill (shadow of avail->idx) */
    uint16_t published;   /* avail->idx as last published */
    uint16_t last_used;   /* next used entry to consume */
    uint64_t bad_used;    /* used entries naming an unknown head (device bug): skipped */
    void *cookie[VQ_SIZE_MAX];     /* per head: the caller's token, NULL when free */
    uint16_t chain_len[VQ_SIZE_MAX];
};

/* Initialise the driver side. size must be a power of two <= VQ_SIZE_MAX; returns 0 or -1. */
int vq_init(struct virtqueue *vq, void *desc, void *avail, void *used, uint16_t size);

/* Add one buffer of n segments (all device-writable if `writable`, else device-readable)
 * with a non-NULL cookie. Not visible to the device until vq_publish(). Returns the head
 * index, or -1 if there are not enough free descriptors (or bad arguments). */
int vq_add(struct virtqueue *vq, const struct vq_seg *segs, int n, bool writable, void *cookie);

/* Make added buffers visible. Returns true if the device asked to be kicked (EVENT_IDX). */
bool vq_publish(struct virtqueue *vq);

/* Take the next used buffer: returns its cookie and sets *len (bytes the device wrote) and
 * *head (its head index) when non-NULL, or returns NULL if none. Frees its descriptors. */
void *vq_get_used(struct virtqueue *vq, uint32_t *len, uint16_t *head);

/* Number of used entries waiting. */
uint16_t vq_used_pending(const struct virtqueue *vq);

/* Before halting: ask the device to interrupt on the next used entry. Returns true if
 * entries are already waiting (do not halt then). */
bool vq_arm_interrupt(struct virtqueue *vq);

/* The EVENT_IDX rule (virtio 1.2 §2.7.10): notify if event_idx lies in [old, new). */
static inline bool vq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* Ring part sizes in bytes, for whoever allocates rings. */
static inline size_t vq_desc_bytes(uint16_t size) { return 16u * size; }
static inline size_t vq_avail_bytes(uint16_t size) { return 6u + 2u * size; }
static inline size_t vq_used_bytes(uint16_t size) { return 6u + 8u * size; }

#endif
