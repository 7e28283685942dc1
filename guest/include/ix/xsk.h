/* AF_XDP rings mapped into guest-physical memory (docs/nic.md, "The guest polls the AF_XDP
 * rings itself"). With `[nic] backend = "xdp"` and `xdp_rings = "guest"` the host opens one
 * AF_XDP socket per queue whose UMEM is all of guest RAM, and adds the four ring mmaps of
 * each socket (RX, FILL, TX, COMPLETION) to the VM as extra KVM memory slots above RAM. The
 * guest driver (guest/drivers/xsk.c) then posts FILL entries, drains RX, writes TX
 * descriptors and reclaims COMPLETION itself: the Linux kernel's ring format, no host thread
 * on the receive path. The host only kicks TX (a thread blocked on the doorbell's ioeventfd
 * calls sendto) and wakes a halted core.
 *
 * Where: bootinfo.xsk_info_phys is the guest-physical address of one page holding struct
 * ix_xsk_info (inside the NIC's reserved range of guest RAM); 0 = the NIC is served through
 * the virtio rings of ix_nic_info. The ring addresses it names lie in the window
 * [window_start, window_start + window_size) above RAM that the boot page table maps.
 *
 * Ring format (<linux/if_xdp.h>): free-running u32 producer/consumer indices; FILL and
 * COMPLETION entries are u64 UMEM addresses (= guest-physical addresses), RX and TX entries
 * struct ix_xdp_desc. The side that produces writes entries, then the producer index
 * (release); the side that consumes reads the producer (acquire), the entries, then writes the
 * consumer index (release).
 *
 * Mirrored in src/abi/xsk.ts; test/abi-layout.test.ts keeps the two equal. */
#ifndef IX_XSK_H
#define IX_XSK_H

#include <stddef.h>
#include <stdint.h>

#define IX_XSK_MAX_QUEUES 16
/* Bytes of UMEM the kernel may write per FILL entry, and where in it the frame starts. */
#define IX_XSK_CHUNK 2048
#define IX_XSK_HEADROOM 256
/* In unaligned-chunk mode an RX address carries the frame's offset in its top 16 bits. */
#define IX_XSK_ADDR_MASK ((1ull << 48) - 1)

/* struct xdp_desc */
struct ix_xdp_desc {
    uint64_t addr;
    uint32_t len;
    uint32_t options;
};
_Static_assert(sizeof(struct ix_xdp_desc) == 16, "ix_xdp_desc is 16 bytes");

/* One mapped ring: guest-physical addresses of its words and of entry 0. */
struct ix_xsk_ring {
    uint64_t producer;
    uint64_t consumer;
    uint64_t flags;
    uint64_t desc;
    uint32_t size;      /* entries, a power of two */
    uint32_t pad;
};
_Static_assert(sizeof(struct ix_xsk_ring) == 40, "ix_xsk_ring is 40 bytes");

struct ix_xsk_queue {
    struct ix_xsk_ring rx, tx, fill, comp;
};
_Static_assert(sizeof(struct ix_xsk_queue) == 160, "ix_xsk_queue is 160 bytes");

/* Words shared by the guest driver and the host's kick thread, one cache line per queue. */
struct ix_xsk_ctl {
    uint32_t kick_wanted; /* host: 1 = the kick thread sleeps: after publishing TX (or before
                           * halting) ring the doorbell. 0 = it polls the TX ring anyway. */
    uint32_t halt_seq;    /* guest: bumped before the core halts (the host then watches RX) */
    uint32_t pad[14];
};
_Static_assert(sizeof(struct ix_xsk_ctl) == 64, "ix_xsk_ctl is one cache line");

struct ix_xsk_info {
    uint32_t present;      /* 1: the guest drives these rings (not the virtio rings) */
    uint32_t nqueues;      /* sockets = dataplane cores, 1..IX_XSK_MAX_QUEUES */
    uint32_t chunk;        /* IX_XSK_CHUNK */
    uint32_t headroom;     /* IX_XSK_HEADROOM */
    uint64_t window_start; /* the ring slots lie in [window_start, window_start + window_size) */
    uint64_t window_size;
    uint64_t doorbell_port;/* outl(port, queue): kick TX / say "halting" (an ioeventfd: no exit to user) */
    uint64_t pad;
    struct ix_xsk_queue q[IX_XSK_MAX_QUEUES];
    struct ix_xsk_ctl ctl[IX_XSK_MAX_QUEUES];
};
_Static_assert(offsetof(struct ix_xsk_info, q) == 48, "q");
_Static_assert(offsetof(struct ix_xsk_info, ctl) == 2608, "ctl");
_Static_assert(sizeof(struct ix_xsk_info) == 3632, "ix_xsk_info fits one page");

#endif /* IX_XSK_H */
