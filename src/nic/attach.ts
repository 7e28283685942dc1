// One call for the control plane: place the rings in guest memory (and, after them, the page
// of static ARP entries when there are any), describe the NIC in the boot info page (struct
// ix_nic_info), and start the backend on a TAP device (created here, optionally inside a
// namespace, and brought up) or on fds the caller opened.
import { spawnSync } from 'node:child_process';
import { GuestMemory, type GuestMemorySpec } from './guest-memory.js';
import { IX_NIC_ARP_PAGE, writeNicArpTable, writeNicInfo, type NicArpEntry, type NicInfo } from '../abi/nic.js';
import { startNicBackend, type NicBackendOptions, type NicHandle } from './backend.js';
import { prepareNicRings } from './rings.js';
import { MS_RSS_KEY, defaultReta } from './toeplitz.js';

export interface AttachNicOptions {
  memory: GuestMemorySpec;
  /** free guest-physical range the rings may use */
  ringArea: { start: number; end: number };
  nqueues: number;
  /** entries per ring (default 256) */
  queueSize?: number;
  mac: Uint8Array;
  mtu?: number;
  /** IPv4, host byte order */
  addr: number;
  netmask: number;
  gateway: number;
  /** static ARP entries (config `[[nic.arp]]`, at most IX_NIC_ARP_MAX): permanent in the guest */
  arp?: readonly NicArpEntry[];
  rss?: { key?: Uint8Array; retaSize?: number };
  /** the guest's `out` port for kicks */
  notifyPort: bigint;
  /** where struct ix_nic_info lives: a view of the boot info page and the offset in it */
  bootInfo: { view: DataView; offset: number };
  /** a TAP to create (and bring up unless up === false) or already open queue fds */
  tap: { name: string; netns?: string; up?: boolean } | { fds: number[] };
  backend?: Pick<NicBackendOptions, 'wakeFds' | 'onWake' | 'kickFd' | 'spinUs' | 'batch' | 'idleTimeoutMs' | 'log'>;
}

export class AttachNicError extends Error {
  override name = 'AttachNicError';
}

export async function attachNic(o: AttachNicOptions): Promise<{ nic: NicHandle; info: NicInfo }> {
  const mem = new GuestMemory(o.memory);
  const rings = prepareNicRings(mem, o.ringArea.start, o.ringArea.end, o.nqueues, o.queueSize ?? 256);
  // The ARP table takes the page after the rings (rings.end is page aligned), inside the same
  // reserved range, so the guest's page allocator never hands it out.
  const arp = o.arp ?? [];
  let arpTable = 0n;
  if (arp.length > 0) {
    if (rings.end + IX_NIC_ARP_PAGE > o.ringArea.end)
      throw new AttachNicError(
        `no room for the static ARP table: the rings end at 0x${rings.end.toString(16)} and the reserved range at 0x${o.ringArea.end.toString(16)}; reserve one more page`,
      );
    writeNicArpTable(mem.dv, rings.end, arp);
    arpTable = BigInt(rings.end);
  }
  const info: NicInfo = {
    nqueues: o.nqueues,
    mac: o.mac,
    mtu: o.mtu ?? 1500,
    addr: o.addr,
    netmask: o.netmask,
    gateway: o.gateway,
    rssKey: o.rss?.key ?? MS_RSS_KEY,
    reta: defaultReta(o.nqueues, o.rss?.retaSize ?? 128),
    rx: rings.rx,
    tx: rings.tx,
    notifyPort: o.notifyPort,
    arpCount: arp.length,
    arpTable,
  };
  writeNicInfo(o.bootInfo.view, o.bootInfo.offset, info);
  const common = { memory: o.memory, queues: rings, mtu: info.mtu, rss: { key: info.rssKey, reta: Array.from(info.reta) }, ...o.backend };
  const nic =
    'fds' in o.tap
      ? await startNicBackend({ ...common, tapFds: o.tap.fds })
      : await startNicBackend({ ...common, tapName: o.tap.name, netns: o.tap.netns });
  if (!('fds' in o.tap) && o.tap.up !== false) {
    const args = [...(o.tap.netns ? ['-n', o.tap.netns] : []), 'link', 'set', 'dev', o.tap.name, 'up'];
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    if (r.status !== 0) {
      await nic.stop();
      throw new AttachNicError(`ip ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
    }
  }
  return { nic, info };
}
