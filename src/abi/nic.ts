// TypeScript mirror of guest/include/ix/nic.h: the NIC description the host writes into the
// boot info page, and the static ARP page. test/nic-layout.test.ts compiles a C program that
// prints sizeof/offsetof of the C structs and compares them with the constants here. (The
// same structs as defineStruct tables are in nic-info.ts; these offset tables and writers are
// to be converted to readStruct/writeStruct.)

// The limits are declared once, with the defineStruct tables, in nic-info.ts.
import { IX_NIC_ARP_MAX, IX_NIC_ARP_PAGE, IX_NIC_MAX_QUEUES, IX_RETA_MAX, IX_RSS_KEY_LEN } from './nic-info.js';

export { IX_NIC_ARP_MAX, IX_NIC_ARP_PAGE, IX_NIC_MAX_QUEUES, IX_RETA_MAX, IX_RSS_KEY_LEN };

/** struct ix_nic_vq: guest-physical addresses of one split virtqueue. */
export const NIC_VQ = {
  size: 32,
  desc: 0,
  avail: 8,
  used: 16,
  qsize: 24,
} as const;

/** struct ix_nic_arp: one static ARP entry in the table page. */
export const NIC_ARP = {
  size: 16,
  ip: 0,
  mac: 4,
} as const;

/** struct ix_nic_info. */
export const NIC_INFO = {
  size: 2136,
  present: 0,
  nqueues: 4,
  mac: 8,
  mtu: 14,
  addr: 16,
  netmask: 20,
  gateway: 24,
  arp_count: 28,
  rss_key: 32,
  reta_size: 72,
  arp_table_pfn: 76,
  reta: 80,
  rx: 1104,
  tx: 1616,
  notify_port: 2128,
} as const;

export interface NicVqAddrs {
  desc: bigint;
  avail: bigint;
  used: bigint;
  size: number;
}

export interface NicInfo {
  nqueues: number;
  mac: Uint8Array; // 6 bytes
  mtu: number;
  addr: number; // IPv4, host order
  netmask: number;
  gateway: number;
  rssKey: Uint8Array; // IX_RSS_KEY_LEN bytes
  reta: Uint16Array | number[]; // queue index per entry, length a power of two <= IX_RETA_MAX
  rx: NicVqAddrs[];
  tx: NicVqAddrs[];
  notifyPort: bigint;
  /** static ARP entries in the table page (0 or absent: none) */
  arpCount?: number;
  /** guest-physical address of the table page (page aligned; ignored when arpCount is 0) */
  arpTable?: bigint;
}

/** One static ARP entry (config `[[nic.arp]]`). */
export interface NicArpEntry {
  ip: number; // IPv4, host order
  mac: Uint8Array; // 6 bytes
}

export class NicInfoError extends Error {
  override name = 'NicInfoError';
}

function checkInfo(info: NicInfo): void {
  if (!Number.isInteger(info.nqueues) || info.nqueues < 1 || info.nqueues > IX_NIC_MAX_QUEUES)
    throw new NicInfoError(`nqueues ${info.nqueues} is outside 1..${IX_NIC_MAX_QUEUES}: lower the number of dataplane cores`);
  if (info.mac.length !== 6) throw new NicInfoError(`mac has ${info.mac.length} bytes, want 6`);
  if (info.rssKey.length !== IX_RSS_KEY_LEN)
    throw new NicInfoError(`rss key has ${info.rssKey.length} bytes, want ${IX_RSS_KEY_LEN}`);
  const n = info.reta.length;
  if (n < 1 || n > IX_RETA_MAX || (n & (n - 1)) !== 0)
    throw new NicInfoError(`reta has ${n} entries, want a power of two in 1..${IX_RETA_MAX}`);
  for (const q of info.reta)
    if (q >= info.nqueues) throw new NicInfoError(`reta names queue ${q} but there are only ${info.nqueues}`);
  if (info.rx.length !== info.nqueues || info.tx.length !== info.nqueues)
    throw new NicInfoError(`need ${info.nqueues} rx and tx queues, got ${info.rx.length} rx and ${info.tx.length} tx`);
  const arpCount = info.arpCount ?? 0;
  if (!Number.isInteger(arpCount) || arpCount < 0 || arpCount > IX_NIC_ARP_MAX)
    throw new NicInfoError(`${arpCount} static ARP entries, at most ${IX_NIC_ARP_MAX} fit`);
  if (arpCount > 0) {
    const gpa = info.arpTable ?? 0n;
    if (gpa === 0n || gpa % BigInt(IX_NIC_ARP_PAGE) !== 0n || gpa >> 12n >= 1n << 32n)
      throw new NicInfoError(`ARP table address 0x${gpa.toString(16)} is not a non-zero page address below 2^44`);
  }
}

/**
 * Write the static ARP table (struct ix_nic_arp[entries.length], the rest of the page zeroed)
 * at `offset` of `view`: the page whose guest-physical address goes into
 * ix_nic_info.arp_table_pfn (<< 12). Only the layout is checked here (count, page in the
 * view, field sizes); what the entries mean was validated once, by the config schema, and the
 * guest checks again.
 */
export function writeNicArpTable(view: DataView, offset: number, entries: readonly NicArpEntry[]): void {
  if (entries.length > IX_NIC_ARP_MAX) throw new NicInfoError(`${entries.length} static ARP entries, at most ${IX_NIC_ARP_MAX} fit`);
  if (offset < 0 || offset + IX_NIC_ARP_PAGE > view.byteLength)
    throw new NicInfoError(`the ARP table page at offset ${offset} does not fit in a ${view.byteLength}-byte view`);
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, IX_NIC_ARP_PAGE);
  bytes.fill(0);
  entries.forEach((e, i) => {
    if (!Number.isInteger(e.ip) || e.ip < 0 || e.ip > 0xffffffff) throw new NicInfoError(`ARP entry ${i}: ip ${e.ip} is not a 32-bit value`);
    if (e.mac.length !== 6) throw new NicInfoError(`ARP entry ${i}: mac has ${e.mac.length} bytes, want 6`);
    view.setUint32(offset + i * NIC_ARP.size + NIC_ARP.ip, e.ip >>> 0, true);
    bytes.set(e.mac, i * NIC_ARP.size + NIC_ARP.mac);
  });
}

/** Read `count` entries (at most IX_NIC_ARP_MAX) of an ARP table page back (tests). */
export function readNicArpTable(view: DataView, offset: number, count: number): NicArpEntry[] {
  const out: NicArpEntry[] = [];
  for (let i = 0; i < Math.min(count, IX_NIC_ARP_MAX); i++) {
    const at = offset + i * NIC_ARP.size;
    out.push({
      ip: view.getUint32(at + NIC_ARP.ip, true),
      mac: new Uint8Array(view.buffer, view.byteOffset + at + NIC_ARP.mac, 6).slice(),
    });
  }
  return out;
}

/** Write struct ix_nic_info at `offset` of `view` (little-endian, as on x86-64). */
export function writeNicInfo(view: DataView, offset: number, info: NicInfo): void {
  checkInfo(info);
  if (offset < 0 || offset + NIC_INFO.size > view.byteLength)
    throw new NicInfoError(`ix_nic_info at offset ${offset} does not fit in a ${view.byteLength}-byte view`);
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, NIC_INFO.size);
  bytes.fill(0);
  view.setUint32(offset + NIC_INFO.present, 1, true);
  view.setUint32(offset + NIC_INFO.nqueues, info.nqueues, true);
  bytes.set(info.mac, NIC_INFO.mac);
  view.setUint16(offset + NIC_INFO.mtu, info.mtu, true);
  view.setUint32(offset + NIC_INFO.addr, info.addr >>> 0, true);
  view.setUint32(offset + NIC_INFO.netmask, info.netmask >>> 0, true);
  view.setUint32(offset + NIC_INFO.gateway, info.gateway >>> 0, true);
  const arpCount = info.arpCount ?? 0;
  view.setUint32(offset + NIC_INFO.arp_count, arpCount, true);
  view.setUint32(offset + NIC_INFO.arp_table_pfn, arpCount > 0 ? Number((info.arpTable ?? 0n) >> 12n) : 0, true);
  bytes.set(info.rssKey, NIC_INFO.rss_key);
  view.setUint32(offset + NIC_INFO.reta_size, info.reta.length, true);
  for (let i = 0; i < info.reta.length; i++)
    view.setUint16(offset + NIC_INFO.reta + 2 * i, info.reta[i] ?? 0, true);
  const writeVq = (base: number, q: NicVqAddrs): void => {
    view.setBigUint64(base + NIC_VQ.desc, q.desc, true);
    view.setBigUint64(base + NIC_VQ.avail, q.avail, true);
    view.setBigUint64(base + NIC_VQ.used, q.used, true);
    view.setUint16(base + NIC_VQ.qsize, q.size, true);
  };
  for (let i = 0; i < info.nqueues; i++) {
    writeVq(offset + NIC_INFO.rx + i * NIC_VQ.size, info.rx[i]!);
    writeVq(offset + NIC_INFO.tx + i * NIC_VQ.size, info.tx[i]!);
  }
  view.setBigUint64(offset + NIC_INFO.notify_port, info.notifyPort, true);
}

/** Read struct ix_nic_info back (used by tests and by `ix stats`). */
export function readNicInfo(view: DataView, offset: number): NicInfo & { present: boolean } {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, NIC_INFO.size);
  const nqueues = view.getUint32(offset + NIC_INFO.nqueues, true);
  const retaSize = Math.min(view.getUint32(offset + NIC_INFO.reta_size, true), IX_RETA_MAX);
  const readVq = (base: number): NicVqAddrs => ({
    desc: view.getBigUint64(base + NIC_VQ.desc, true),
    avail: view.getBigUint64(base + NIC_VQ.avail, true),
    used: view.getBigUint64(base + NIC_VQ.used, true),
    size: view.getUint16(base + NIC_VQ.qsize, true),
  });
  const nq = Math.min(nqueues, IX_NIC_MAX_QUEUES);
  const rx: NicVqAddrs[] = [];
  const tx: NicVqAddrs[] = [];
  for (let i = 0; i < nq; i++) {
    rx.push(readVq(offset + NIC_INFO.rx + i * NIC_VQ.size));
    tx.push(readVq(offset + NIC_INFO.tx + i * NIC_VQ.size));
  }
  const reta: number[] = [];
  for (let i = 0; i < retaSize; i++) reta.push(view.getUint16(offset + NIC_INFO.reta + 2 * i, true));
  return {
    present: view.getUint32(offset + NIC_INFO.present, true) !== 0,
    nqueues,
    mac: bytes.slice(NIC_INFO.mac, NIC_INFO.mac + 6),
    mtu: view.getUint16(offset + NIC_INFO.mtu, true),
    addr: view.getUint32(offset + NIC_INFO.addr, true),
    netmask: view.getUint32(offset + NIC_INFO.netmask, true),
    gateway: view.getUint32(offset + NIC_INFO.gateway, true),
    arpCount: view.getUint32(offset + NIC_INFO.arp_count, true),
    arpTable: BigInt(view.getUint32(offset + NIC_INFO.arp_table_pfn, true)) << 12n,
    rssKey: bytes.slice(NIC_INFO.rss_key, NIC_INFO.rss_key + IX_RSS_KEY_LEN),
    reta,
    rx,
    tx,
    notifyPort: view.getBigUint64(offset + NIC_INFO.notify_port, true),
  };
}
