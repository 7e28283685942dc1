/**
 * The <linux/vhost.h> and <linux/vhost_types.h> binding the vhost-net backend uses: struct
 * sizes and byte offsets, ioctl request numbers (derived with the KVM binding's _IOC) and
 * feature bits. Every value is compared with the C headers by test/vhost-layout.test.ts
 * (test/fixtures/vhost/vhost-layout.c prints the same table from sizeof/offsetof); nothing
 * else in src/nic/vhost may hard-code an offset.
 */
import { io, ior, iow, iowr } from '../../kvm/ioctl.js';
import type { StructLayout } from '../../kvm/layout.js';

export const VHOST_LAYOUT = {
  /** the header of VHOST_SET_MEM_TABLE's argument; `regions[nregions]` follow it */
  vhost_memory: { size: 8, fields: { nregions: 0, padding: 4, regions: 8 } },
  vhost_memory_region: { size: 32, fields: { guest_phys_addr: 0, memory_size: 8, userspace_addr: 16, flags_padding: 24 } },
  vhost_vring_state: { size: 8, fields: { index: 0, num: 4 } },
  vhost_vring_file: { size: 8, fields: { index: 0, fd: 4 } },
  vhost_vring_addr: {
    size: 40,
    fields: { index: 0, flags: 4, desc_user_addr: 8, used_user_addr: 16, avail_user_addr: 24, log_guest_addr: 32 },
  },
} as const satisfies Record<string, StructLayout>;

export const VHOST_NET_DEV = '/dev/vhost-net';
/** What to do when the device is missing: the one sentence the config's host check, ix check and the backend use. */
export const VHOST_MISSING = 'the host kernel has no vhost-net: modprobe vhost_net, or use tap';

/** VHOST_VIRTIO, the ioctl "type" byte of every vhost request. */
export const VHOST_VIRTIO = 0xaf;
const L = VHOST_LAYOUT;
const U64 = 8;

/** Request numbers by name; the names are used in error messages. */
export const VHOST_IOCTL = {
  VHOST_GET_FEATURES: ior(VHOST_VIRTIO, 0x00, U64),
  VHOST_SET_FEATURES: iow(VHOST_VIRTIO, 0x00, U64),
  VHOST_SET_OWNER: io(VHOST_VIRTIO, 0x01),
  VHOST_SET_MEM_TABLE: iow(VHOST_VIRTIO, 0x03, L.vhost_memory.size),
  VHOST_SET_VRING_NUM: iow(VHOST_VIRTIO, 0x10, L.vhost_vring_state.size),
  VHOST_SET_VRING_ADDR: iow(VHOST_VIRTIO, 0x11, L.vhost_vring_addr.size),
  VHOST_SET_VRING_BASE: iow(VHOST_VIRTIO, 0x12, L.vhost_vring_state.size),
  VHOST_GET_VRING_BASE: iowr(VHOST_VIRTIO, 0x12, L.vhost_vring_state.size),
  VHOST_SET_VRING_KICK: iow(VHOST_VIRTIO, 0x20, L.vhost_vring_file.size),
  VHOST_SET_VRING_CALL: iow(VHOST_VIRTIO, 0x21, L.vhost_vring_file.size),
  VHOST_NET_SET_BACKEND: iow(VHOST_VIRTIO, 0x30, L.vhost_vring_file.size),
} as const;
export type VhostIoctlName = keyof typeof VHOST_IOCTL;

/** Feature bit numbers (virtio 1.x and vhost's own), as in the kernel's uapi headers. */
export const VHOST_FEATURE_BIT = {
  VIRTIO_F_NOTIFY_ON_EMPTY: 24,
  VIRTIO_RING_F_INDIRECT_DESC: 28,
  VIRTIO_RING_F_EVENT_IDX: 29,
  VIRTIO_F_ANY_LAYOUT: 27,
  VIRTIO_F_VERSION_1: 32,
  VIRTIO_F_ACCESS_PLATFORM: 33,
  VIRTIO_NET_F_MRG_RXBUF: 15,
  /** vhost-net adds the virtio-net header itself (we let the TAP socket carry it instead) */
  VHOST_NET_F_VIRTIO_NET_HDR: 27,
  VHOST_F_LOG_ALL: 26,
} as const;

/** vhost-net's two virtqueues per device: the receive ring is index 0, transmit 1. */
export const VHOST_NET_VQ = { rx: 0, tx: 1 } as const;
/** sizeof(struct virtio_net_hdr) (legacy, 10) and sizeof(struct virtio_net_hdr_mrg_rxbuf) (12) */
export const VIRTIO_NET_HDR_LEN = { legacy: 10, v1: 12 } as const;
/** alignment vhost demands of vring addresses (desc, avail, used) */
export const VHOST_VRING_ALIGN = { desc: 16, avail: 2, used: 4 } as const;
