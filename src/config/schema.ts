// The zod schema of the dataplane config file as written (snake_case TOML keys). Every
// leaf carries, as its error message, the words that say what is ALLOWED there; the
// problem itself ("out of range", "wrong type") is derived from the zod issue code or,
// for custom checks, carried in `params.problem`. Cross-field rules of the [nic] section
// are a refinement of that section, so zod runs them only when its fields are valid.
import * as z from 'zod';
import { DEFAULTS, LIMITS, LOG_LEVELS, NIC_BACKENDS, XDP_RINGS, PROTECTIONS, PROTECTION_ALIASES, WAKE_SETTINGS } from './defaults.js';
import {
  formatIpv4,
  isMulticastMac,
  isNetworkOrBroadcast,
  isZeroMac,
  parseCidr,
  parseIpv4,
  parseRssKey,
  parseMac,
  parseSize,
  prefixMask,
  sameSubnet,
} from './values.js';

const MiB = 1024 * 1024;

/** 16777216 -> "16M": the largest binary unit that divides the size. */
function sizeText(n: number): string {
  for (const [u, f] of [['G', 1024 ** 3], ['M', MiB], ['K', 1024]] as const) if (n % f === 0) return `${n / f}${u}`;
  return String(n);
}

/** What is allowed at each key path; also used for "missing" messages and by the docs test. */
export const ALLOWED = {
  name: 'a name of 1 to 32 characters: lower-case letters, digits and "-", starting with a letter or digit',
  cores: `a core count from ${LIMITS.coresMin} to ${LIMITS.coresMax}, a list of 1 to ${LIMITS.coresMax} distinct host CPU ids (0 to ${LIMITS.cpuIdMax}), or a table [cores] with \`min\` and \`max\` (elastic cores)`,
  'cores.min': `the cores in use at start and the fewest \`ix scale\` may leave, an integer from ${LIMITS.coresMin} to ${LIMITS.coresMax}, at most cores.max`,
  'cores.max': `the vCPUs and queue pairs created at start, the most \`ix scale\` may use, an integer from ${LIMITS.coresMin} to ${LIMITS.coresMax}, at least cores.min`,
  'cores.policy': '"manual" (only `ix scale` changes the core count) or "auto" (the control plane grows and shrinks it by load, within min..max)',
  'cores.grow_load': 'a number from 0 to 1: grow when the cores in use are busy this share of their cycles',
  'cores.grow_queue': 'a number from 0 to 1: grow when this share of the non-empty RX batches were full',
  'cores.shrink_load': 'a number from 0 to 1, below grow_load: shrink when the load spread over one core fewer stays at or below it',
  'cores.sample_ms': 'an integer from 50 to 60000: how often the policy reads the cores\' counters, in ms',
  'cores.grow_after': 'an integer from 1 to 100: samples in a row that must ask to grow',
  'cores.shrink_after': 'an integer from 1 to 1000: samples in a row that must ask to shrink',
  memory: `integer bytes or a string "NNNK", "NNNM" or "NNNG" (binary units), from ${sizeText(LIMITS.memoryMin)} to ${sizeText(LIMITS.memoryMax)}, a multiple of ${sizeText(LIMITS.memoryAlign)}`,
  batch: `an integer from ${LIMITS.batchMin} to ${LIMITS.batchMax}`,
  idle_poll_us: `an integer number of microseconds from ${LIMITS.idlePollUsMin} to ${LIMITS.idlePollUsMax}`,
  wake: '"auto" (in the host kernel where KVM offers an irqchip and irqfd and the dataplane has a NIC, else user space), "kernel" or "user"',
  halt_poll_us: `an integer number of microseconds from ${LIMITS.haltPollUsMin} to ${LIMITS.haltPollUsMax}: how long KVM polls before it blocks a halted vCPU (with wake = "kernel")`,
  sched_slice_us: `an integer number of microseconds from ${LIMITS.schedSliceUsMin} to ${LIMITS.schedSliceUsMax}: the scheduler time slice the dataplane's vCPU and NIC threads ask Linux for (0: the kernel's default; Linux raises values under 100 to 100)`,
  protection: '"auto" (the fastest mode that isolates memory and availability here), "page-tables" (alias "ring3"), "pvm-host-switch" (kvm_pvm hosts only; an app can crash its own core), "shared-page-table" (hardware virtualization only: one page table, U/S with SMEP and SMAP) or "none"',
  app: 'a table [app] with at least `path`',
  'app.path': 'a non-empty path to the application ELF, relative to the config file\'s directory or absolute',
  'app.args': `a list of at most ${LIMITS.argsMax} strings`,
  'app.heap': `the heap of each app instance (one per core): integer bytes or "NNNK", "NNNM", "NNNG", from ${sizeText(LIMITS.heapMin)} to ${sizeText(LIMITS.heapMax)}, a multiple of 4K`,
  'app.shared': `memory mapped into every core's app instance at the same address (for state all cores use, like a shared cache): integer bytes or "NNNK", "NNNM", "NNNG", 0 to ${sizeText(LIMITS.heapMax)}, a multiple of 4K`,
  'app.max_run_ms': `an integer number of milliseconds from ${LIMITS.maxRunMsMin} to ${LIMITS.maxRunMsMax}: stop an app that runs this long without returning to the dataplane (no ix_bpoll)`,
  'app.ports': `a list of distinct port numbers from ${LIMITS.portMin} to ${LIMITS.portMax}`,
  nic: 'a table [nic]',
  'nic.backend': '"auto", "tap", "xdp" or "vhost": how frames reach the dataplane; "auto" is "xdp" when `interface` is given and "tap" otherwise; "vhost" (a TAP served by the host kernel\'s vhost-net, one core) needs /dev/vhost-net',
  'nic.xdp_rings': '"auto", "guest" or "host", for backend "xdp": "guest" maps the AF_XDP rings into guest memory and the guest polls them (one core for now), "host" has a host thread move frames between them and virtio rings; "auto" is "guest" with one core and "host" otherwise',
  'nic.interface': 'an existing Linux interface name of 1 to 15 characters (letters, digits, "_", "-", "."), for backend "xdp"; not together with `tap` or `namespace`',
  'nic.tap': 'a Linux interface name of 1 to 15 characters (letters, digits, "_", "-", "."); give either `tap` or `namespace = true`, not both',
  'nic.namespace': 'true or false; `namespace = true` or `tap = "..."`, exactly one of them',
  'nic.mac': 'a unicast MAC address "xx:xx:xx:xx:xx:xx" (hex), not all zeros',
  'nic.address': 'an IPv4 host address with prefix length, e.g. "10.10.0.2/24" (prefix 1 to 32; not the network or broadcast address)',
  'nic.gateway': 'an IPv4 address inside nic.address\'s subnet, other than nic.address itself',
  'nic.rss_table_size': `a power of two from ${LIMITS.rssTableMin} to ${LIMITS.rssTableMax}`,
  'nic.rss_key': 'the 40-byte Toeplitz RSS key as 80 hex digits (":" between bytes allowed), not all zeros; omit it for a random key per run',
  'nic.backend_spin_us': `an integer from ${LIMITS.backendSpinUsMin} to ${LIMITS.backendSpinUsMax}: microseconds the host NIC backend keeps polling after its last frame before it sleeps`,
  'nic.arp': `a list of at most ${LIMITS.arpMax} tables [[nic.arp]] with \`ip\` and \`mac\``,
  'nic.arp[].ip': 'an IPv4 address inside nic.address\'s subnet, each listed once, other than nic.address',
  'nic.arp[].mac': 'a unicast MAC address "xx:xx:xx:xx:xx:xx" (hex), not all zeros',
  net: 'a table [net]',
  'net.max_connections': `the TCP connections each dataplane core holds at most, an integer from ${LIMITS.maxConnectionsMin} to ${LIMITS.maxConnectionsMax}; each takes about 1 KiB of guest memory per core (docs/scale.md)`,
  log: 'a table [log]',
  'log.level': LOG_LEVELS.map((l) => `"${l}"`).join(', '),
} as const;

export type AllowedKey = keyof typeof ALLOWED;

export function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'list';
  if (v instanceof Date) return 'date/time';
  if (v !== null && typeof v === 'object') return 'table';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'float';
  return typeof v;
}

/**
 * A leaf checked by a function that returns the problem in words, or null when the value
 * is fine. Used where zod's built-in checks would give a vague or split message
 * (unions, sizes, addresses).
 */
function leaf<T>(allowed: string, test: (v: unknown) => string | null) {
  return z.unknown().superRefine((v, ctx) => {
    if (v === undefined) {
      ctx.addIssue({ code: 'custom', message: allowed, params: { problem: 'missing (required)' } });
      return;
    }
    const problem = test(v);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: allowed, params: { problem }, input: v });
  }) as unknown as z.ZodType<T>;
}

function intIn(min: number, max: number, v: unknown): string | null {
  if (typeof v !== 'number' || !Number.isInteger(v)) return `wrong type (${typeName(v)}), expected an integer`;
  if (v < min || v > max) return 'out of range';
  return null;
}

function intField(allowed: string, min: number, max: number) {
  return leaf<number>(allowed, (v) => intIn(min, max, v));
}

function stringIn<const T extends readonly string[]>(allowed: string, values: T) {
  return leaf<T[number]>(allowed, (v) => {
    if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
    return values.includes(v) ? null : 'not one of the allowed values';
  });
}

function intList(allowed: string, min: number, max: number, maxLen: number, minLen: number) {
  return leaf<number[]>(allowed, (v) => {
    if (!Array.isArray(v)) return `wrong type (${typeName(v)}), expected a list`;
    if (v.length < minLen) return 'empty list';
    if (v.length > maxLen) return `too many entries (${v.length})`;
    for (const [i, x] of v.entries()) {
      const p = intIn(min, max, x);
      if (p !== null) return `entry ${i} (${String(x)}): ${p}`;
    }
    const dup = v.find((x, i) => v.indexOf(x) !== i);
    if (dup !== undefined) return `${String(dup)} is listed twice`;
    return null;
  });
}

function macProblem(v: unknown): string | null {
  if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
  const mac = parseMac(v);
  if (mac === null) return 'not a MAC address';
  if (isMulticastMac(mac)) return 'a multicast/broadcast MAC (bit 0 of the first octet is set)';
  if (isZeroMac(mac)) return 'the all-zero MAC';
  return null;
}

function ipv4Problem(v: unknown): string | null {
  if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
  return parseIpv4(v) === null ? 'not a dotted-quad IPv4 address' : null;
}

const name = leaf<string>(ALLOWED.name, (v) => {
  if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
  return LIMITS.nameRe.test(v) ? null : 'not a valid name';
});

const cores = leaf<number | number[] | CoresTable>(ALLOWED.cores, (v) => {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) return coresTableProblem(v as Record<string, unknown>);
  if (Array.isArray(v)) {
    if (v.length === 0) return 'empty list';
    if (v.length > LIMITS.coresMax) return `too many CPUs (${v.length})`;
    for (const [i, x] of v.entries()) {
      const p = intIn(0, LIMITS.cpuIdMax, x);
      if (p !== null) return `entry ${i} (${String(x)}): ${p}`;
    }
    const dup = v.find((x, i) => v.indexOf(x) !== i);
    return dup !== undefined ? `CPU ${String(dup)} is listed twice` : null;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) return `wrong type (${typeName(v)}), expected an integer or a list`;
  return v < LIMITS.coresMin || v > LIMITS.coresMax ? 'out of range' : null;
});

/** `[cores] min = 1, max = 4`: elastic cores (docs/scale.md). */
export interface CoresTable {
  min: number;
  max: number;
  policy?: 'manual' | 'auto';
  grow_load?: number;
  grow_queue?: number;
  shrink_load?: number;
  sample_ms?: number;
  grow_after?: number;
  shrink_after?: number;
}

const POLICY_KEYS: Record<string, (v: unknown) => string | null> = {
  policy: (v) => (v === 'manual' || v === 'auto' ? null : `${JSON.stringify(v)} is not "manual" or "auto"`),
  grow_load: (v) => share(v),
  grow_queue: (v) => share(v),
  shrink_load: (v) => share(v),
  sample_ms: (v) => intIn(50, 60_000, v),
  grow_after: (v) => intIn(1, 100, v),
  shrink_after: (v) => intIn(1, 1000, v),
};

function share(v: unknown): string | null {
  if (typeof v !== 'number' || !Number.isFinite(v)) return `wrong type (${typeName(v)}), expected a number`;
  return v < 0 || v > 1 ? 'out of range' : null;
}

/** The problem of a [cores] table in words, or null. One leaf checks the whole table so that
 * the integer and list forms of `cores` keep their own message. */
function coresTableProblem(t: Record<string, unknown>): string | null {
  const unknown = Object.keys(t).filter((k) => k !== 'min' && k !== 'max' && !(k in POLICY_KEYS));
  if (unknown.length) return `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} in [cores] (keys: min, max, ${Object.keys(POLICY_KEYS).join(', ')})`;
  if (t['max'] === undefined) return 'cores.max is missing: [cores] needs `max`, the most cores the dataplane may use (and `min`, the fewest)';
  if (t['min'] === undefined) return 'cores.min is missing: [cores] needs `min`, the cores in use at start (and `max`)';
  for (const k of ['min', 'max'] as const) {
    const p = intIn(LIMITS.coresMin, LIMITS.coresMax, t[k]);
    if (p !== null) return `cores.${k}: ${p} (${ALLOWED[`cores.${k}`]})`;
  }
  const min = t['min'] as number;
  const max = t['max'] as number;
  if (min > max) return `cores.min (${min}) is above cores.max (${max}): min is the fewest cores in use, max the most`;
  for (const [k, check] of Object.entries(POLICY_KEYS)) {
    if (t[k] === undefined) continue;
    const p = check(t[k]);
    if (p !== null) return `cores.${k}: ${p} (${ALLOWED[`cores.${k}` as keyof typeof ALLOWED]})`;
  }
  const grow = (t['grow_load'] as number | undefined) ?? DEFAULTS.scale.growLoad;
  const shrink = (t['shrink_load'] as number | undefined) ?? DEFAULTS.scale.shrinkLoad;
  if (shrink >= grow) return `cores.shrink_load (${shrink}) is not below cores.grow_load (${grow}): the gap between them keeps the policy from growing and shrinking by turns`;
  return null;
}

const memory = leaf<string | number>(ALLOWED.memory, (v) => {
  if (typeof v !== 'string' && typeof v !== 'number') return `wrong type (${typeName(v)}), expected an integer or a string`;
  const n = parseSize(v);
  if (n === null) return 'not a size';
  if (n < LIMITS.memoryMin || n > LIMITS.memoryMax) return `out of range (${(n / MiB).toFixed(n % MiB === 0 ? 0 : 2)} MiB)`;
  if (n % LIMITS.memoryAlign !== 0) return `not a multiple of ${sizeText(LIMITS.memoryAlign)}`;
  return null;
});

const appSchema = z.strictObject({
  path: leaf<string>(ALLOWED['app.path'], (v) => {
    if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
    if (v.length === 0) return 'empty';
    return v.includes('\0') ? 'contains a NUL character' : null;
  }),
  args: leaf<string[]>(ALLOWED['app.args'], (v) => {
    if (!Array.isArray(v)) return `wrong type (${typeName(v)}), expected a list of strings`;
    if (v.length > LIMITS.argsMax) return `too many arguments (${v.length})`;
    const bad = v.findIndex((x) => typeof x !== 'string' || x.includes('\0'));
    return bad >= 0 ? `entry ${bad} (${String(v[bad])}) is not a string without NUL` : null;
  }).optional(),
  ports: intList(ALLOWED['app.ports'], LIMITS.portMin, LIMITS.portMax, 1024, 0).optional(),
  max_run_ms: intField(ALLOWED['app.max_run_ms'], LIMITS.maxRunMsMin, LIMITS.maxRunMsMax).optional(),
  heap: leaf<string | number>(ALLOWED['app.heap'], (v) => {
    if (typeof v !== 'string' && typeof v !== 'number') return `wrong type (${typeName(v)}), expected an integer or a string`;
    const n = parseSize(v);
    if (n === null) return 'not a size';
    if (n < LIMITS.heapMin || n > LIMITS.heapMax) return 'out of range';
    return n % 4096 !== 0 ? 'not a multiple of 4K' : null;
  }).optional(),
  shared: leaf<string | number>(ALLOWED['app.shared'], (v) => {
    if (typeof v !== 'string' && typeof v !== 'number') return `wrong type (${typeName(v)}), expected an integer or a string`;
    const n = parseSize(v);
    if (n === null) return 'not a size';
    if (n > LIMITS.heapMax) return 'out of range';
    return n % 4096 !== 0 ? 'not a multiple of 4K' : null;
  }).optional(),
}, { error: ALLOWED.app });

const arpSchema = z.strictObject({
  ip: leaf<string>(ALLOWED['nic.arp[].ip'], ipv4Problem),
  mac: leaf<string>(ALLOWED['nic.arp[].mac'], macProblem),
}, { error: ALLOWED['nic.arp'] });

const ifnameProblem = (v: unknown): string | null => {
  if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
  if (v === '.' || v === '..' || !LIMITS.tapNameRe.test(v)) return 'not a valid interface name';
  return null;
};

const nicSchema = z
  .strictObject({
    tap: leaf<string>(ALLOWED['nic.tap'], (v) => {
      if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
      if (v === '.' || v === '..' || !LIMITS.tapNameRe.test(v)) return 'not a valid interface name';
      return null;
    }).optional(),
    namespace: leaf<boolean>(ALLOWED['nic.namespace'], (v) =>
      typeof v === 'boolean' ? null : `wrong type (${typeName(v)}), expected true or false`,
    ).optional(),
    mac: leaf<string>(ALLOWED['nic.mac'], macProblem).optional(),
    address: leaf<string>(ALLOWED['nic.address'], (v) => {
      if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
      const c = parseCidr(v);
      if (c === null) return 'not an IPv4 address with a /prefix';
      if (isNetworkOrBroadcast(c.ip, c.prefix)) return 'the network or broadcast address of its subnet';
      if (c.ip >>> 24 === 0 || c.ip >>> 24 === 127 || c.ip >>> 28 >= 14) return 'a reserved, loopback or multicast address';
      return null;
    }),
    gateway: leaf<string>(ALLOWED['nic.gateway'], ipv4Problem).optional(),
    rss_table_size: leaf<number>(ALLOWED['nic.rss_table_size'], (v) => {
      const p = intIn(LIMITS.rssTableMin, LIMITS.rssTableMax, v);
      if (p !== null) return p;
      return ((v as number) & ((v as number) - 1)) === 0 ? null : 'not a power of two';
    }).optional(),
    rss_key: leaf<string>(ALLOWED['nic.rss_key'], (v) => {
      if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
      const hex = parseRssKey(v);
      if (hex === null) return 'not 40 bytes of hex (80 hex digits)';
      return /^0+$/.test(hex) ? 'all zeros (every flow would hash alike)' : null;
    }).optional(),
    backend_spin_us: leaf<number>(ALLOWED['nic.backend_spin_us'], (v) => intIn(LIMITS.backendSpinUsMin, LIMITS.backendSpinUsMax, v)).optional(),
    arp: z.array(arpSchema, { error: ALLOWED['nic.arp'] }).optional(),
    backend: leaf<string>(ALLOWED['nic.backend'], (v) => {
      if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
      return (NIC_BACKENDS as readonly string[]).includes(v) ? null : 'not a backend';
    }).optional(),
    interface: leaf<string>(ALLOWED['nic.interface'], ifnameProblem).optional(),
    xdp_rings: leaf<string>(ALLOWED['nic.xdp_rings'], (v) => {
      if (typeof v !== 'string') return `wrong type (${typeName(v)}), expected a string`;
      return (XDP_RINGS as readonly string[]).includes(v) ? null : 'not one of them';
    }).optional(),
  }, { error: ALLOWED.nic })
  .superRefine((nic, ctx) => {
    // zod runs this refinement even when a field of [nic] failed its own check (custom
    // issues do not abort), so every field is re-checked before it is used here; a bad
    // field has already been reported by its own leaf.
    const tap = typeof nic.tap === 'string' ? nic.tap : undefined;
    const iface = typeof nic.interface === 'string' ? nic.interface : undefined;
    const backend = typeof nic.backend === 'string' ? nic.backend : 'auto';
    if (backend === 'xdp' || (backend === 'auto' && iface !== undefined)) {
      if (iface === undefined && nic.interface === undefined)
        ctx.addIssue({ code: 'custom', path: ['interface'], message: ALLOWED['nic.interface'], params: { problem: 'missing: backend "xdp" needs `interface = "<existing interface>"`' } });
      if (nic.tap !== undefined)
        ctx.addIssue({ code: 'custom', path: ['tap'], input: nic.tap, message: ALLOWED['nic.tap'], params: { problem: 'not used by backend "xdp" (it attaches to nic.interface)' } });
      if (nic.namespace !== undefined)
        ctx.addIssue({ code: 'custom', path: ['namespace'], input: nic.namespace, message: ALLOWED['nic.namespace'], params: { problem: 'not used by backend "xdp" (run ix inside the interface\'s namespace: ip netns exec)' } });
    } else if (nic.xdp_rings !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['xdp_rings'], input: nic.xdp_rings, message: ALLOWED['nic.xdp_rings'], params: { problem: `not used by backend "${backend}"` } });
    }
    if (backend === 'xdp' || (backend === 'auto' && iface !== undefined)) {
      /* checked above */
    } else if (nic.interface !== undefined && (backend === 'tap' || backend === 'vhost')) {
      ctx.addIssue({ code: 'custom', path: ['interface'], input: nic.interface, message: ALLOWED['nic.interface'], params: { problem: `not used by backend "${backend}"` } });
    } else if (typeof nic.namespace === 'boolean' || nic.namespace === undefined) {
      const ns = nic.namespace === true;
      if (tap !== undefined && ns) {
        ctx.addIssue({ code: 'custom', path: ['namespace'], input: true, message: ALLOWED['nic.namespace'], params: { problem: `conflicts with nic.tap = "${tap}"` } });
      } else if (nic.tap === undefined && !ns) {
        ctx.addIssue({ code: 'custom', path: ['tap'], message: ALLOWED['nic.tap'], params: { problem: 'missing: [nic] needs `tap = "<name>"`, `namespace = true` or `interface = "<name>"`' } });
      }
    }
    const arp = Array.isArray(nic.arp) ? nic.arp : [];
    if (arp.length > LIMITS.arpMax) {
      ctx.addIssue({ code: 'custom', path: ['arp'], input: arp, message: ALLOWED['nic.arp'], params: { problem: `too many entries (${arp.length})` } });
    }
    const cidr = typeof nic.address === 'string' ? parseCidr(nic.address) : null;
    if (cidr === null) return;
    const subnet = `${formatIpv4((cidr.ip & prefixMask(cidr.prefix)) >>> 0)}/${cidr.prefix}`;
    const onLink = (what: string, ip: number, s: string, path: (string | number)[], allowed: string): void => {
      let problem: string | null = null;
      if (ip === cidr.ip) problem = `is nic.address itself`;
      else if (!sameSubnet(ip, cidr.ip, cidr.prefix)) problem = `${what} is outside nic.address's subnet ${subnet}`;
      else if (isNetworkOrBroadcast(ip, cidr.prefix)) problem = `${what} is the network or broadcast address of ${subnet}`;
      if (problem !== null) ctx.addIssue({ code: 'custom', path, input: s, message: allowed, params: { problem } });
    };
    const gw = typeof nic.gateway === 'string' ? parseIpv4(nic.gateway) : null;
    if (gw !== null) onLink('the gateway', gw, nic.gateway!, ['gateway'], ALLOWED['nic.gateway']);
    const seen = new Map<number, number>();
    arp.forEach((e, i) => {
      const ip = e !== null && typeof e === 'object' && typeof e.ip === 'string' ? parseIpv4(e.ip) : null;
      if (ip === null) return;
      onLink('the entry', ip, e.ip, ['arp', i, 'ip'], ALLOWED['nic.arp[].ip']);
      const first = seen.get(ip);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['arp', i, 'ip'], input: e.ip, message: ALLOWED['nic.arp[].ip'], params: { problem: `already listed in nic.arp[${first}]` } });
      } else seen.set(ip, i);
    });
  });

const netSchema = z.strictObject({
  max_connections: intField(ALLOWED['net.max_connections'], LIMITS.maxConnectionsMin, LIMITS.maxConnectionsMax).optional(),
}, { error: ALLOWED.net });

const logSchema = z.strictObject({
  level: stringIn(ALLOWED['log.level'], LOG_LEVELS).optional(),
}, { error: ALLOWED.log });

export const fileSchema = z.strictObject({
  name,
  cores: cores.optional(),
  memory: memory.optional(),
  batch: intField(ALLOWED.batch, LIMITS.batchMin, LIMITS.batchMax).optional(),
  idle_poll_us: intField(ALLOWED.idle_poll_us, LIMITS.idlePollUsMin, LIMITS.idlePollUsMax).optional(),
  wake: stringIn(ALLOWED.wake, WAKE_SETTINGS).optional(),
  halt_poll_us: intField(ALLOWED.halt_poll_us, LIMITS.haltPollUsMin, LIMITS.haltPollUsMax).optional(),
  sched_slice_us: intField(ALLOWED.sched_slice_us, LIMITS.schedSliceUsMin, LIMITS.schedSliceUsMax).optional(),
  protection: stringIn(ALLOWED.protection, [...PROTECTIONS, ...(Object.keys(PROTECTION_ALIASES) as (keyof typeof PROTECTION_ALIASES)[])]).optional(),
  app: appSchema,
  nic: nicSchema.optional(),
  net: netSchema.optional(),
  log: logSchema.optional(),
});

export type ConfigFile = z.infer<typeof fileSchema>;

/** Keys of each table, for "did you mean" and for suggesting the right section. */
export const TABLE_KEYS: Record<string, readonly string[]> = {
  '': Object.keys(fileSchema.shape),
  cores: ['min', 'max', 'policy', 'grow_load', 'grow_queue', 'shrink_load', 'sample_ms', 'grow_after', 'shrink_after'],
  app: Object.keys(appSchema.shape),
  nic: Object.keys(nicSchema.shape),
  'nic.arp': Object.keys(arpSchema.shape),
  net: Object.keys(netSchema.shape),
  log: Object.keys(logSchema.shape),
};
