// TAP device for the NIC backend: /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE |
// IFF_VNET_HDR, one non-blocking fd per queue, virtio-net header size 12 (the v1 header the
// guest puts in front of every frame). The device is not persistent: it disappears when the
// last fd closes, including when the process is killed.
//
// With `netns`, the device is created directly inside that network namespace: the calling
// thread enters the namespace (setns affects only this thread), opens the queues, and returns
// to its own namespace. Nothing is ever created in the caller's namespace.
import * as libc from '../sys/libc.js';
import { errnoText } from './errno.js';
import { VNET_HDR_LEN } from './frame.js';

const TUNSETIFF = 0x400454ca;
const TUNSETVNETHDRSZ = 0x400454d8;
const TUNSETOFFLOAD = 0x400454d0;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const IFF_MULTI_QUEUE = 0x0100;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;

export class TapError extends Error {
  override name = 'TapError';
}

export interface TapOptions {
  /** interface name (<= 15 bytes) */
  name: string;
  /** queues (fds), 1..16 */
  queues: number;
  /** name of a namespace under /run/netns to create the device in */
  netns?: string;
}

export interface Tap {
  name: string;
  fds: number[];
  close(): void;
}

let scratch = 0;
function ifreq(): { addr: number; u8: Uint8Array; dv: DataView } {
  if (scratch === 0) scratch = libc.mapAnon(4096);
  const ab = libc.view(scratch, IFREQ_SIZE);
  return { addr: scratch, u8: new Uint8Array(ab), dv: new DataView(ab) };
}

function openQueue(name: string): number {
  const fd = libc.open('/dev/net/tun', libc.O_RDWR | libc.O_NONBLOCK | libc.O_CLOEXEC, 0);
  if (fd < 0) throw new TapError(`open /dev/net/tun failed: ${errnoText(libc.errno())}; the NIC backend needs CAP_NET_ADMIN`);
  try {
    const r = ifreq();
    r.u8.fill(0);
    r.u8.set(new TextEncoder().encode(name));
    r.dv.setUint16(IFNAMSIZ, IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR, true);
    if (libc.ioctl(fd, TUNSETIFF, r.addr) < 0)
      throw new TapError(`TUNSETIFF ${name} failed: ${errnoText(libc.errno())}; is the name taken by a non-multi-queue device?`);
    r.dv.setInt32(0, VNET_HDR_LEN, true);
    if (libc.ioctl(fd, TUNSETVNETHDRSZ, r.addr) < 0) throw new TapError(`TUNSETVNETHDRSZ ${name} failed: ${errnoText(libc.errno())}`);
    // No offloads: the kernel hands us only complete frames with checksums filled in.
    if (libc.ioctl(fd, TUNSETOFFLOAD, 0) < 0) throw new TapError(`TUNSETOFFLOAD ${name} failed: ${errnoText(libc.errno())}`);
    return fd;
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

function withNetns<T>(netns: string | undefined, fn: () => T): T {
  if (netns === undefined) return fn();
  if (!/^[A-Za-z0-9._-]+$/.test(netns)) throw new TapError(`bad namespace name '${netns}'`);
  const self = libc.open('/proc/thread-self/ns/net', libc.O_RDONLY | libc.O_CLOEXEC, 0);
  if (self < 0) throw new TapError(`cannot open own network namespace: ${errnoText(libc.errno())}`);
  const target = libc.open(`/run/netns/${netns}`, libc.O_RDONLY | libc.O_CLOEXEC, 0);
  if (target < 0) {
    libc.close(self);
    throw new TapError(`network namespace '${netns}' not found (/run/netns/${netns}): ${errnoText(libc.errno())}; create it with ip netns add`);
  }
  try {
    if (libc.setns(target, libc.CLONE_NEWNET) < 0)
      throw new TapError(`setns into '${netns}' failed: ${errnoText(libc.errno())}; needs CAP_SYS_ADMIN`);
    try {
      return fn();
    } finally {
      if (libc.setns(self, libc.CLONE_NEWNET) < 0)
        // Staying in the wrong namespace would silently misdirect everything this thread does.
        throw new TapError(`could not return from namespace '${netns}': ${errnoText(libc.errno())}`);
    }
  } finally {
    libc.close(target);
    libc.close(self);
  }
}

export function openTap(o: TapOptions): Tap {
  if (!/^[A-Za-z0-9._-]{1,15}$/.test(o.name)) throw new TapError(`bad interface name '${o.name}' (1..15 of [A-Za-z0-9._-])`);
  if (!Number.isInteger(o.queues) || o.queues < 1 || o.queues > 16) throw new TapError(`queues ${o.queues} outside 1..16`);
  const fds: number[] = [];
  withNetns(o.netns, () => {
    try {
      for (let i = 0; i < o.queues; i++) fds.push(openQueue(o.name));
    } catch (e) {
      for (const fd of fds) libc.close(fd);
      throw e;
    }
  });
  let open = true;
  return {
    name: o.name,
    fds,
    close(): void {
      if (!open) return;
      open = false;
      for (const fd of fds) libc.close(fd);
    },
  };
}
