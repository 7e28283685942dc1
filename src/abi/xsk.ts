/**
 * guest/include/ix/xsk.h: the AF_XDP rings the host maps into guest-physical memory (extra
 * KVM memory slots above RAM) and describes in one page of guest RAM (struct ix_xsk_info,
 * pointed to by bootinfo.xsk_info_phys), for a guest that polls them itself (docs/nic.md).
 */
import { array, defineStruct, nestedArray, nested, u32, u64 } from './struct.js';

export const IX_XSK_MAX_QUEUES = 16;
export const IX_XSK_CHUNK = 2048;
export const IX_XSK_HEADROOM = 256;

export const XdpDesc = defineStruct('ix_xdp_desc', 16, { addr: u64(0), len: u32(8), options: u32(12) });
export const XskRingInfo = defineStruct('ix_xsk_ring', 40, { producer: u64(0), consumer: u64(8), flags: u64(16), desc: u64(24), size: u32(32) });
export const XskQueueInfo = defineStruct('ix_xsk_queue', 160, {
  rx: nested(0, XskRingInfo), tx: nested(40, XskRingInfo), fill: nested(80, XskRingInfo), comp: nested(120, XskRingInfo),
});
export const XskCtl = defineStruct('ix_xsk_ctl', 64, { kickWanted: u32(0), haltSeq: u32(4), pad: array('u32', 8, 14) });
export const XskInfo = defineStruct('ix_xsk_info', 3632, {
  present: u32(0), nqueues: u32(4), chunk: u32(8), headroom: u32(12), windowStart: u64(16), windowSize: u64(24),
  doorbellPort: u64(32), q: nestedArray(48, XskQueueInfo, IX_XSK_MAX_QUEUES), ctl: nestedArray(2608, XskCtl, IX_XSK_MAX_QUEUES),
});
/** byte offsets inside ix_xsk_info of queue q's control words (the host's kick thread reads and writes them) */
export const xskCtlAt = (q: number) => ({ kickWanted: XskInfo.fields.ctl.at + q * XskCtl.size, haltSeq: XskInfo.fields.ctl.at + q * XskCtl.size + 4 });
