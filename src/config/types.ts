// The resolved dataplane config: what the rest of the control plane codes against.
// Defaults are applied, paths are absolute, sizes are bytes, names are camelCase.
import type { LOG_LEVELS, PROTECTIONS, WAKE_SETTINGS } from './defaults.js';

export type LogLevel = (typeof LOG_LEVELS)[number];
export type Protection = (typeof PROTECTIONS)[number];
export type WakeSetting = (typeof WAKE_SETTINGS)[number];

export interface NicConfig {
  /** the resolved backend: "auto" became "xdp" (an interface was given) or "tap"; "vhost" only when asked for */
  backend: 'tap' | 'xdp' | 'vhost';
  /** why this backend (what `ix run` and `ix check` print) */
  backendReason: string;
  /** the existing interface the XDP backend attaches to (null for "tap") */
  interface: string | null;
  /** `mac` was given; otherwise the XDP backend uses the interface's own MAC */
  macGiven: boolean;
  /** TAP device name, or null when `namespace` is true (the runner picks a name). */
  tap: string | null;
  /** Create the TAP inside a fresh network namespace. */
  namespace: boolean;
  /** Lower-case "xx:xx:xx:xx:xx:xx". */
  mac: string;
  /** Host address without prefix, e.g. "10.10.0.2". */
  address: string;
  prefix: number;
  gateway: string | null;
  arp: { ip: string; mac: string }[];
  rssTableSize: number;
  /** the RSS key as 80 lower-case hex digits, or null: a random key for every run */
  rssKey: string | null;
  /** backend "xdp": who polls the AF_XDP rings ("auto" resolved: guest with one core, else host); null for other backends */
  xdpRings: 'guest' | 'host' | null;
  /** why (what `ix run` and `ix check` print); null for other backends */
  xdpRingsReason: string | null;
  /** how long the host NIC backend polls after its last frame before it sleeps */
  backendSpinUs: number;
}

/** `[cores] policy = "auto"`: when the control plane grows and shrinks the dataplane by itself
 * (src/control/policy.ts, docs/scale.md "The policy"). */
export interface ScaleKnobs {
  /** grow when the cores in use are busy this share of their cycles (0..1) */
  growLoad: number;
  /** ... or when this share of their non-empty RX batches was full (0..1) */
  growQueue: number;
  /** shrink when the load spread over one core fewer stays at or below this (0..1) */
  shrinkLoad: number;
  /** how often the counters are read, ms */
  sampleMs: number;
  /** samples in a row that must ask for a change */
  growAfter: number;
  shrinkAfter: number;
}

export interface DataplaneConfig {
  /** Absolute path of the file ('<inline>' for parseConfig without a path). */
  source: string;
  name: string;
  /** cpus is non-null when a list was given (then count = cpus.length). count is the vCPUs
   * and queue pairs created at start (`[cores] max`); min the cores in use at start and the
   * fewest `ix scale` may leave (`[cores] min`; = count for `cores = N` or a list); policy
   * the automatic scaling (`[cores] policy = "auto"`), null for scaling by `ix scale` only. */
  cores: { count: number; cpus: number[] | null; min: number; policy: ScaleKnobs | null };
  memoryBytes: number;
  batch: number;
  idlePollUs: number;
  /** how an idle core is woken (docs/wake.md) */
  wake: WakeSetting;
  /** KVM halt polling in µs; null: the module's default */
  haltPollUs: number | null;
  /** scheduler slice (EEVDF sched_runtime) of the vCPU and NIC threads in µs; 0: the kernel's */
  schedSliceUs: number;
  protection: Protection;
  app: {
    path: string;
    args: string[];
    ports: number[];
    heapBytes: number;
    sharedBytes: number;
    /** stop an app that runs this long without returning to the dataplane; 0: never */
    maxRunMs: number;
  };
  nic: NicConfig | null;
  /** the network stack of each core */
  net: { maxConnections: number };
  log: { level: LogLevel };
}
