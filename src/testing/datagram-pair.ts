// A stand-in for a TAP queue fd in unit tests: an AF_UNIX datagram socket pair keeps frame
// boundaries like a TAP does, and needs no root.
import * as libc from '../sys/libc.js';

/** A non-blocking AF_UNIX datagram pair: [device side, peer side]. */
export function datagramPair(): [number, number] {
  const sv = libc.mapAnon(4096);
  try {
    if (libc.socketpair(libc.AF_UNIX, libc.SOCK_DGRAM | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, 0, sv) < 0)
      throw new libc.SysError('socketpair', libc.errno());
    const dv = new DataView(libc.view(sv, 8));
    return [dv.getInt32(0, true), dv.getInt32(4, true)];
  } finally {
    libc.munmap(sv, 4096);
  }
}
