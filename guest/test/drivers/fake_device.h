/* A fake virtio-net device for host unit tests of the guest driver: the device side of the
 * split rings over a local "guest memory" buffer, written independently of the driver (and
 * following the same rules as the host backend in src/net/virtqueue.ts). */
#ifndef FAKE_DEVICE_H
#define FAKE_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

struct fake_vq {
    uint8_t *mem;       /* guest memory base (guest-physical 0) */
    uint64_t mem_size;
    uint64_t desc, avail, used; /* guest-physical */
    uint16_t size;
    uint16_t last_avail, used_idx, published;
};

void fdev_init(struct fake_vq *q, uint8_t *mem, uint64_t mem_size, uint64_t desc, uint64_t avail, uint64_t used, uint16_t size);
/* buffers posted and not consumed */
uint16_t fdev_pending(struct fake_vq *q);
/* RX: write hdr+frame into the next posted buffer; returns false if none (or chain invalid) */
bool fdev_rx(struct fake_vq *q, const uint8_t *frame, uint32_t len);
/* TX: gather the next posted frame into out (hdr stripped, checked zero); returns length or -1 */
int fdev_tx(struct fake_vq *q, uint8_t *out, uint32_t cap);
/* publish used entries; returns true if the driver asked for an interrupt (used_event) */
bool fdev_publish(struct fake_vq *q);
/* ask the driver to kick on its next post (avail_event = consumed) */
void fdev_want_kick(struct fake_vq *q);
/* push a raw used entry (for testing the driver against a buggy device) */
void fdev_push_used_raw(struct fake_vq *q, uint32_t id, uint32_t len);

#endif
