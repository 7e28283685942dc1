// Frame format on both sides of the NIC: a 12-byte struct virtio_net_hdr (v1) followed by the
// Ethernet frame. The TAP is opened with IFF_VNET_HDR and a header size of 12, so the kernel
// reads and writes exactly that layout and a guest buffer goes to/from the fd as is.
export const VNET_HDR_LEN = 12;
export const ETH_HLEN = 14;
export const VLAN_HLEN = 4;

/** Largest buffer (header + frame, with a VLAN tag) a guest with this IP MTU sends or takes. */
export const maxFrameWithHeader = (mtu: number): number => VNET_HDR_LEN + ETH_HLEN + VLAN_HLEN + mtu;
