// One call for the control plane: create the plan's namespace if it wants a fresh one, place
// the rings in guest memory (and, after them, the page of static ARP entries when there are
// any), describe the NIC in the boot info page (struct ix_nic_info), start the backend on the
// plan's TAP (or on fds the caller opened), bring the TAP up and address the namespace side.
import { spawnSync } from 'node:child_process';
import { IX_NIC_ARP_PAGE, writeNicArpTable, writeNicInfo, type NicInfo, type NicVqAddrs } from '../abi/nic.js';
import { startNicBackend, type NicHandle, type NicRuntime } from './backend.js';
import { GuestMemory, type GuestMemorySpec } from './guest-memory.js';
import { Netns } from './netns.js';
import type { NicPlan } from './plan.js';
import { prepareNicRings } from './rings.js';
import { readFileSync } from 'node:fs';
import type { XdpBounce } from './xdp/engine.js';
import { XSK_RING_SIZE } from './xdp/port.js';
import { XSK_CHUNK } from './xdp/xsk.js';

export interface NicAttachEnv {
  memory: GuestMemorySpec;
  /** free guest-physical range the rings (and the ARP page) may use */
  ringArea: { start: number; end: number };
  /** the guest's `out` port for kicks */
  notifyPort: number;
  /** where struct ix_nic_info lives: a view of the boot info page and the offset in it */
  bootInfo: { view: DataView; offset: number };
  /** open queue fds instead of the plan's TAP (tests) */
  tapFds?: number[];
  backend?: Pick<NicRuntime, 'wakeFds' | 'onWake' | 'kickFd' | 'log'>;
  /** xdp_rings "guest": the window above RAM the VMM maps for the AF_XDP ring slots */
  xskWindow?: { start: number; size: number };
}

export interface AttachedNic {
  handle: NicHandle;
  /** what was written into ix_nic_info */
  info: NicInfo;
  rx: NicVqAddrs[];
  /** the namespace created for the TAP (null when the plan did not ask for a fresh one) */
  netns: Netns | null;
  tapName: string | undefined;
  /** the Linux side's address in a fresh namespace (else null) */
  peerAddress: string | null;
  close(): Promise<void>;
}

export class AttachNicError extends Error {
  override name = 'AttachNicError';
}

function ipOrThrow(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new AttachNicError(`ip ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** The interface's own MAC (sysfs), for an XDP dataplane without [nic] mac. */
function interfaceMac(ifname: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(`/sys/class/net/${ifname}/address`, 'utf8').trim();
  } catch {
    throw new AttachNicError(`interface ${ifname} not found in this network namespace (/sys/class/net/${ifname}); give an existing interface in [nic] interface, and run ix in its namespace (ip netns exec)`);
  }
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(text)) throw new AttachNicError(`interface ${ifname} has no Ethernet address (${text}); AF_XDP needs an Ethernet interface`);
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

/**
 * The XDP backend's TX bounce slots: XSK_CHUNK bytes each, per queue a power of two up to
 * the ring size, in the reserved range after the rings and the ARP page.
 */
function reserveBounce(plan: NicPlan, from: number, end: number): XdpBounce {
  const start = Math.ceil(from / 4096) * 4096;
  const fit = Math.floor((end - start) / (plan.nqueues * XSK_CHUNK));
  let slots = 1;
  while (slots * 2 <= Math.min(fit, plan.queueSize, XSK_RING_SIZE)) slots *= 2;
  if (fit < 8)
    throw new AttachNicError(`no room for the XDP transmit slots: ${end - start} bytes left in the reserved NIC range for ${plan.nqueues} queues (at least ${8 * XSK_CHUNK} per queue)`);
  return { start, slotsPerQueue: slots };
}

/** Rings, ARP page and ix_nic_info in guest memory (no thread, no device yet). */
function describeNic(plan: NicPlan, env: NicAttachEnv): NicInfo & { xdpBounce?: XdpBounce; xskInfoGpa?: number } {
  const mem = new GuestMemory(env.memory);
  const rings = prepareNicRings(mem, env.ringArea.start, env.ringArea.end, plan.nqueues, plan.queueSize);
  // The ARP table takes the page after the rings (rings.end is page aligned), inside the same
  // reserved range, so the guest's page allocator never hands it out.
  let arpTable = 0n;
  if (plan.arp.length > 0) {
    if (rings.end + IX_NIC_ARP_PAGE > env.ringArea.end)
      throw new AttachNicError(
        `no room for the static ARP table: the rings end at 0x${rings.end.toString(16)} and the reserved range at 0x${env.ringArea.end.toString(16)}; reserve one more page`,
      );
    writeNicArpTable(mem.dv, rings.end, plan.arp);
    arpTable = BigInt(rings.end);
  }
  const afterArp = rings.end + (plan.arp.length > 0 ? IX_NIC_ARP_PAGE : 0);
  const guestRings = plan.xdp?.rings === 'guest';
  const xdpBounce = plan.xdp && !guestRings ? reserveBounce(plan, afterArp, env.ringArea.end) : undefined;
  // xdp_rings "guest": one page for struct ix_xsk_info (the guest allocates its own TX slots)
  if (guestRings && afterArp + 4096 > env.ringArea.end)
    throw new AttachNicError(`no room for the AF_XDP ring description page: the reserved NIC range ends at 0x${env.ringArea.end.toString(16)}`);
  const xskInfoGpa = guestRings ? afterArp : undefined;
  const info: NicInfo = {
    nqueues: plan.nqueues,
    mac: plan.xdp?.useInterfaceMac ? interfaceMac(plan.xdp.ifname) : plan.mac,
    mtu: plan.mtu,
    addr: plan.addr,
    netmask: plan.netmask,
    gateway: plan.gateway,
    rssKey: plan.rss.key,
    reta: plan.rss.reta,
    rx: rings.rx,
    tx: rings.tx,
    notifyPort: BigInt(env.notifyPort),
    arpCount: plan.arp.length,
    arpTable,
  };
  writeNicInfo(env.bootInfo.view, env.bootInfo.offset, info);
  return { ...info, xdpBounce, xskInfoGpa };
}

export async function attachNic(plan: NicPlan, env: NicAttachEnv): Promise<AttachedNic> {
  const fresh = env.tapFds === undefined && plan.tap?.netns?.kind === 'fresh' ? plan.tap.netns : null;
  const netns = fresh ? new Netns(fresh.tag) : null;
  let handle: NicHandle | undefined;
  try {
    const info = describeNic(plan, env);
    if (info.xskInfoGpa !== undefined && !env.xskWindow)
      throw new AttachNicError('xdp_rings "guest" needs the window above RAM for the ring slots (xskWindow; the VMM gives it)');
    const xskGuest = info.xskInfoGpa !== undefined && env.xskWindow ? { infoGpa: info.xskInfoGpa, window: env.xskWindow, doorbellPort: env.notifyPort } : undefined;
    handle = await startNicBackend(plan, {
      ...env.backend,
      memory: env.memory,
      rings: { rx: info.rx, tx: info.tx },
      tapFds: env.tapFds,
      netns: netns?.name,
      xdpBounce: info.xdpBounce,
      ...(xskGuest ? { xskGuest } : {}),
    });
    let peerAddress: string | null = null;
    if (env.tapFds === undefined && plan.tap) {
      const where = netns ? ['-n', netns.name] : plan.tap.netns?.kind === 'existing' ? ['-n', plan.tap.netns.name] : [];
      ipOrThrow([...where, 'link', 'set', 'dev', plan.tap.name, 'up']);
      if (fresh && netns) {
        peerAddress = fresh.peer;
        netns.ip('addr', 'add', `${peerAddress}/${plan.prefix}`, 'dev', plan.tap.name);
      }
    }
    const h = handle;
    return {
      handle: h,
      info,
      rx: info.rx,
      netns,
      tapName: h.tapName,
      peerAddress,
      async close() {
        await h.stop();
        netns?.remove();
      },
    };
  } catch (e) {
    await handle?.stop();
    netns?.remove();
    throw e;
  }
}
