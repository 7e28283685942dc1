/* The NIC description the host writes into the boot info page (docs/nic.md).
 *
 * The "NIC" is a set of virtio 1.x split virtqueues that live in guest memory: one RX/TX
 * pair per dataplane core. The host allocates the rings (descriptor table, available ring,
 * used ring) inside guest RAM, writes their guest-physical addresses here, and its backend
 * (src/net/) plays the device side; the guest driver (guest/drivers/virtio_net.c) plays the
 * driver side. Nothing is negotiated through virtio-mmio/PCI registers, so setting the NIC
 * up costs no guest exits (an exit is 25-38 us on PVM hosts). The feature set is fixed:
 * VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX, a 12-byte struct virtio_net_hdr (v1) in
 * front of every frame, no offloads (all flags/gso fields are zero).
 *
 * Mirrored in src/net/nic-layout.ts; test/nic-layout.test.ts keeps the two equal.
 */
#ifndef IX_NIC_H
#define IX_NIC_H

#include <stddef.h>
#include <stdint.h>

#define IX_NIC_MAX_QUEUES 16
#define IX_RSS_KEY_LEN 40
#define IX_RETA_MAX 512

/* Static ARP entries (config `[[nic.arp]]`): at most IX_NIC_ARP_MAX, the config's limit
 * (LIMITS.arpMax in src/config/defaults.ts). The host writes them into one page of guest
 * memory of its own (inside the area it reserves for the rings, never part of the kernel's
 * page allocator) and points to it from ix_nic_info: arp_table_pfn = guest-physical address
 * >> 12, arp_count entries from its start. arp_count 0 = no table (arp_table_pfn ignored).
 * The guest installs every entry as a permanent neighbour on each core's ARP cache
 * (guest/net/arp.h: arp_add_static) and refuses (panics at start) a table whose count is
 * above the bound, whose page lies outside guest memory or inside its allocator, or whose
 * entries are not sane (see arp_add_static). */
#define IX_NIC_ARP_MAX 256
#define IX_NIC_ARP_PAGE 4096

struct ix_nic_arp {
    uint32_t ip;        /* IPv4, host byte order, on the NIC's subnet */
    uint8_t mac[6];     /* unicast, not all zeros */
    uint8_t pad[6];     /* zero */
};
_Static_assert(sizeof(struct ix_nic_arp) == 16, "ix_nic_arp is 16 bytes");
_Static_assert(offsetof(struct ix_nic_arp, ip) == 0, "ix_nic_arp.ip");
_Static_assert(offsetof(struct ix_nic_arp, mac) == 4, "ix_nic_arp.mac");
_Static_assert(IX_NIC_ARP_MAX * sizeof(struct ix_nic_arp) == IX_NIC_ARP_PAGE, "the ARP table fills one page");

/* One split virtqueue: guest-physical addresses of its three parts. size is a power of two
 * (<= 32768). Alignment: desc 16, avail 2, used 4 (virtio 1.x §2.7). */
struct ix_nic_vq {
    uint64_t desc;
    uint64_t avail;
    uint64_t used;
    uint16_t size;
    uint16_t pad[3];
};
_Static_assert(sizeof(struct ix_nic_vq) == 32, "ix_nic_vq is 32 bytes");

struct ix_nic_info {
    uint32_t present;   /* 1 if a NIC is attached, 0 otherwise (then nothing else is valid) */
    uint32_t nqueues;   /* one RX/TX pair per dataplane core, 1..IX_NIC_MAX_QUEUES */
    uint8_t mac[6];     /* the guest's MAC address */
    uint16_t mtu;       /* IP MTU (frame payload), e.g. 1500 */
    uint32_t addr, netmask, gateway;       /* IPv4, host byte order */
    uint32_t arp_count;                    /* static ARP entries in the table, 0..IX_NIC_ARP_MAX */
    uint8_t rss_key[IX_RSS_KEY_LEN];       /* Toeplitz key the host steers with */
    uint32_t reta_size;                    /* entries used in reta[], a power of two */
    uint32_t arp_table_pfn;                /* guest-physical page of struct ix_nic_arp[arp_count] */
    uint16_t reta[IX_RETA_MAX];            /* queue index for each entry: q = reta[hash % reta_size] */
    struct ix_nic_vq rx[IX_NIC_MAX_QUEUES], tx[IX_NIC_MAX_QUEUES];
    uint64_t notify_port; /* guest `out` to this port = kick (rare: only when the host sleeps) */
};

_Static_assert(offsetof(struct ix_nic_info, nqueues) == 4, "nqueues");
_Static_assert(offsetof(struct ix_nic_info, mac) == 8, "mac");
_Static_assert(offsetof(struct ix_nic_info, mtu) == 14, "mtu");
_Static_assert(offsetof(struct ix_nic_info, addr) == 16, "addr");
_Static_assert(offsetof(struct ix_nic_info, netmask) == 20, "netmask");
_Static_assert(offsetof(struct ix_nic_info, gateway) == 24, "gateway");
_Static_assert(offsetof(struct ix_nic_info, arp_count) == 28, "arp_count");
_Static_assert(offsetof(struct ix_nic_info, rss_key) == 32, "rss_key");
_Static_assert(offsetof(struct ix_nic_info, reta_size) == 72, "reta_size");
_Static_assert(offsetof(struct ix_nic_info, arp_table_pfn) == 76, "arp_table_pfn");
_Static_assert(offsetof(struct ix_nic_info, reta) == 80, "reta");
_Static_assert(offsetof(struct ix_nic_info, rx) == 1104, "rx");
_Static_assert(offsetof(struct ix_nic_info, tx) == 1616, "tx");
_Static_assert(offsetof(struct ix_nic_info, notify_port) == 2128, "notify_port");
_Static_assert(sizeof(struct ix_nic_info) == 2136, "ix_nic_info is 2136 bytes");

#endif /* IX_NIC_H */
