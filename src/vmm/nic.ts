/**
 * Attaching the dataplane's NIC (issue 4, DESIGN.md §9): a multi-queue TAP (inside a fresh
 * network namespace for demos and tests), one virtio queue pair per core placed in guest
 * memory, described in boot info, served by the backend thread in src/nic/.
 */
import { attachNic } from '../nic/attach.js';
import { Netns } from '../nic/netns.js';
import type { NicHandle } from '../nic/backend.js';
import type { NicArpEntry, NicVqAddrs } from '../abi/nic.js';
import { BootInfo } from './abi.js';
import { bootInfoView } from './boot.js';

export interface NicOptions {
  /** TAP name (default "ixtap0") */
  tap: string | null;
  /** create the TAP inside a new namespace, with the Linux side addressed */
  namespace: boolean;
  mac: string;
  address: string;
  prefix: number;
  gateway: string | null;
  /** static ARP entries (config `[[nic.arp]]`): permanent neighbours in every core's cache */
  arp?: readonly { ip: string; mac: string }[];
  rssTableSize: number;
  /** NIC backend polling after its last frame before it sleeps (default 20 µs) */
  backendSpinUs?: number;
  /** purpose tag for the namespace name (a-z0-9) */
  tag: string;
}

export interface AttachedNic {
  handle: NicHandle;
  rx: NicVqAddrs[];
  netns: Netns | null;
  tapName: string;
  /** the Linux side's address in the namespace (null without a namespace) */
  peerAddress: string | null;
  notifyPort: number;
  close(): Promise<void>;
}

export const NIC_NOTIFY_PORT = 0x1e8;
/** guest-physical bytes reserved for the rings (16 queue pairs of 256 entries fit easily) */
export const NIC_RING_RESERVE = 1 << 20;

export const ipToInt = (ip: string): number => ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
export const intToIp = (v: number): string => [24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.');
const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

export class NicOptionsError extends Error {
  override name = 'NicOptionsError';
}

const macBytes = (mac: string): Uint8Array => Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));

/** `[[nic.arp]]` entries as the guest ABI wants them (IPv4 in host order, MAC bytes). The
 * config has validated them already; this only refuses what it cannot convert. */
export function arpEntriesFor(list: readonly { ip: string; mac: string }[]): NicArpEntry[] {
  return list.map((e, i) => {
    const octets = e.ip.split('.');
    if (octets.length !== 4 || octets.some((o) => !/^\d{1,3}$/.test(o) || Number(o) > 255))
      throw new NicOptionsError(`nic.arp[${i}].ip = "${e.ip}" is not a dotted-quad IPv4 address`);
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(e.mac)) throw new NicOptionsError(`nic.arp[${i}].mac = "${e.mac}" is not a MAC address`);
    return { ip: ipToInt(e.ip), mac: macBytes(e.mac) };
  });
}

/** The Linux side of the link: the gateway if there is one, else the first other host address. */
export function peerAddressFor(address: string, prefix: number, gateway: string | null): string {
  if (gateway) return gateway;
  const a = ipToInt(address);
  const net = (a & maskOf(prefix)) >>> 0;
  const first = net + 1;
  return intToIp(first === a ? first + 1 : first);
}

export async function attachDataplaneNic(
  o: NicOptions,
  mem: { base: number; size: number; view: DataView },
  ringArea: { start: number; end: number },
  nqueues: number,
  log: (msg: string) => void,
): Promise<AttachedNic> {
  const tapName = o.tap ?? 'ixtap0';
  const netns = o.namespace ? new Netns(o.tag) : null;
  try {
    const bi = bootInfoView(mem.view);
    const { nic, info } = await attachNic({
      memory: { base: mem.base, size: mem.size },
      ringArea,
      nqueues,
      mac: macBytes(o.mac),
      addr: ipToInt(o.address),
      netmask: maskOf(o.prefix),
      gateway: o.gateway ? ipToInt(o.gateway) : 0,
      arp: arpEntriesFor(o.arp ?? []),
      rss: { retaSize: o.rssTableSize },
      notifyPort: BigInt(NIC_NOTIFY_PORT),
      bootInfo: { view: bi, offset: BootInfo.nic },
      tap: { name: tapName, netns: netns?.name },
      backend: { log, spinUs: o.backendSpinUs },
    });
    let peerAddress: string | null = null;
    if (netns) {
      peerAddress = peerAddressFor(o.address, o.prefix, o.gateway);
      netns.ip('addr', 'add', `${peerAddress}/${o.prefix}`, 'dev', tapName);
    }
    return {
      handle: nic,
      rx: info.rx,
      netns,
      tapName,
      peerAddress,
      notifyPort: NIC_NOTIFY_PORT,
      async close() {
        await nic.stop();
        netns?.remove();
      },
    };
  } catch (e) {
    netns?.remove();
    throw e;
  }
}
