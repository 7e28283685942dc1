// Reading a dataplane config: TOML text -> validated -> resolved DataplaneConfig.
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type * as z from 'zod';
import { DEFAULTS, PROTECTION_ALIASES, type XDP_RINGS } from './defaults.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { ALLOWED, fileSchema, TABLE_KEYS, typeName, type ConfigFile, type CoresTable } from './schema.js';
import { netMemoryIssue } from './netfit.js';
import { closest } from './suggest.js';
import type { DataplaneConfig, NicConfig, Protection, ScaleKnobs, WakeSetting } from './types.js';
import { macFromName, parseCidr, parseMac, parseRssKey, parseSize, formatIpv4 } from './values.js';

export const INLINE_SOURCE = '<inline>';

function pathString(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += (s === '' ? '' : '.') + String(p);
  }
  return s;
}

function lookup(root: unknown, path: readonly PropertyKey[]): { present: boolean; value?: unknown } {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, p)) return { present: false };
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return { present: true, value: cur };
}

/** The ALLOWED text of a key path: "nic.arp[2].mac" -> ALLOWED["nic.arp[].mac"]. */
function allowedFor(path: string): string | undefined {
  return (ALLOWED as Record<string, string>)[path.replace(/\[\d+\]/g, '[]')];
}

function unknownKeyIssue(raw: unknown, table: readonly PropertyKey[], key: string): ConfigIssue {
  const tablePath = pathString(table);
  const tableKey = tablePath.replace(/\[\d+\]/g, '');
  const known = TABLE_KEYS[tableKey] ?? [];
  const { value } = lookup(raw, [...table, key]);
  let problem = 'unknown key';
  const near = closest(key, known);
  if (near !== null) {
    problem += `; did you mean "${near}"?`;
  } else {
    // The right key in the wrong table, e.g. `level = "debug"` at the top instead of in [log].
    for (const [t, keys] of Object.entries(TABLE_KEYS)) {
      if (t !== tableKey && t !== '' && keys.includes(key)) {
        problem += `; did you mean "${key}" in table [${t}]?`;
        break;
      }
    }
  }
  const where = tablePath === '' ? 'at the top level' : `in [${tableKey}]`;
  return {
    path: tablePath === '' ? key : `${tablePath}.${key}`,
    present: true,
    value,
    problem,
    allowed: `the keys ${where}: ${known.join(', ')}`,
  };
}

function toIssues(raw: unknown, issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const iss of issues) {
    if (iss.code === 'unrecognized_keys') {
      for (const k of iss.keys) out.push(unknownKeyIssue(raw, iss.path, k));
      continue;
    }
    const path = pathString(iss.path);
    const at = lookup(raw, iss.path);
    let problem: string;
    if (iss.code === 'custom' && typeof iss.params?.['problem'] === 'string') problem = iss.params['problem'];
    else if (!at.present) problem = 'missing (required)';
    else if (iss.code === 'invalid_type') problem = `wrong type (${typeName(at.value)})`;
    else problem = 'not allowed';
    const allowed = allowedFor(path) ?? iss.message;
    out.push({ path, present: at.present, value: at.value, problem, allowed });
  }
  // zod reports in schema order (the order docs/config.md lists the keys), which reads
  // like the file; keep it.
  return out;
}

/** A protection name as written (an alias such as "ring3" included) -> the mode it names. */
function resolveProtection(p: Protection | keyof typeof PROTECTION_ALIASES): Protection {
  return p in PROTECTION_ALIASES ? PROTECTION_ALIASES[p as keyof typeof PROTECTION_ALIASES] : (p as Protection);
}

/** [nic] xdp_rings: "auto" is "guest" (no host thread on the receive path) where the guest can
 * take its frames from one socket, i.e. one core: with more, each socket gets the frames of its
 * interface queue, which Linux picks by its own hash, and only the host's steering puts every
 * connection on the core its Toeplitz hash names. */
function resolveXdpRings(asked: (typeof XDP_RINGS)[number], cores: number): Pick<NicConfig, 'xdpRings' | 'xdpRingsReason'> {
  if (asked !== 'auto') return { xdpRings: asked, xdpRingsReason: `xdp_rings = "${asked}" in the config` };
  return cores === 1
    ? { xdpRings: 'guest', xdpRingsReason: 'auto: one core polls its AF_XDP rings itself' }
    : { xdpRings: 'host', xdpRingsReason: `auto: ${cores} cores need the host's RSS steering between AF_XDP queues and cores` };
}

function resolveConfig(f: ConfigFile, source: string, baseDir: string): DataplaneConfig {
  const coresList = Array.isArray(f.cores) ? [...f.cores] : null;
  const coresTable = f.cores !== undefined && !Array.isArray(f.cores) && typeof f.cores === 'object' ? f.cores : null;
  const cores = resolveCores(coresList, coresTable, f.cores);
  const ncores = cores.count; // queue pairs: the most cores the dataplane may use
  let nic: DataplaneConfig['nic'] = null;
  if (f.nic !== undefined) {
    const cidr = parseCidr(f.nic.address)!;
    const asked = f.nic.backend ?? DEFAULTS.nic.backend;
    const backend = asked === 'vhost' ? 'vhost' : asked === 'xdp' || (asked === 'auto' && f.nic.interface !== undefined) ? 'xdp' : 'tap';
    const backendReason =
      asked !== 'auto'
        ? `backend = "${asked}" in the config`
        : backend === 'xdp'
          ? `auto: interface = "${f.nic.interface}" is an existing interface, which only AF_XDP can share with Linux`
          : 'auto: no interface given, so a TAP device (vhost-net only when asked for: backend = "vhost")';
    nic = {
      backend,
      backendReason,
      interface: backend === 'xdp' ? f.nic.interface! : null,
      macGiven: f.nic.mac !== undefined,
      tap: f.nic.tap ?? null,
      namespace: f.nic.namespace === true,
      mac: f.nic.mac !== undefined ? parseMac(f.nic.mac)! : macFromName(f.name),
      address: formatIpv4(cidr.ip),
      prefix: cidr.prefix,
      gateway: f.nic.gateway ?? DEFAULTS.nic.gateway,
      arp: (f.nic.arp ?? DEFAULTS.nic.arp).map((e) => ({ ip: e.ip, mac: parseMac(e.mac)! })),
      rssTableSize: f.nic.rss_table_size ?? DEFAULTS.nic.rssTableSize,
      rssKey: f.nic.rss_key !== undefined ? parseRssKey(f.nic.rss_key)! : null,
      backendSpinUs: f.nic.backend_spin_us ?? DEFAULTS.nic.backendSpinUs,
      ...(backend === 'xdp'
        ? resolveXdpRings((f.nic.xdp_rings ?? DEFAULTS.nic.xdpRings) as (typeof XDP_RINGS)[number], ncores)
        : { xdpRings: null, xdpRingsReason: null }),
    };
  }
  return {
    source,
    name: f.name,
    cores,
    memoryBytes: f.memory !== undefined ? parseSize(f.memory)! : DEFAULTS.memoryBytes,
    batch: f.batch ?? DEFAULTS.batch,
    idlePollUs: f.idle_poll_us ?? DEFAULTS.idlePollUs,
    wake: f.wake ?? (DEFAULTS.wake as WakeSetting),
    haltPollUs: f.halt_poll_us ?? DEFAULTS.haltPollUs,
    schedSliceUs: f.sched_slice_us ?? DEFAULTS.schedSliceUs,
    protection: resolveProtection(f.protection ?? DEFAULTS.protection),
    app: {
      path: resolvePath(baseDir, f.app.path),
      args: [...(f.app.args ?? DEFAULTS.app.args)],
      ports: [...(f.app.ports ?? DEFAULTS.app.ports)],
      heapBytes: f.app.heap !== undefined ? parseSize(f.app.heap)! : DEFAULTS.app.heapBytes,
      sharedBytes: f.app.shared !== undefined ? parseSize(f.app.shared)! : DEFAULTS.app.sharedBytes,
      maxRunMs: f.app.max_run_ms ?? DEFAULTS.app.maxRunMs,
    },
    nic,
    net: { maxConnections: f.net?.max_connections ?? DEFAULTS.net.maxConnections },
    log: { level: f.log?.level ?? DEFAULTS.log.level },
  };
}

function resolveCores(list: number[] | null, table: CoresTable | null, raw: ConfigFile['cores']): DataplaneConfig['cores'] {
  if (list !== null) return { count: list.length, cpus: list, min: list.length, policy: null };
  if (table !== null) return { count: table.max, cpus: null, min: table.min, policy: resolvePolicy(table) };
  const n = (raw as number | undefined) ?? DEFAULTS.cores;
  return { count: n, cpus: null, min: n, policy: null };
}

function resolvePolicy(t: CoresTable): ScaleKnobs | null {
  const d = DEFAULTS.scale;
  if ((t.policy ?? d.policy) !== 'auto' || t.min === t.max) return null;
  return {
    growLoad: t.grow_load ?? d.growLoad,
    growQueue: t.grow_queue ?? d.growQueue,
    shrinkLoad: t.shrink_load ?? d.shrinkLoad,
    sampleMs: t.sample_ms ?? d.sampleMs,
    growAfter: t.grow_after ?? d.growAfter,
    shrinkAfter: t.shrink_after ?? d.shrinkAfter,
  };
}

/**
 * Parse and validate config text. `sourcePath` names the file in messages and anchors
 * relative paths (app.path); without it the source is '<inline>' and paths are relative
 * to the current directory. Throws ConfigError listing every problem found.
 */
export function parseConfig(text: string, sourcePath?: string): DataplaneConfig {
  const source = sourcePath !== undefined ? resolvePath(sourcePath) : INLINE_SOURCE;
  const baseDir = sourcePath !== undefined ? dirname(source) : process.cwd();
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) {
      const firstLine = e.message.split('\n')[0] ?? e.message;
      throw new ConfigError(
        source,
        [],
        `${source}:${e.line}:${e.column}: TOML syntax error: ${firstLine.replace(/^Invalid TOML document: /, '')}\n${e.codeblock}`,
        e.line,
        e.column,
      );
    }
    throw e;
  }
  const r = fileSchema.safeParse(raw, { reportInput: true });
  if (!r.success) throw new ConfigError(source, toIssues(raw, r.error.issues));
  const cfg = resolveConfig(r.data, source, baseDir);
  if (cfg.cores.min < cfg.cores.count && cfg.nic === null)
    throw new ConfigError(source, [{
      path: 'cores',
      present: true,
      value: r.data.cores,
      problem: `elastic cores (min ${cfg.cores.min} below max ${cfg.cores.count}) move the NIC's flow groups between cores, and this dataplane has no [nic]: add a [nic] table, or give a fixed \`cores = N\``,
      allowed: ALLOWED.cores,
    }]);
  const fit = netMemoryIssue(cfg, r.data.net?.max_connections);
  if (fit !== null) throw new ConfigError(source, [fit]);
  if (cfg.nic?.backend === 'xdp' && cfg.nic.xdpRings === 'guest' && cfg.cores.count > 1)
    throw new ConfigError(source, [{ path: 'nic.xdp_rings', present: true, value: 'guest', allowed: ALLOWED['nic.xdp_rings'],
      problem: `xdp_rings = "guest" serves one core for now (Linux picks an AF_XDP queue by its own hash, not the dataplane's RSS); cores = ${cfg.cores.count}: use cores = 1, or xdp_rings = "host"` }]);
  if (cfg.nic?.backend === 'vhost' && cfg.cores.count > 1)
    // vhost-net steers by the TAP's own flow hash and sends ARP to one queue: the guest's RSS
    // (each connection on the core its Toeplitz hash names) needs the TAP backend's steering
    throw new ConfigError(source, [{ path: 'nic.backend', present: true, value: 'vhost', allowed: ALLOWED['nic.backend'],
      problem: `backend "vhost" serves one core for now (vhost-net cannot apply the dataplane's RSS steering); cores = ${cfg.cores.count}: use cores = 1, or backend = "tap"` }]);
  return cfg;
}

/** Read and parse a config file. A file that cannot be read is a ConfigError too. */
export function loadConfig(path: string): DataplaneConfig {
  const source = resolvePath(path);
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const why: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' };
    throw new ConfigError(source, [], `${source}: cannot read the dataplane config: ${why[code] ?? (e as Error).message} (${code}); check the path`);
  }
  return parseConfig(text, source);
}
