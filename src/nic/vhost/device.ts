/**
 * One vhost-net device: /dev/vhost-net opened once per queue pair, its two vrings (RX = 0,
 * TX = 1) pointed at the guest's rings for that pair, and one queue of the TAP as its
 * backend. From then on the kernel's vhost worker moves frames between the TAP and guest
 * memory on its own: it wakes on the kick eventfd (the guest's notify port, a KVM ioeventfd),
 * and signals the RX call eventfd when it used buffers past the guest's used_event.
 *
 *   open, VHOST_SET_OWNER, VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_SET_MEM_TABLE,
 *   per vring: VHOST_SET_VRING_NUM / _ADDR / _BASE / _KICK / _CALL,
 *   per vring: VHOST_NET_SET_BACKEND (the TAP queue fd)
 *
 * Closing the device fd stops the worker and drops its reference to the TAP queue.
 */
import * as libc from '../../sys/libc.js';
import type { NicVqAddrs } from '../../abi/nic.js';
import { errnoText } from '../errno.js';
import { VHOST_IOCTL, VHOST_MISSING, VHOST_NET_DEV, VHOST_NET_VQ, type VhostIoctlName } from './abi.js';
import { negotiateVhostFeatures } from './features.js';
import { vhostMemoryTable, vhostVringAddr, vhostVringPair, type VhostGuestRam } from './memtable.js';


export class VhostError extends Error {
  override name = 'VhostError';
}
/** /dev/vhost-net is absent or cannot be opened. */
export class VhostUnavailableError extends VhostError {
  override name = 'VhostUnavailableError';
}

export interface VhostQueuePair {
  ram: VhostGuestRam;
  rx: NicVqAddrs;
  tx: NicVqAddrs;
  /** one queue of a TAP opened with IFF_VNET_HDR and a header size of `guestHdrLen` */
  tapFd: number;
  /** the eventfd the guest's kicks arrive on (shared by every vring: a kick wakes them all) */
  kickFd: number;
  /** the eventfd vhost signals when the guest asked to be woken for RX (an irqfd, or one a host thread polls) */
  rxCallFd: number;
  /** bytes of virtio-net header in front of every frame in the guest's buffers */
  guestHdrLen: number;
}

export interface VhostNet {
  readonly fd: number;
  /** what VHOST_SET_FEATURES got */
  readonly features: bigint;
  close(): void;
}

/** Open /dev/vhost-net; VhostUnavailableError (with what to do) when it is not there. */
export function openVhostDev(): number {
  const fd = libc.openFd(VHOST_NET_DEV, libc.O_RDWR | libc.O_CLOEXEC);
  if (fd >= 0) return fd;
  const e = -fd;
  if (e === 2 /* ENOENT */ || e === 19 /* ENODEV */ || e === 6 /* ENXIO */) throw new VhostUnavailableError(`${VHOST_NET_DEV}: ${errnoText(e)}; ${VHOST_MISSING}`);
  throw new VhostUnavailableError(`open ${VHOST_NET_DEV} failed: ${errnoText(e)}; the vhost backend needs root (or access to ${VHOST_NET_DEV}), or use tap`);
}

function call(fd: number, name: VhostIoctlName, arg: Uint8Array | null, what: string, hint = ''): void {
  if (libc.ioctlBuf(fd, VHOST_IOCTL[name], arg) < 0)
    throw new VhostError(`${name} (${what}) failed: ${errnoText(libc.errno())}${hint ? `; ${hint}` : ''}`);
}

/** What the kernel's vhost-net offers (VHOST_GET_FEATURES on an owned device). */
export function vhostOfferedFeatures(fd: number): bigint {
  const u64 = new Uint8Array(8);
  call(fd, 'VHOST_GET_FEATURES', u64, 'what vhost-net offers');
  return new DataView(u64.buffer).getBigUint64(0, true);
}

/** Hand one queue pair to the kernel's vhost worker. */
export function openVhostNet(p: VhostQueuePair): VhostNet {
  const fd = openVhostDev();
  let features = 0n;
  try {
    call(fd, 'VHOST_SET_OWNER', null, 'this process owns the device', 'one owner per device');
    features = negotiateVhostFeatures(vhostOfferedFeatures(fd), p.guestHdrLen).features;
    const u64 = new Uint8Array(8);
    new DataView(u64.buffer).setBigUint64(0, features, true);
    call(fd, 'VHOST_SET_FEATURES', u64, `0x${features.toString(16)}`);
    call(fd, 'VHOST_SET_MEM_TABLE', vhostMemoryTable(p.ram), `guest RAM, ${p.ram.size} bytes`);
    for (const [index, ring, callFd] of [[VHOST_NET_VQ.rx, p.rx, p.rxCallFd], [VHOST_NET_VQ.tx, p.tx, -1]] as const) {
      const which = index === VHOST_NET_VQ.rx ? 'RX' : 'TX';
      call(fd, 'VHOST_SET_VRING_NUM', vhostVringPair(index, ring.size), `${which} ring of ${ring.size} entries`);
      call(fd, 'VHOST_SET_VRING_ADDR', vhostVringAddr(p.ram, index, ring), `${which} ring addresses`);
      call(fd, 'VHOST_SET_VRING_BASE', vhostVringPair(index, 0), `${which} ring starts at index 0`);
      call(fd, 'VHOST_SET_VRING_KICK', vhostVringPair(index, p.kickFd), `${which} kick eventfd ${p.kickFd}`);
      // TX completions need no interrupt: the guest reclaims them when it polls
      call(fd, 'VHOST_SET_VRING_CALL', vhostVringPair(index, callFd), `${which} call eventfd ${callFd}`);
    }
    for (const index of [VHOST_NET_VQ.rx, VHOST_NET_VQ.tx])
      call(fd, 'VHOST_NET_SET_BACKEND', vhostVringPair(index, p.tapFd), `TAP queue fd ${p.tapFd} for vring ${index}`, 'the fd must be a TAP opened with IFF_VNET_HDR');
  } catch (e) {
    libc.close(fd);
    throw e;
  }
  let open = true;
  return {
    fd,
    features,
    close(): void {
      if (!open) return;
      open = false;
      libc.close(fd);
    },
  };
}
