// The NIC plan: everything the NIC needs to know, built once from the validated config and
// passed unchanged to attach, the backend, its worker and the engine. A plain object (numbers,
// strings, Uint8Arrays, arrays): structured-cloneable, so the worker gets it as is in its
// workerData. What only exists at run time (guest memory, ring addresses, fds, eventfds,
// shared buffers, a namespace created at attach) travels beside it, never inside.
import { randomBytes } from 'node:crypto';
import { IX_RSS_KEY_LEN, type NicArpEntry } from '../abi/nic.js';
import type { NicConfig } from '../config/index.js';
import { formatIpv4, parseIpv4, parseMac, prefixMask } from '../config/values.js';
import { defaultReta } from './toeplitz.js';

/** Where the TAP's namespace comes from. */
export type NicNetnsPlan =
  /** an existing namespace (ip netns add) */
  | { kind: 'existing'; name: string }
  /** a fresh one, created at attach (named from `tag`) with the Linux side addressed `peer`/prefix */
  | { kind: 'fresh'; tag: string; peer: string };

export interface NicPlan {
  /** queue pairs: one per dataplane core */
  nqueues: number;
  /** entries per ring */
  queueSize: number;
  /** 6 bytes */
  mac: Uint8Array;
  /** IP MTU */
  mtu: number;
  /** IPv4 in host byte order; gateway 0 = none */
  addr: number;
  prefix: number;
  netmask: number;
  gateway: number;
  rss: { key: Uint8Array; reta: number[] };
  /** static ARP entries ([[nic.arp]], validated by the config schema), as the guest ABI wants them */
  arp: NicArpEntry[];
  backend: {
    /** keep polling this long after the last frame before sleeping (20 us: on 2 cores longer spins starve the guest core) */
    spinUs: number;
    /** frames per direction per queue per pass, 1..64 */
    batch: number;
    /** 'koffi': one call per frame; 'burst': the C helper (nicio.ts) */
    io: 'koffi' | 'burst';
    /** poll(2) timeout while idle: a lost kick costs at most this much latency */
    idleTimeoutMs: number;
    /** host CPU to pin the backend thread to, or null */
    cpu: number | null;
    /** scheduler slice the backend thread asks for (config `sched_slice_us`), µs; 0: the kernel's */
    sliceUs: number;
    /** host CPUs the thread keeps off while others are allowed to it: the dataplane cores' CPUs
     * for the AF_XDP kick thread (xdp_rings = "guest", docs/nic.md, Benchmark); [] for the others */
    avoidCpus: number[];
  };
  /** the TAP to create; null when the caller hands open fds to the backend (tests) or for XDP */
  tap: { name: string; netns: NicNetnsPlan | null } | null;
  /** the TAP's queues are served by the kernel's vhost-net (backend "vhost") instead of a worker thread */
  vhost: boolean;
  /** AF_XDP on an existing interface (backend "xdp"); null for the TAP backend */
  xdp: {
    ifname: string;
    /** no [nic] mac given: the dataplane takes the interface's own MAC at attach */
    useInterfaceMac: boolean;
    /** "guest": the AF_XDP rings are mapped into guest memory and the guest polls them (the host
     * only kicks TX and wakes); "host": a host thread moves frames between them and virtio rings */
    rings: 'guest' | 'host';
  } | null;
}

export const NIC_DEFAULTS = {
  tapName: 'ixtap0',
  queueSize: 256,
  mtu: 1500,
  spinUs: 20,
  batch: 64,
  io: 'koffi',
  idleTimeoutMs: 100,
} as const;

export class NicPlanError extends Error {
  override name = 'NicPlanError';
}

/** "02:00:00:00:00:01" -> 6 bytes (the config has canonicalised it). */
export function macBytes(mac: string): Uint8Array {
  const canon = parseMac(mac);
  if (canon === null) throw new NicPlanError(`"${mac}" is not a MAC address (the config should have refused it)`);
  return Uint8Array.from(canon.split(':').map((h) => parseInt(h, 16)));
}

function ipv4(s: string, what: string): number {
  const v = parseIpv4(s);
  if (v === null) throw new NicPlanError(`${what} = "${s}" is not an IPv4 address (the config should have refused it)`);
  return v;
}

/**
 * The RSS key: the config's, or 40 random bytes for every run. A fixed, public key (the
 * Microsoft example key every NIC ships) lets anyone choose 4-tuples that all land on one
 * queue; with a secret per run they cannot aim a flood at one core.
 */
export function rssKeyFor(hex: string | null): Uint8Array {
  if (hex === null) return new Uint8Array(randomBytes(IX_RSS_KEY_LEN));
  if (!/^[0-9a-f]{80}$/.test(hex)) throw new NicPlanError(`nic.rss_key "${hex}" is not 80 hex digits (the config should have refused it)`);
  return Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));
}

/** The Linux side of the link: the gateway if there is one, else the first other host address. */
export function peerAddressFor(address: string, prefix: number, gateway: string | null): string {
  if (gateway) return gateway;
  const a = ipv4(address, 'nic.address');
  const first = ((a & prefixMask(prefix)) >>> 0) + 1;
  return formatIpv4(first === a ? first + 1 : first);
}

/**
 * The plan of a dataplane's NIC from its validated `[nic]` config, for `cores` queue pairs.
 * `tag` names the fresh namespace when the config asks for one (a-z0-9, at most 12).
 * `active`: the queues the redirection table spreads flows over at start (elastic cores:
 * `[cores] min`; the others get no flow group until `ix scale`); default all of them.
 * `schedSliceUs`: the backend thread's scheduler slice (config `sched_slice_us`; absent: 0, the kernel's).
 * `coreCpus`: the host CPUs the cores are pinned to (`cores = [..]`; null or absent: not pinned).
 */
export function planNic(nic: NicConfig, cores: number, o: { tag: string; active?: number; schedSliceUs?: number; coreCpus?: readonly number[] | null }): NicPlan {
  const active = o.active ?? cores;
  if (!Number.isInteger(active) || active < 1 || active > cores) throw new NicPlanError(`${active} active queues of ${cores}: want 1..${cores} (the config should have refused it)`);
  return {
    nqueues: cores,
    queueSize: NIC_DEFAULTS.queueSize,
    mac: macBytes(nic.mac),
    mtu: NIC_DEFAULTS.mtu,
    addr: ipv4(nic.address, 'nic.address'),
    prefix: nic.prefix,
    netmask: prefixMask(nic.prefix),
    gateway: nic.gateway ? ipv4(nic.gateway, 'nic.gateway') : 0,
    rss: { key: rssKeyFor(nic.rssKey), reta: defaultReta(active, nic.rssTableSize) },
    arp: nic.arp.map((e, i) => ({ ip: ipv4(e.ip, `nic.arp[${i}].ip`), mac: macBytes(e.mac) })),
    backend: {
      spinUs: nic.backendSpinUs,
      batch: NIC_DEFAULTS.batch,
      io: NIC_DEFAULTS.io,
      idleTimeoutMs: NIC_DEFAULTS.idleTimeoutMs,
      cpu: null,
      sliceUs: o.schedSliceUs ?? 0,
      avoidCpus: nic.backend === 'xdp' && nic.xdpRings === 'guest' ? [...(o.coreCpus ?? [])] : [],
    },
    tap:
      nic.backend === 'xdp'
        ? null
        : {
            name: nic.tap ?? NIC_DEFAULTS.tapName,
            netns: nic.namespace ? { kind: 'fresh', tag: o.tag, peer: peerAddressFor(nic.address, nic.prefix, nic.gateway) } : null,
          },
    vhost: nic.backend === 'vhost',
    xdp: nic.backend === 'xdp' ? { ifname: nic.interface!, useInterfaceMac: !nic.macGiven, rings: nic.xdpRings ?? 'host' } : null,
  };
}
