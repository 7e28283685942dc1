/**
 * The app's side of the ABI: guest/include/ix/abi.h (one batched call and one event, 40
 * bytes each) and guest/include/ix/app.h (the app info page each app instance gets).
 */
import { defineStruct, i32, u16, u32, u64 } from './struct.js';

export const IxCall = defineStruct('ix_call', 40, {
  op: u16(0), flags: u16(2), err: i32(4), a0: u64(8), a1: u64(16), a2: u64(24), ret: u64(32),
});

/** One scatter-gather entry of a sendv call: an app address and a length. */
export const IxSg = defineStruct('ix_sg', 16, { base: u64(0), len: u64(8) });

export const IxEvent = defineStruct('ix_event', 40, {
  type: u32(0), flags: u32(4), cookie: u64(8), a0: u64(16), a1: u64(24), a2: u64(32),
});

export const AppInfo = defineStruct('ix_app_info', 112, {
  cpu: u32(0), ncpus: u32(4), calls: u64(8), callsMax: u32(16), eventsMax: u32(20), events: u64(24),
  heap: u64(32), heapSize: u64(40), tscKhz: u64(48), argc: u32(56), argv: u64(64), bpollDirect: u64(72),
  shared: u64(80), sharedSize: u64(88), unixMs: u64(96), unixTsc: u64(104),
});
