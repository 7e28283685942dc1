// One AF_XDP socket per interface queue, its UMEM being all of guest RAM: the kernel copies
// received frames straight into guest buffers (the FILL addresses the host posts) and sends
// from guest memory (the TX descriptors the host posts). Unaligned-chunk mode, so any guest
// address can be a buffer; the kernel checks every address against the UMEM's bounds.
import { readdirSync } from 'node:fs';
import * as libc from '../../sys/libc.js';
import { errnoText } from '../errno.js';
import { XdpSetupError } from './bpf.js';
import { NativePage, withPage } from './scratch.js';

/** Socket option names at level SOL_XDP (<linux/if_xdp.h>). */
const XDP = { MMAP_OFFSETS: 1, RX_RING: 2, TX_RING: 3, UMEM_REG: 4, UMEM_FILL_RING: 5, UMEM_COMPLETION_RING: 6, STATISTICS: 7, OPTIONS: 8 } as const;
/** Flags: XDP_OPTIONS' zero-copy bit, xdp_umem_reg's unaligned-chunk flag, sockaddr_xdp's copy mode. */
const FLAG = { optionsZeroCopy: 1, umemUnalignedChunk: 1, bindCopy: 1 << 1 } as const;
const PGOFF = { rx: 0, tx: 0x80000000, fill: 0x100000000, comp: 0x180000000 } as const;
const MAP_POPULATE = 0x8000;
/** Frame room per buffer: the kernel puts a received frame 256 bytes (XDP_PACKET_HEADROOM) into it. */
export const XSK_CHUNK = 2048;
export const XDP_PACKET_HEADROOM = 256;
/** In unaligned mode an RX address carries the data offset in its top 16 bits. */
export const XSK_ADDR_MASK = 2 ** 48 - 1;

/** A mapped ring: host addresses of its producer and consumer words and its descriptors. */
export interface XskRing {
  map: number;
  mapLen: number;
  producer: number;
  consumer: number;
  flags: number;
  desc: number;
  size: number;
}

export interface XskSocket {
  fd: number;
  ifindex: number;
  queue: number;
  rx: XskRing;
  tx: XskRing;
  fill: XskRing;
  comp: XskRing;
  zeroCopy: boolean;
}

function check(r: number, what: string, hint: string): void {
  if (r < 0) throw new XdpSetupError(`${what} failed: ${errnoText(libc.errno())}; ${hint}`);
}

function setInt(p: NativePage, fd: number, name: number, v: number, what: string): void {
  p.dv.setUint32(0, v, true);
  check(libc.setsockopt(fd, libc.SOL_XDP, name, p.addr, 4), `setsockopt(${what} = ${v})`, 'ring sizes must be powers of two');
}

/**
 * Open, register `mem` as the UMEM, size the rings, map them, bind to (ifindex, queue) in
 * copy mode. `ringSize` entries per ring (a power of two).
 */
export function openXsk(o: { ifindex: number; ifname: string; queue: number; mem: { base: number; size: number }; ringSize: number }): XskSocket {
  const fd = libc.socket(libc.AF_XDP, libc.SOCK_RAW | libc.SOCK_CLOEXEC, 0);
  check(fd, 'socket(AF_XDP)', 'the kernel needs CONFIG_XDP_SOCKETS=y and the process CAP_NET_RAW (run as root)');
  const maps: XskRing[] = [];
  try {
    return withPage((p) => {
      const dv = p.zero().dv;
      dv.setBigUint64(0, BigInt(o.mem.base), true);
      dv.setBigUint64(8, BigInt(o.mem.size), true);
      dv.setUint32(16, XSK_CHUNK, true);
      dv.setUint32(20, 0, true);
      dv.setUint32(24, FLAG.umemUnalignedChunk, true);
      check(libc.setsockopt(fd, libc.SOL_XDP, XDP.UMEM_REG, p.addr, 32), `setsockopt(XDP_UMEM_REG, guest RAM of ${o.mem.size} bytes)`,
        'guest RAM must be page aligned and lockable (RLIMIT_MEMLOCK, or run as root)');
      setInt(p, fd, XDP.UMEM_FILL_RING, o.ringSize, 'XDP_UMEM_FILL_RING');
      setInt(p, fd, XDP.UMEM_COMPLETION_RING, o.ringSize, 'XDP_UMEM_COMPLETION_RING');
      setInt(p, fd, XDP.RX_RING, o.ringSize, 'XDP_RX_RING');
      setInt(p, fd, XDP.TX_RING, o.ringSize, 'XDP_TX_RING');
      p.zero(256);
      dv.setUint32(200, 128, true);
      check(libc.getsockopt(fd, libc.SOL_XDP, XDP.MMAP_OFFSETS, p.addr, p.addr + 200), 'getsockopt(XDP_MMAP_OFFSETS)', 'a kernel older than 5.4?');
      const off = (i: number, k: number): number => Number(dv.getBigUint64(32 * i + 8 * k, true)); // k: producer, consumer, desc, flags
      const ring = (i: number, pgoff: number, descBytes: number, what: string): XskRing => {
        const mapLen = off(i, 2) + o.ringSize * descBytes;
        const map = libc.mmap(0, mapLen, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED | MAP_POPULATE, fd, pgoff);
        if (map === libc.MAP_FAILED || map >= 2 ** 63) check(-1, `mmap of the ${what} ring`, 'is the ring size accepted?');
        const r = { map, mapLen, producer: map + off(i, 0), consumer: map + off(i, 1), flags: map + off(i, 3), desc: map + off(i, 2), size: o.ringSize };
        maps.push(r);
        return r;
      };
      const rx = ring(0, PGOFF.rx, 16, 'RX');
      const tx = ring(1, PGOFF.tx, 16, 'TX');
      const fill = ring(2, PGOFF.fill, 8, 'FILL');
      const comp = ring(3, PGOFF.comp, 8, 'COMPLETION');
      p.zero(16);
      dv.setUint16(0, libc.AF_XDP, true);
      dv.setUint16(2, FLAG.bindCopy, true);
      dv.setUint32(4, o.ifindex, true);
      dv.setUint32(8, o.queue, true);
      if (libc.bind(fd, p.addr, 16) < 0) {
        const e = libc.errno();
        const hint = e === libc.EBUSY
          ? `another AF_XDP socket holds queue ${o.queue} of ${o.ifname} (another dataplane on this interface?)`
          : `does ${o.ifname} have a queue ${o.queue} (ls /sys/class/net/${o.ifname}/queues) and is it up?`;
        throw new XdpSetupError(`bind(AF_XDP, ${o.ifname} queue ${o.queue}, copy mode) failed: ${errnoText(e)}; ${hint}`);
      }
      p.zero(8);
      dv.setUint32(200, 4, true);
      check(libc.getsockopt(fd, libc.SOL_XDP, XDP.OPTIONS, p.addr, p.addr + 200), 'getsockopt(XDP_OPTIONS)', 'a kernel older than 5.3?');
      const zeroCopy = (dv.getUint32(0, true) & FLAG.optionsZeroCopy) !== 0;
      return { fd, ifindex: o.ifindex, queue: o.queue, rx, tx, fill, comp, zeroCopy };
    });
  } catch (e) {
    for (const r of maps) libc.munmap(r.map, r.mapLen);
    libc.close(fd);
    throw e;
  }
}

export function closeXsk(s: XskSocket): void {
  for (const r of [s.rx, s.tx, s.fill, s.comp]) libc.munmap(r.map, r.mapLen);
  libc.close(s.fd);
}

/** The kernel's per-socket counters (struct xdp_statistics). */
export interface XskKernelStats {
  rxDropped: number;
  rxInvalidDescs: number;
  txInvalidDescs: number;
  rxRingFull: number;
  rxFillRingEmpty: number;
  txRingEmpty: number;
}

/** `page`: a NativePage kept by the caller (no mmap per call: an munmap in a process with vCPU threads costs a TLB shootdown). */
export function xskKernelStats(fd: number, page?: NativePage): XskKernelStats {
  const read = (p: NativePage): XskKernelStats => {
    p.zero(256);
    p.dv.setUint32(200, 48, true);
    check(libc.getsockopt(fd, libc.SOL_XDP, XDP.STATISTICS, p.addr, p.addr + 200), 'getsockopt(XDP_STATISTICS)', 'the socket is closed?');
    const g = (i: number): number => Number(p.dv.getBigUint64(8 * i, true));
    return { rxDropped: g(0), rxInvalidDescs: g(1), txInvalidDescs: g(2), rxRingFull: g(3), rxFillRingEmpty: g(4), txRingEmpty: g(5) };
  };
  return page ? read(page) : withPage(read);
}

/** The interface's receive queues (sysfs), or an error saying what is missing. */
export function interfaceRxQueues(ifname: string): number {
  try {
    return readdirSync(`/sys/class/net/${ifname}/queues`).filter((d) => d.startsWith('rx-')).length;
  } catch {
    throw new XdpSetupError(`interface ${ifname} not found in this network namespace (/sys/class/net/${ifname}); give an existing interface in [nic] interface`);
  }
}
