/**
 * guest/include/ix/logring.h: one log ring per CPU; the guest writes bytes at head, the host
 * reads from tail. data[] (size bytes, a power of two) follows the 32-byte header.
 */
import { defineStruct, u32, u64 } from './struct.js';

export const LogRing = defineStruct('ix_logring', 32, {
  head: u32(0), tail: u32(8), size: u32(12), dropped: u64(16),
});
/** offset of data[] (IX_LOGRING_HDR) */
export const LOGRING_HDR = 32;
