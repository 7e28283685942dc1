/* virtio-net queue pair driver (one RX/TX pair per dataplane core), set up from the boot
 * info NIC description (struct ix_nic_info, include/ix/nic.h) - no device registers, no
 * exits at setup. Every frame is preceded by a 12-byte struct virtio_net_hdr (v1); no
 * offloads are negotiated, so the header is all zeros on TX and ignored on RX.
 *
 * Buffers come from the caller through struct vnet_ops, so the stack can hand in its mbufs:
 *   RX: rx_alloc() gives an empty buffer (>= VNET_RX_BUF_MIN bytes); the driver posts it and
 *       later calls rx_deliver(cookie, frame, len) with the frame that landed in it (or
 *       rx_deliver(cookie, NULL, 0) if the device returned it empty: free it).
 *   TX: vnet_tx(cookie, segs, n) queues a frame made of n segments; tx_done(cookie) says the
 *       device has finished reading them (the memory may be reused).
 * Everything is batched: refill, receive and reclaim take a budget, and the device is kicked
 * at most once per batch and only if it asked (EVENT_IDX).
 */
#ifndef IX_DRIVERS_VIRTIO_NET_H
#define IX_DRIVERS_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <ix/nic.h>

#include "virtqueue.h"

#define VNET_HDR_LEN 12
#define VNET_TX_SEGS_MAX 32 /* descriptors per frame after page splitting (+1 for the header) */
#define VNET_PAGE_SIZE 4096u
#define VNET_FRAME_MAX (14 + 4 + 1500) /* Ethernet + VLAN + default MTU */
/* Frames that find the TX ring full wait in a backlog (oldest first) until descriptors come
 * back: one loop pass may queue more than the ring holds (a batch of replies, ACKs and
 * handshakes), and the ring only drains once the pass publishes it. Beyond these bounds a
 * frame is refused (tx_full) as before. */
#define VNET_TX_BACKLOG 256       /* frames */
#define VNET_TX_BACKLOG_SEGS 1024 /* their descriptors */

struct virtio_net_hdr_v1 {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr_v1) == VNET_HDR_LEN, "virtio_net_hdr v1 is 12 bytes");

struct vnet_ops {
    void *ctx;
    /* guest-physical <-> kernel-virtual (the kernel's direct map) */
    uint64_t (*virt_to_phys)(void *ctx, const void *p);
    void *(*phys_to_virt)(void *ctx, uint64_t pa);
    /* an empty RX buffer: returns 0 and sets cookie, buf and len; -1 if none is available */
    int (*rx_alloc)(void *ctx, void **cookie, void **buf, uint32_t *len);
    /* a received frame in the buffer of `cookie` (frame == NULL, len == 0: returned unused) */
    void (*rx_deliver)(void *ctx, void *cookie, uint8_t *frame, uint32_t len);
    /* the device is done with a transmitted frame */
    void (*tx_done)(void *ctx, void *cookie);
    /* tell the host this queue pair has new buffers (an `out`: rare, costs an exit) */
    void (*kick)(void *ctx, uint16_t queue);
};

struct vnet_stats {
    uint64_t rx_frames, rx_bytes, rx_runts, tx_frames, tx_bytes, tx_full, kicks;
    uint64_t tx_backlogged; /* frames that waited in the backlog for descriptors */
};

/* A frame in the TX backlog: its descriptors' segments, kept in a ring of their own. */
struct vnet_txb {
    void *cookie;
    uint16_t seg, nsegs; /* first segment in vnet_queue.txb_seg, and how many */
};

struct vnet_queue {
    struct virtqueue rx, tx;
    const struct vnet_ops *ops;
    uint16_t index;
    uint32_t rx_buf_min;
    struct vnet_stats st;
    /* per RX head: the buffer we posted and its length (never trust the device's view) */
    uint8_t *rx_buf[VQ_SIZE_MAX];
    uint32_t rx_len[VQ_SIZE_MAX];
    /* the single header every TX frame starts with: zeros, only ever read by the device */
    struct virtio_net_hdr_v1 tx_hdr;
    /* the TX backlog (frames accepted while the ring was full), a FIFO of frames and one of
     * their segments */
    struct vnet_txb txb[VNET_TX_BACKLOG];
    struct vq_seg txb_seg[VNET_TX_BACKLOG_SEGS];
    uint32_t txb_first, txb_n;          /* oldest frame, frames */
    uint32_t txb_seg_first, txb_nsegs;  /* oldest segment, segments */
};

/* Minimum RX buffer: header + the largest frame for this MTU. */
#define VNET_RX_BUF_MIN(mtu) (VNET_HDR_LEN + 14u + 4u + (uint32_t)(mtu))

/* Set up queue pair `index` of the NIC described by `info`. Returns 0, or -1 if the
 * description is invalid (absent NIC, index out of range, bad ring sizes). */
int vnet_queue_init(struct vnet_queue *q, const struct ix_nic_info *info, uint16_t index, const struct vnet_ops *ops);

/* Post up to `max` fresh RX buffers (as many as rx_alloc gives and the ring holds). */
int vnet_rx_refill(struct vnet_queue *q, int max);

/* Deliver up to `budget` received frames through rx_deliver. Returns the number handled. */
int vnet_rx_poll(struct vnet_queue *q, int budget);

/* Queue one frame made of n virtually contiguous pieces for transmission (not visible until
 * vnet_tx_flush). A piece may span pages that are not physically contiguous (app memory):
 * it is translated page by page and split where the physical pages are not adjacent.
 * If the TX ring is full (or older frames wait), the ring is published and the frame waits
 * in the backlog, in order, until vnet_tx_reclaim frees descriptors. Returns 0, or -1 if the
 * backlog is full too or the arguments are bad (zero length, NULL cookie, more than
 * VNET_TX_SEGS_MAX physical segments). */
int vnet_tx(struct vnet_queue *q, void *cookie, const void *const *bufs, const uint32_t *lens, int n);

/* Publish queued frames; kicks the host only if it asked. */
void vnet_tx_flush(struct vnet_queue *q);

/* Hand finished TX frames back through tx_done, up to `budget`, then move backlogged frames
 * into the freed descriptors (published by the next vnet_tx_flush). Returns the number
 * handed back. */
int vnet_tx_reclaim(struct vnet_queue *q, int budget);

/* Before halting the core: ask for an interrupt on the next received frame. Returns true if
 * frames are already waiting, or frames of the TX backlog still wait for descriptors (then
 * do not halt: no interrupt says the device returned them). */
bool vnet_prepare_halt(struct vnet_queue *q);

#endif
