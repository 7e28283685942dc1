// The AF_XDP rings handed to the guest (xdp_rings = "guest", docs/nic.md): each ring mmap of
// each socket becomes a KVM memory slot at a guest-physical address in a window above RAM, and
// one page of guest RAM (struct ix_xsk_info, guest/include/ix/xsk.h) tells the guest where its
// producer/consumer words and entries are. The VMM registers the slots; nothing here needs the VM.
import { IX_XSK_CHUNK, IX_XSK_HEADROOM, IX_XSK_MAX_QUEUES, XskInfo } from '../../abi/xsk.js';
import { writeStruct, type WriteValue } from '../../abi/struct.js';
import { XdpSetupError } from './bpf.js';
import type { XskRing, XskSocket } from './xsk.js';

const PAGE = 4096;

/** One KVM memory slot to add: host mapping of a ring, where the guest sees it. */
export interface XskMemslot {
  gpa: number;
  size: number;
  hostAddr: number;
}

export interface XskGuestLayout {
  slots: XskMemslot[];
  info: WriteValue<typeof XskInfo>;
}

/**
 * Place the four rings of the first `nq` sockets one after the other (page aligned) in
 * [window.start, window.start + window.size) and describe them. Every ring mmap starts on a
 * page (mmap returns page-aligned addresses); its slot covers the whole pages of the mapping.
 */
export function layoutGuestRings(sockets: readonly XskSocket[], nq: number, window: { start: number; size: number }, doorbellPort: number): XskGuestLayout {
  if (nq < 1 || nq > IX_XSK_MAX_QUEUES || sockets.length < nq)
    throw new XdpSetupError(`the guest can poll 1..${IX_XSK_MAX_QUEUES} AF_XDP sockets, one per core: ${nq} cores, ${sockets.length} sockets`);
  if (window.start % PAGE !== 0 || window.size % PAGE !== 0) throw new XdpSetupError(`the AF_XDP ring window at 0x${window.start.toString(16)} is not page aligned`);
  const slots: XskMemslot[] = [];
  let at = window.start;
  const place = (r: XskRing) => {
    if (r.map % PAGE !== 0) throw new XdpSetupError(`an AF_XDP ring mapping at 0x${r.map.toString(16)} is not page aligned`);
    const size = Math.ceil(r.mapLen / PAGE) * PAGE;
    if (at + size > window.start + window.size)
      throw new XdpSetupError(`the AF_XDP rings of ${nq} sockets do not fit the ${window.size}-byte window above guest memory`);
    const gpa = at;
    slots.push({ gpa, size, hostAddr: r.map });
    at += size;
    const g = (host: number) => gpa + (host - r.map);
    return { producer: g(r.producer), consumer: g(r.consumer), flags: g(r.flags), desc: g(r.desc), size: r.size };
  };
  const q = sockets.slice(0, nq).map((s) => ({ rx: place(s.rx), tx: place(s.tx), fill: place(s.fill), comp: place(s.comp) }));
  return {
    slots,
    info: { present: 1, nqueues: nq, chunk: IX_XSK_CHUNK, headroom: IX_XSK_HEADROOM, windowStart: window.start, windowSize: window.size, doorbellPort, q },
  };
}

/** Write struct ix_xsk_info at `gpa` (one page of the host's reserved range), ctl words zero. */
export function writeXskInfo(mem: DataView, gpa: number, info: WriteValue<typeof XskInfo>): void {
  if (gpa % PAGE !== 0 || gpa + PAGE > mem.byteLength) throw new XdpSetupError(`the AF_XDP ring description page 0x${gpa.toString(16)} is not a page of guest memory`);
  writeStruct(XskInfo, mem, gpa, info, { zero: true });
}
