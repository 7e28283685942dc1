// The NIC bench's configurations, what each needs from the host, which of them a run measures
// (`pickNicConfigs`) and its command-line options (`nicOptionsFromArgs`). Pure: the host's
// answers come in as NicHostFacts, gathered by src/bench/nic.ts.

export class NicBenchError extends Error {
  override name = 'NicBenchError';
}

/**
 * Every configuration, in the order a run measures them (alternating round by round):
 *   c-reflector        bench/nic/reflector.c spinning on a TAP (the ceiling of the TAP path)
 *   backend…           the TAP backend worker with a fake guest reflector (src/bench/nic.ts)
 *   c-reflector-veth   bench/nic/veth_reflector.c: an AF_PACKET socket spinning on the veth the
 *                      XDP configs use (the ceiling of the veth path)
 *   xdp-guest          the echo dataplane (`ix run`) on that veth, backend "xdp", xdp_rings "guest"
 *   xdp-host           the same with xdp_rings "host"
 *   dataplane-tap      the same dataplane over its own TAP (backend "tap")
 */
export const NIC_BENCH_CONFIGS = [
  'c-reflector',
  'backend',
  'backend-burst',
  'backend-inline',
  'backend-inline-burst',
  'c-reflector-veth',
  'xdp-guest',
  'xdp-host',
  'dataplane-tap',
] as const;
export type NicBenchConfig = (typeof NIC_BENCH_CONFIGS)[number];

/** The configurations whose client talks over the veth pair (their fair ceiling: c-reflector-veth). */
export const VETH_CONFIGS: readonly NicBenchConfig[] = ['c-reflector-veth', 'xdp-guest', 'xdp-host'];

/** What the host must offer beyond root and network namespaces (which every configuration needs). */
export type NicNeed = 'veth' | 'xdp' | 'kvm';

export function configNeeds(c: NicBenchConfig): NicNeed[] {
  switch (c) {
    case 'c-reflector-veth':
      return ['veth'];
    case 'xdp-guest':
    case 'xdp-host':
      return ['veth', 'xdp', 'kvm'];
    case 'dataplane-tap':
      return ['kvm'];
    default:
      return [];
  }
}

/** Per need: null when the host has it, else why not (with what to do). */
export type NicHostFacts = Record<NicNeed, string | null>;

export interface NicSkipped {
  config: NicBenchConfig;
  reason: string;
}

/**
 * The configurations to measure. Without `asked`, every configuration the host can run (the
 * rest listed in `skipped` with the reason); with `asked`, exactly those, and a configuration
 * the host cannot run is an error (the user asked for it by name).
 */
export function pickNicConfigs(asked: readonly NicBenchConfig[] | undefined, facts: NicHostFacts): { configs: NicBenchConfig[]; skipped: NicSkipped[] } {
  const why = (c: NicBenchConfig): string | null => {
    const missing = configNeeds(c).filter((n) => facts[n] !== null);
    return missing.length ? missing.map((n) => facts[n]).join('; ') : null;
  };
  if (asked) {
    const bad = asked.map((c) => ({ config: c, reason: why(c) })).filter((x) => x.reason !== null);
    if (bad.length) throw new NicBenchError(`this host cannot run ${bad.map((b) => `${b.config} (${b.reason})`).join(', ')}; leave them out of --configs or fix the host (ix check)`);
    return { configs: [...asked], skipped: [] };
  }
  const skipped: NicSkipped[] = [];
  const configs: NicBenchConfig[] = [];
  for (const c of NIC_BENCH_CONFIGS) {
    const r = why(c);
    if (r === null) configs.push(c);
    else skipped.push({ config: c, reason: r });
  }
  return { configs, skipped };
}

/** The line printed (and kept in the report) for a configuration a run left out. */
export const skippedLine = (s: NicSkipped): string => `${s.config}: not measured on this host (${s.reason})`;

export interface NicArgOptions {
  seconds?: number;
  rounds?: number;
  inflight?: number;
  configs?: NicBenchConfig[];
  backendSpinUs?: number;
}

/** `--seconds=N --rounds=N --inflight=N --configs=a,b --backend-spin-us=N` of `npm run bench -- nic`. */
export function nicOptionsFromArgs(args: readonly string[]): NicArgOptions {
  const get = (k: string) => args.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  const int = (k: string, lo: number, hi: number): number | undefined => {
    const v = get(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v === '' || !Number.isInteger(n) || n < lo || n > hi) throw new NicBenchError(`--${k}=${v}: expected an integer from ${lo} to ${hi}`);
    return n;
  };
  const o: NicArgOptions = {};
  const seconds = int('seconds', 1, 60);
  const rounds = int('rounds', 1, 20);
  const inflight = int('inflight', 1, 1024); // nicping's MAXINFLIGHT
  const spin = int('backend-spin-us', 0, 100_000);
  if (seconds !== undefined) o.seconds = seconds;
  if (rounds !== undefined) o.rounds = rounds;
  if (inflight !== undefined) o.inflight = inflight;
  if (spin !== undefined) o.backendSpinUs = spin;
  const cs = get('configs');
  if (cs !== undefined) {
    const xs = cs.split(',');
    if (!cs || xs.some((c) => !(NIC_BENCH_CONFIGS as readonly string[]).includes(c)) || new Set(xs).size !== xs.length)
      throw new NicBenchError(`--configs=${cs}: expected a comma-separated list of distinct configurations from ${NIC_BENCH_CONFIGS.join(', ')}`);
    o.configs = xs as NicBenchConfig[];
  }
  return o;
}
