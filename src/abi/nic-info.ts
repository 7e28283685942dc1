/**
 * guest/include/ix/nic.h: the NIC description the host writes into the boot info page
 * (struct ix_nic_info), its queue addresses (struct ix_nic_vq) and the page of static ARP
 * entries (struct ix_nic_arp[]).
 */
import { array, bytes, defineStruct, nestedArray, u16, u32, u64 } from './struct.js';

export const IX_NIC_MAX_QUEUES = 16;
export const IX_RSS_KEY_LEN = 40;
export const IX_RETA_MAX = 512;
/** static ARP entries at most (the config's limit too) */
export const IX_NIC_ARP_MAX = 256;
/** the ARP table is one guest page: IX_NIC_ARP_MAX entries */
export const IX_NIC_ARP_PAGE = 4096;

/** One split virtqueue: guest-physical addresses of its three parts. */
export const NicVq = defineStruct('ix_nic_vq', 32, { desc: u64(0), avail: u64(8), used: u64(16), size: u16(24) });

/** One static ARP entry in the table page. */
export const NicArp = defineStruct('ix_nic_arp', 16, { ip: u32(0), mac: bytes(4, 6) });

export const NicInfo = defineStruct('ix_nic_info', 2136, {
  present: u32(0), nqueues: u32(4), mac: bytes(8, 6), mtu: u16(14), addr: u32(16), netmask: u32(20),
  gateway: u32(24), arpCount: u32(28), rssKey: bytes(32, IX_RSS_KEY_LEN), retaSize: u32(72),
  arpTablePfn: u32(76), reta: array('u16', 80, IX_RETA_MAX), rx: nestedArray(1104, NicVq, IX_NIC_MAX_QUEUES),
  tx: nestedArray(1616, NicVq, IX_NIC_MAX_QUEUES), notifyPort: u64(2128),
});
