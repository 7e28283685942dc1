/* AF_XDP ring driver (one socket = one queue per dataplane core): the guest side of the Linux
 * kernel's four rings, which the host maps into guest-physical memory (ix/xsk.h). The UMEM is
 * all of guest RAM, so a UMEM address is a guest-physical address:
 *   FILL: the driver posts empty buffers (address = frame start - IX_XSK_HEADROOM);
 *   RX:   the kernel hands back filled ones (address | offset << 48, length);
 *   TX:   the driver copies a frame into one of its own TX slots and posts a descriptor;
 *   COMPLETION: the kernel hands back sent slots.
 * The kernel checks every address it is given against the UMEM; the guest, which the host
 * does not trust, can only make it read or write guest RAM. The driver trusts the rings'
 * producers (the host kernel) only as far as it must: an RX address that does not name a
 * buffer it posted, or a length beyond the buffer, is dropped and counted.
 *
 * Ordering: producers write entries then the producer index with release semantics;
 * consumers read the producer index with acquire semantics, then the entries, then publish
 * their consumer index with release. The two places where a store must be seen before a
 * later load (TX publish vs. the host's "kick wanted", "halting" vs. the RX producer) use a
 * full fence.
 */
#ifndef IX_DRIVERS_XSK_H
#define IX_DRIVERS_XSK_H

#include <stdbool.h>
#include <stdint.h>

#include <ix/xsk.h>

#define XSK_TX_SLOTS_MAX 512
#define XSK_FRAME_MAX (IX_XSK_CHUNK - IX_XSK_HEADROOM) /* the most the kernel writes per buffer */

struct xsk_ring {
    uint32_t *producer, *consumer;
    void *desc; /* uint64_t[] (FILL, COMPLETION) or struct ix_xdp_desc[] (RX, TX) */
    uint32_t size, mask;
};

struct xsk_ops {
    void *ctx;
    uint64_t (*virt_to_phys)(void *ctx, const void *p);
    void *(*phys_to_virt)(void *ctx, uint64_t pa);
    /* an empty RX buffer whose frame area starts at *frame and holds XSK_FRAME_MAX bytes, the
     * IX_XSK_HEADROOM bytes before it inside guest RAM (the kernel does not write them) */
    int (*rx_alloc)(void *ctx, void **cookie, uint8_t **frame);
    /* the cookie of the posted buffer whose frame area starts at frame, or NULL */
    void *(*rx_lookup)(void *ctx, uint8_t *frame);
    void (*rx_deliver)(void *ctx, void *cookie, uint8_t *frame, uint32_t len);
    /* ring the host's doorbell for this queue (an `out` on an ioeventfd port) */
    void (*doorbell)(void *ctx, uint16_t queue);
};

struct xsk_stats {
    uint64_t rx_frames, rx_bytes, rx_bad, tx_frames, tx_bytes, tx_full, doorbells;
};

struct xsk_queue {
    struct xsk_ring rx, tx, fill, comp;
    struct ix_xsk_ctl *ctl;
    const struct xsk_ops *ops;
    uint16_t index;
    uint32_t fill_target;  /* buffers the kernel should hold */
    uint32_t fill_held;    /* posted and not yet received */
    uint32_t tx_prod;      /* next TX entry (published by xsk_tx_flush) */
    uint8_t *tx_area;      /* XSK_TX_SLOTS_MAX slots of IX_XSK_CHUNK bytes, physically contiguous */
    uint64_t tx_area_pa;
    uint32_t tx_nslots;
    uint32_t tx_nfree;
    uint16_t tx_free[XSK_TX_SLOTS_MAX];
    struct xsk_stats st;
};

/* Set up queue `index` from the host's description; tx_area holds tx_nslots chunks.
 * Returns 0, or -1 if the description is invalid. */
int xsk_queue_init(struct xsk_queue *q, const struct ix_xsk_info *info, uint16_t index, const struct xsk_ops *ops,
                   uint8_t *tx_area, uint32_t tx_nslots);

/* Post empty buffers to FILL up to the target. Returns the number posted. */
int xsk_rx_refill(struct xsk_queue *q);

/* Deliver up to `budget` received frames. Returns the number handled. */
int xsk_rx_poll(struct xsk_queue *q, int budget);

/* Copy one frame made of n pieces into a TX slot and queue its descriptor (visible after
 * xsk_tx_flush). Returns 0, or -1 (no free slot or TX entry: reclaim first; bad length). */
int xsk_tx(struct xsk_queue *q, const void *const *bufs, const uint32_t *lens, int n);

/* Publish queued TX descriptors; rings the doorbell only if the host's kick thread sleeps. */
void xsk_tx_flush(struct xsk_queue *q);

/* Sent slots back to the free list. Returns the number reclaimed. */
int xsk_tx_reclaim(struct xsk_queue *q);

/* Before halting: tell the host (halt_seq, doorbell if it sleeps) and look again. Returns
 * true if frames are already waiting (then do not halt). */
bool xsk_prepare_halt(struct xsk_queue *q);

#endif
