/**
 * The virtio 1.x split virtqueue (virtio 1.2 §2.7) as the guest's driver lays it out
 * (guest/drivers/virtqueue.h): the descriptor table, the available ring (flags, idx,
 * ring[size], used_event) and the used ring (flags, idx, ring[size] of {id, len},
 * avail_event). The host's device side (src/nic/virtqueue.ts) reads and writes these in its
 * per-frame loop at the offsets declared here; test/abi-layout.test.ts checks them against
 * the driver's header.
 */
import { defineStruct, u16, u32, u64 } from './struct.js';

export const VqDesc = defineStruct('vq_desc', 16, { addr: u64(0), len: u32(8), flags: u16(12), next: u16(14) });
export const VqUsedElem = defineStruct('vq_used_elem', 8, { id: u32(0), len: u32(4) });
/** struct vq_avail and struct vq_used: two u16 (flags, idx) before the flexible ring[] */
export const VqAvailHdr = defineStruct('vq_avail', 4, { flags: u16(0), idx: u16(2) });
export const VqUsedHdr = defineStruct('vq_used', 4, { flags: u16(0), idx: u16(2) });
/** offset of ring[] in both rings */
export const VQ_RING = 4;

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
