/**
 * guest/include/ix/nic.h: the NIC description the host writes into the boot info page
 * (struct ix_nic_info), its queue addresses (struct ix_nic_vq) and the page of static ARP
 * entries (struct ix_nic_arp[]), and the host's writer and reader of them.
 */
import { array, bytes, defineStruct, nestedArray, readStruct, u16, u32, u64, writeStruct, type StructValue } from './struct.js';

export const IX_NIC_MAX_QUEUES = 16;
export const IX_RSS_KEY_LEN = 40;
export const IX_RETA_MAX = 512;
/** static ARP entries at most (the config's limit too) */
export const IX_NIC_ARP_MAX = 256;
/** the ARP table is one guest page: IX_NIC_ARP_MAX entries */
export const IX_NIC_ARP_PAGE = 4096;

/** One split virtqueue: guest-physical addresses of its three parts. */
export const NicVq = defineStruct('ix_nic_vq', 32, { desc: u64(0), avail: u64(8), used: u64(16), size: u16(24) });

/** One static ARP entry in the table page. */
export const NicArp = defineStruct('ix_nic_arp', 16, { ip: u32(0), mac: bytes(4, 6) });

export const NicInfo = defineStruct('ix_nic_info', 2136, {
  present: u32(0), nqueues: u32(4), mac: bytes(8, 6), mtu: u16(14), addr: u32(16), netmask: u32(20),
  gateway: u32(24), arpCount: u32(28), rssKey: bytes(32, IX_RSS_KEY_LEN), retaSize: u32(72),
  arpTablePfn: u32(76), reta: array('u16', 80, IX_RETA_MAX), rx: nestedArray(1104, NicVq, IX_NIC_MAX_QUEUES),
  tx: nestedArray(1616, NicVq, IX_NIC_MAX_QUEUES), notifyPort: u64(2128),
});

/** The guest-physical addresses of one virtqueue's three parts and its size. */
export type NicVqAddrs = StructValue<typeof NicVq>;

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
  new Uint8Array(view.buffer, view.byteOffset + offset, IX_NIC_ARP_PAGE).fill(0);
  entries.forEach((e, i) => {
    if (!Number.isInteger(e.ip) || e.ip < 0 || e.ip > 0xffffffff) throw new NicInfoError(`ARP entry ${i}: ip ${e.ip} is not a 32-bit value`);
    if (e.mac.length !== 6) throw new NicInfoError(`ARP entry ${i}: mac has ${e.mac.length} bytes, want 6`);
    writeStruct(NicArp, view, offset + i * NicArp.size, { ip: e.ip, mac: e.mac });
  });
}

/** Read `count` entries (at most IX_NIC_ARP_MAX) of an ARP table page back (tests). */
export function readNicArpTable(view: DataView, offset: number, count: number): NicArpEntry[] {
  return Array.from({ length: Math.min(count, IX_NIC_ARP_MAX) }, (_, i) => readStruct(NicArp, view, offset + i * NicArp.size));
}

/** Write struct ix_nic_info at `offset` of `view` (zeroed first). */
export function writeNicInfo(view: DataView, offset: number, info: NicInfo): void {
  checkInfo(info);
  if (offset < 0 || offset + NicInfo.size > view.byteLength)
    throw new NicInfoError(`ix_nic_info at offset ${offset} does not fit in a ${view.byteLength}-byte view`);
  const arpCount = info.arpCount ?? 0;
  writeStruct(NicInfo, view, offset, {
    present: 1,
    nqueues: info.nqueues,
    mac: info.mac,
    mtu: info.mtu,
    addr: info.addr >>> 0,
    netmask: info.netmask >>> 0,
    gateway: info.gateway >>> 0,
    arpCount,
    arpTablePfn: arpCount > 0 ? Number((info.arpTable ?? 0n) >> 12n) : 0,
    rssKey: info.rssKey,
    retaSize: info.reta.length,
    reta: info.reta,
    rx: info.rx.slice(0, info.nqueues),
    tx: info.tx.slice(0, info.nqueues),
    notifyPort: info.notifyPort,
  }, { zero: true });
}

/** Read struct ix_nic_info back (tests, `ix stats`): counts clamped to the arrays' sizes. */
export function readNicInfo(view: DataView, offset: number): NicInfo & { present: boolean } {
  const v = readStruct(NicInfo, view, offset);
  const nq = Math.min(v.nqueues, IX_NIC_MAX_QUEUES);
  return {
    present: v.present !== 0,
    nqueues: v.nqueues,
    mac: v.mac,
    mtu: v.mtu,
    addr: v.addr,
    netmask: v.netmask,
    gateway: v.gateway,
    arpCount: v.arpCount,
    arpTable: BigInt(v.arpTablePfn) << 12n,
    rssKey: v.rssKey,
    reta: v.reta.slice(0, Math.min(v.retaSize, IX_RETA_MAX)),
    rx: v.rx.slice(0, nq),
    tx: v.tx.slice(0, nq),
    notifyPort: v.notifyPort,
  };
}
