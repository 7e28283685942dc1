/**
 * Feature negotiation with vhost-net, decided once from what the kernel offers
 * (VHOST_GET_FEATURES). The guest's driver has a fixed feature set (docs/nic.md): virtio 1.x
 * split rings with EVENT_IDX, no mergeable RX buffers, no offloads, and a 12-byte
 * `struct virtio_net_hdr` (v1) in front of every frame in every buffer. vhost must see the
 * same rings and the same header, so we accept exactly VERSION_1 and EVENT_IDX:
 *
 * - VIRTIO_F_VERSION_1 makes the header 12 bytes (sizeof virtio_net_hdr_mrg_rxbuf) even
 *   without MRG_RXBUF; without it the header would be the 10-byte legacy one.
 * - VHOST_NET_F_VIRTIO_NET_HDR (bit 27, the same bit as ANY_LAYOUT) is left off: the TAP
 *   (IFF_VNET_HDR, TUNSETVNETHDRSZ 12) reads and writes the header itself, so a guest buffer
 *   goes to and from the socket as is.
 * - MRG_RXBUF off (the guest posts one buffer per frame and never reads num_buffers), no
 *   ACCESS_PLATFORM (no IOTLB: the memory table alone translates), no LOG_ALL (no migration).
 */
import { VHOST_FEATURE_BIT as B, VIRTIO_NET_HDR_LEN } from './abi.js';

export class VhostFeatureError extends Error {
  override name = 'VhostFeatureError';
}

const bit = (n: number): bigint => 1n << BigInt(n);

/** What we ask for: every one of these must be offered. */
export const VHOST_WANTED_FEATURES = bit(B.VIRTIO_F_VERSION_1) | bit(B.VIRTIO_RING_F_EVENT_IDX);

export interface VhostFeatures {
  /** the value for VHOST_SET_FEATURES */
  features: bigint;
  /** the virtio-net header vhost-net and the TAP will use with these features (TUNSETVNETHDRSZ) */
  vnetHdrLen: number;
}

/** The header length vhost-net derives from a feature set (vhost_net_set_features). */
export function vnetHdrLenFor(features: bigint): number {
  return (features & (bit(B.VIRTIO_NET_F_MRG_RXBUF) | bit(B.VIRTIO_F_VERSION_1))) !== 0n ? VIRTIO_NET_HDR_LEN.v1 : VIRTIO_NET_HDR_LEN.legacy;
}

/**
 * The features to set, given what the kernel offers, for a guest whose buffers start with a
 * `guestHdrLen`-byte header. Throws when the kernel lacks one we need or the header would not
 * match the guest's.
 */
export function negotiateVhostFeatures(offered: bigint, guestHdrLen: number): VhostFeatures {
  const names: [string, number][] = [['VIRTIO_F_VERSION_1', B.VIRTIO_F_VERSION_1], ['VIRTIO_RING_F_EVENT_IDX', B.VIRTIO_RING_F_EVENT_IDX]];
  const missing = names.filter(([, b]) => (offered & bit(b)) === 0n).map(([n]) => n);
  if (missing.length > 0)
    throw new VhostFeatureError(
      `this kernel's vhost-net does not offer ${missing.join(' and ')} (offered 0x${offered.toString(16)}); the guest driver needs virtio 1.x rings with event indices: use backend = "tap"`,
    );
  const features = VHOST_WANTED_FEATURES;
  const vnetHdrLen = vnetHdrLenFor(features);
  if (vnetHdrLen !== guestHdrLen)
    throw new VhostFeatureError(`vhost-net would use a ${vnetHdrLen}-byte virtio-net header with features 0x${features.toString(16)}, the guest puts ${guestHdrLen} bytes in front of each frame`);
  return { features, vnetHdrLen };
}
