// Every default of the dataplane config file lives here, and only here. docs/config.md
// documents each of them; the config tests check that a minimal file resolves to these.

export const DEFAULTS = {
  cores: 1,
  memory: '64M',
  memoryBytes: 64 * 1024 * 1024,
  batch: 64,
  idlePollUs: 100,
  wake: 'auto',
  /** null: the KVM module's halt_poll_ns */
  haltPollUs: null as number | null,
  /** the scheduler slice the dataplane's vCPU and NIC threads ask for (0: the kernel's; docs/nic.md, Benchmark: 100 did not help reliably) */
  schedSliceUs: 0,
  protection: 'auto',
  app: {
    heap: '4M',
    heapBytes: 4 * 1024 * 1024,
    shared: '0',
    sharedBytes: 0,
    args: [] as readonly string[],
    ports: [] as readonly number[],
    /** 0: no runaway watchdog */
    maxRunMs: 0,
  },
  nic: {
    backend: 'auto',
    xdpRings: 'auto',
    rssTableSize: 128,
    backendSpinUs: 20,
    gateway: null,
    arp: [] as readonly { ip: string; mac: string }[],
  },
  net: {
    maxConnections: 8192,
  },
  /** [cores] policy and its knobs (elastic cores, docs/scale.md) */
  scale: {
    policy: 'manual',
    growLoad: 0.7,
    growQueue: 0.25,
    shrinkLoad: 0.3,
    sampleMs: 500,
    growAfter: 2,
    shrinkAfter: 6,
  },
  log: {
    level: 'info',
  },
} as const;

// What each dataplane core's network stack takes from guest memory (docs/scale.md): the
// config refuses a `[net] max_connections` the guest's `memory` cannot hold, instead of the
// guest stopping at boot with "out of guest memory".
export const NET_MEMORY = {
  /** TCP state per connection: control block 648 B, lookup table slot 8 B, 2 send slices
   * (48 B) and 4 per-segment records (96 B) = 800 B measured (guest/net/tcp_pcb.c
   * tcp_core_mem_size), rounded up for the half-open reserve and alignment */
  bytesPerConnection: 1024,
  /** the mbuf pool of a core: 4096 buffers of 2 KiB (guest/kernel/dataplane.h DP_MBUFS) */
  mbufPoolBytes: 8 * 1024 * 1024,
  /** the kernel image, page tables, log rings and the NIC rings, before any core's share */
  fixedBytes: 16 * 1024 * 1024,
} as const;

// The bounds the parser enforces. They are limits of this implementation, not of the
// hardware: raise them here (and in docs/config.md) when the code behind them grows.
export const LIMITS = {
  nameRe: /^[a-z0-9][a-z0-9-]{0,31}$/,
  coresMin: 1,
  coresMax: 64,
  cpuIdMax: 4095,
  memoryMin: 16 * 1024 * 1024,
  // the control plane sees guest memory through one ArrayBuffer, and V8 (Node 20) caps an
  // ArrayBuffer at 4 GiB (buffer.constants.MAX_LENGTH)
  memoryMax: 4 * 1024 * 1024 * 1024,
  memoryAlign: 4096,
  batchMin: 1,
  batchMax: 1024,
  idlePollUsMin: 0,
  idlePollUsMax: 1_000_000,
  haltPollUsMin: 0,
  haltPollUsMax: 1_000_000,
  schedSliceUsMin: 0,
  schedSliceUsMax: 100_000,
  rssTableMin: 1,
  rssTableMax: 512,
  backendSpinUsMin: 0,
  backendSpinUsMax: 100_000,
  portMin: 1,
  portMax: 65535,
  // Linux IFNAMSIZ is 16 including the terminating NUL.
  tapNameRe: /^[A-Za-z0-9_.-]{1,15}$/,
  arpMax: 256,
  argsMax: 64,
  // [app] max_run_ms: below 10 ms the host's sampling (a quarter of it) would poll guest
  // memory every couple of ms; above an hour it is no longer a watchdog
  maxRunMsMin: 10,
  maxRunMsMax: 3_600_000,
  heapMin: 64 * 1024,
  heapMax: 4 * 1024 * 1024 * 1024,
  // per dataplane core; the guest refuses more (guest/kernel/dataplane.h DP_TCP_CONNS_MAX)
  maxConnectionsMin: 16,
  maxConnectionsMax: 4 * 1024 * 1024,
} as const;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/** protection boundaries (docs/protection.md); the first is the default */
/** how an idle core is woken (docs/wake.md) */
export const WAKE_SETTINGS = ['auto', 'kernel', 'user'] as const;
export const PROTECTIONS = ['auto', 'page-tables', 'pvm-host-switch', 'shared-page-table', 'none'] as const;
/** earlier names still accepted in config files, and the mode each one means */
export const PROTECTION_ALIASES = { ring3: 'page-tables' } as const;

/** [nic] backend values. */
export const NIC_BACKENDS = ['auto', 'tap', 'xdp', 'vhost'] as const;
/** [nic] xdp_rings: who polls the AF_XDP rings (docs/nic.md) */
export const XDP_RINGS = ['auto', 'guest', 'host'] as const;
