// The dataplane config file: every broken config must be rejected with a message naming
// the file, the key path, the value given and what is allowed; valid configs resolve to
// the documented defaults; every example under configs/ loads.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify, TomlDate } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import {
  ALLOWED,
  ConfigError,
  DEFAULTS,
  HostFitError,
  checkHostFit,
  hostFitProblems,
  loadConfig,
  parseConfig,
  type DataplaneConfig,
  type HostInfo,
} from '../src/config/index.js';
import { formatValue } from '../src/config/errors.js';
import { closest, editDistance } from '../src/config/suggest.js';
import { macFromName } from '../src/config/values.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = join(root, 'test', 'fixtures', 'configs');
const FILE = '/etc/ix/dp.toml';

type Table = Record<string, unknown>;
const DEL = Symbol('delete');

/** A valid config with `edits` applied: a key set to DEL is removed. */
function build(edits: { top?: Table; app?: Table | typeof DEL | unknown; nic?: Table | typeof DEL; log?: Table; extra?: Table } = {}): string {
  const doc: Table = { name: 'test', ...(edits.top ?? {}) };
  if (edits.app !== DEL) doc['app'] = edits.app !== undefined && (typeof edits.app !== 'object' || edits.app === null) ? edits.app : { path: 'app.elf', ...((edits.app as Table) ?? {}) };
  if (edits.nic !== undefined && edits.nic !== DEL) doc['nic'] = { namespace: true, address: '10.10.0.2/24', ...edits.nic };
  if (edits.log !== undefined) doc['log'] = edits.log;
  Object.assign(doc, edits.extra ?? {});
  const strip = (t: unknown): unknown => {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) return t;
    return Object.fromEntries(Object.entries(t).filter(([, v]) => v !== DEL).map(([k, v]) => [k, strip(v)]));
  };
  return stringify(strip(doc) as Table);
}

function errorOf(text: string, file = FILE): ConfigError {
  try {
    parseConfig(text, file);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

interface Broken {
  what: string;
  toml: string;
  path: string;
  /** The value as it must appear in the message; omit when the key is missing. */
  value?: unknown;
  problem: string | RegExp;
  allowed: string | RegExp;
}

const broken: Broken[] = [
  // top level
  { what: 'name missing', toml: stringify({ app: { path: 'a' } }), path: 'name', problem: 'missing (required)', allowed: 'lower-case letters' },
  { what: 'name upper case', toml: build({ top: { name: 'Hello' } }), path: 'name', value: 'Hello', problem: 'not a valid name', allowed: '1 to 32 characters' },
  { what: 'name too long', toml: build({ top: { name: 'a'.repeat(33) } }), path: 'name', value: 'a'.repeat(33), problem: 'not a valid name', allowed: '1 to 32 characters' },
  { what: 'name starts with -', toml: build({ top: { name: '-x' } }), path: 'name', value: '-x', problem: 'not a valid name', allowed: 'starting with a letter or digit' },
  { what: 'name is a number', toml: build({ top: { name: 7 } }), path: 'name', value: 7, problem: 'wrong type (integer)', allowed: 'lower-case letters' },
  { what: 'cores 0', toml: build({ top: { cores: 0 } }), path: 'cores', value: 0, problem: 'out of range', allowed: 'a core count from 1 to 64' },
  { what: 'cores 65', toml: build({ top: { cores: 65 } }), path: 'cores', value: 65, problem: 'out of range', allowed: 'a core count from 1 to 64' },
  { what: 'cores empty list', toml: build({ top: { cores: [] } }), path: 'cores', value: [], problem: 'empty list', allowed: 'distinct host CPU ids' },
  { what: 'cores duplicate CPU', toml: build({ top: { cores: [0, 1, 0] } }), path: 'cores', value: [0, 1, 0], problem: 'CPU 0 is listed twice', allowed: 'distinct host CPU ids' },
  { what: 'cores negative CPU', toml: build({ top: { cores: [-1] } }), path: 'cores', value: [-1], problem: 'entry 0 (-1): out of range', allowed: '0 to 4095' },
  { what: 'cores string', toml: build({ top: { cores: '2' } }), path: 'cores', value: '2', problem: 'wrong type (string)', allowed: 'a core count' },
  { what: 'cores float', toml: build({ top: { cores: 1.5 } }), path: 'cores', value: 1.5, problem: 'wrong type (float)', allowed: 'a core count' },
  { what: 'memory too small', toml: build({ top: { memory: '8M' } }), path: 'memory', value: '8M', problem: 'out of range (8 MiB)', allowed: 'from 16M to 4G' },
  { what: 'memory too large', toml: build({ top: { memory: '6G' } }), path: 'memory', value: '6G', problem: 'out of range', allowed: 'from 16M to 4G' },
  { what: 'memory bad unit', toml: build({ top: { memory: '64X' } }), path: 'memory', value: '64X', problem: 'not a size', allowed: '"NNNM"' },
  { what: 'memory not page multiple', toml: build({ top: { memory: 16 * 1024 * 1024 + 1000 } }), path: 'memory', value: 16778216, problem: 'not a multiple of 4K', allowed: 'a multiple of 4K' },
  { what: 'memory boolean', toml: build({ top: { memory: true } }), path: 'memory', value: true, problem: 'wrong type (boolean)', allowed: 'integer bytes' },
  { what: 'batch 0', toml: build({ top: { batch: 0 } }), path: 'batch', value: 0, problem: 'out of range', allowed: 'an integer from 1 to 1024' },
  { what: 'batch 1025', toml: build({ top: { batch: 1025 } }), path: 'batch', value: 1025, problem: 'out of range', allowed: 'an integer from 1 to 1024' },
  { what: 'batch string', toml: build({ top: { batch: '64' } }), path: 'batch', value: '64', problem: 'wrong type (string)', allowed: 'an integer from 1 to 1024' },
  { what: 'idle_poll_us negative', toml: build({ top: { idle_poll_us: -1 } }), path: 'idle_poll_us', value: -1, problem: 'out of range', allowed: 'from 0 to 1000000' },
  { what: 'idle_poll_us too big', toml: build({ top: { idle_poll_us: 2_000_000 } }), path: 'idle_poll_us', value: 2000000, problem: 'out of range', allowed: 'from 0 to 1000000' },
  { what: 'wake interrupt', toml: build({ top: { wake: 'interrupt' } }), path: 'wake', value: 'interrupt', problem: 'not one of the allowed values', allowed: '"kernel" or "user"' },
  { what: 'sched_slice_us too big', toml: build({ top: { sched_slice_us: 200_000 } }), path: 'sched_slice_us', value: 200000, problem: 'out of range', allowed: 'from 0 to 100000' },
  { what: 'halt_poll_us too big', toml: build({ top: { halt_poll_us: 2_000_000 } }), path: 'halt_poll_us', value: 2000000, problem: 'out of range', allowed: 'from 0 to 1000000' },
  { what: 'protection ring0', toml: build({ top: { protection: 'ring0' } }), path: 'protection', value: 'ring0', problem: 'not one of the allowed values', allowed: '"page-tables" (alias "ring3")' },
  { what: 'unknown top key near miss', toml: build({ top: { cors: 2 } }), path: 'cors', value: 2, problem: 'unknown key; did you mean "cores"?', allowed: 'the keys at the top level: name, cores' },
  { what: 'unknown top key with dash', toml: build({ top: { 'idle-poll-us': 5 } }), path: 'idle-poll-us', value: 5, problem: 'did you mean "idle_poll_us"?', allowed: 'the keys at the top level' },
  { what: 'key of [log] at the top', toml: build({ top: { level: 'debug' } }), path: 'level', value: 'debug', problem: 'did you mean "level" in table [log]?', allowed: 'the keys at the top level' },
  { what: 'unknown table', toml: build({ extra: { stats: { every: 1 } } }), path: 'stats', value: { every: 1 }, problem: /^unknown key$/, allowed: 'the keys at the top level' },
  { what: 'name is a TOML date', toml: 'name = 1979-05-27\n[app]\npath = "a"\n', path: 'name', value: new TomlDate('1979-05-27'), problem: 'wrong type (date/time)', allowed: 'lower-case letters' },
  { what: '__proto__ key', toml: 'name = "a"\n__proto__ = 1\n[app]\npath = "x"\n', path: '__proto__', value: 1, problem: /^unknown key$/, allowed: 'the keys at the top level' },
  { what: 'cores list with a float', toml: build({ top: { cores: [0, 1.5] } }), path: 'cores', value: [0, 1.5], problem: 'entry 1 (1.5): wrong type (float)', allowed: 'distinct host CPU ids' },
  { what: 'memory too large for an integer', toml: build({ top: { memory: '99999999999999999G' } }), path: 'memory', value: '99999999999999999G', problem: 'not a size', allowed: 'from 16M to 4G' },
  // [app]
  { what: 'app missing', toml: build({ app: DEL }), path: 'app', problem: 'missing (required)', allowed: 'a table [app]' },
  { what: 'app not a table', toml: build({ app: 'hello.elf' }), path: 'app', value: 'hello.elf', problem: 'wrong type (string)', allowed: 'a table [app]' },
  { what: 'app.path missing', toml: build({ app: { path: DEL } }), path: 'app.path', problem: 'missing (required)', allowed: 'relative to the config file' },
  { what: 'app.path empty', toml: build({ app: { path: '' } }), path: 'app.path', value: '', problem: 'empty', allowed: 'a non-empty path' },
  { what: 'app.path typo', toml: build({ app: { pth: 'a.elf' } }), path: 'app.pth', value: 'a.elf', problem: 'did you mean "path"?', allowed: 'the keys in [app]: path, args, ports' },
  { what: 'app.args not a list', toml: build({ app: { args: '--port 7' } }), path: 'app.args', value: '--port 7', problem: 'wrong type (string)', allowed: 'a list of at most 64 strings' },
  { what: 'app.args numbers', toml: build({ app: { args: ['--port', 7] } }), path: 'app.args', value: ['--port', 7], problem: 'entry 1 (7)', allowed: 'a list of at most 64 strings' },
  { what: 'app.ports 0', toml: build({ app: { ports: [0] } }), path: 'app.ports', value: [0], problem: 'entry 0 (0): out of range', allowed: 'from 1 to 65535' },
  { what: 'app.ports 70000', toml: build({ app: { ports: [80, 70000] } }), path: 'app.ports', value: [80, 70000], problem: 'entry 1 (70000): out of range', allowed: 'from 1 to 65535' },
  { what: 'app.heap too small', toml: build({ app: { heap: '4K' } }), path: 'app.heap', value: '4K', problem: 'out of range', allowed: 'from 64K to 4G' },
  { what: 'app.heap not a size', toml: build({ app: { heap: 'lots' } }), path: 'app.heap', value: 'lots', problem: 'not a size', allowed: 'a multiple of 4K' },
  { what: 'app.ports duplicate', toml: build({ app: { ports: [7, 7] } }), path: 'app.ports', value: [7, 7], problem: '7 is listed twice', allowed: 'distinct port numbers' },
  { what: 'unknown sub-table of [app]', toml: build({ app: { sub: { x: 1 } } }), path: 'app.sub', value: { x: 1 }, problem: /^unknown key$/, allowed: 'the keys in [app]' },
  { what: 'inline table app with a float port', toml: 'name = "a"\napp = { path = "x", ports = [1.5] }\n', path: 'app.ports', value: [1.5], problem: 'entry 0 (1.5): wrong type (float)', allowed: 'from 1 to 65535' },
  // [nic]
  { what: 'nic tap and namespace', toml: build({ nic: { tap: 'ixtap0' } }), path: 'nic.namespace', value: true, problem: 'conflicts with nic.tap = "ixtap0"', allowed: 'exactly one of them' },
  { what: 'nic neither tap nor namespace', toml: build({ nic: { namespace: DEL } }), path: 'nic.tap', problem: 'missing: [nic] needs', allowed: 'either `tap` or `namespace = true`' },
  { what: 'nic namespace false, no tap', toml: build({ nic: { namespace: false } }), path: 'nic.tap', problem: 'missing: [nic] needs', allowed: 'either `tap` or `namespace = true`' },
  { what: 'nic.namespace string', toml: build({ nic: { namespace: 'yes' } }), path: 'nic.namespace', value: 'yes', problem: 'wrong type (string)', allowed: 'true or false' },
  { what: 'nic.tap too long', toml: build({ nic: { namespace: DEL, tap: 'a-very-long-tap-name' } }), path: 'nic.tap', value: 'a-very-long-tap-name', problem: 'not a valid interface name', allowed: '1 to 15 characters' },
  { what: 'nic.tap with space', toml: build({ nic: { namespace: DEL, tap: 'ix tap' } }), path: 'nic.tap', value: 'ix tap', problem: 'not a valid interface name', allowed: 'a Linux interface name' },
  { what: 'nic.tap ..', toml: build({ nic: { namespace: DEL, tap: '..' } }), path: 'nic.tap', value: '..', problem: 'not a valid interface name', allowed: 'a Linux interface name' },
  { what: 'nic.address missing', toml: build({ nic: { address: DEL } }), path: 'nic.address', problem: 'missing (required)', allowed: 'e.g. "10.10.0.2/24"' },
  { what: 'nic.address without prefix', toml: build({ nic: { address: '10.10.0.2' } }), path: 'nic.address', value: '10.10.0.2', problem: 'not an IPv4 address with a /prefix', allowed: 'prefix 1 to 32' },
  { what: 'nic.address prefix 33', toml: build({ nic: { address: '10.10.0.2/33' } }), path: 'nic.address', value: '10.10.0.2/33', problem: 'not an IPv4 address with a /prefix', allowed: 'prefix 1 to 32' },
  { what: 'nic.address octet 300', toml: build({ nic: { address: '300.1.1.1/24' } }), path: 'nic.address', value: '300.1.1.1/24', problem: 'not an IPv4 address', allowed: 'an IPv4 host address' },
  { what: 'nic.address leading zero', toml: build({ nic: { address: '10.010.0.2/24' } }), path: 'nic.address', value: '10.010.0.2/24', problem: 'not an IPv4 address', allowed: 'an IPv4 host address' },
  { what: 'nic.address network address', toml: build({ nic: { address: '10.10.0.0/24' } }), path: 'nic.address', value: '10.10.0.0/24', problem: 'the network or broadcast address', allowed: 'not the network or broadcast address' },
  { what: 'nic.address broadcast address', toml: build({ nic: { address: '10.10.0.255/24' } }), path: 'nic.address', value: '10.10.0.255/24', problem: 'the network or broadcast address', allowed: 'not the network or broadcast address' },
  { what: 'nic.address loopback', toml: build({ nic: { address: '127.0.0.2/8' } }), path: 'nic.address', value: '127.0.0.2/8', problem: 'loopback', allowed: 'an IPv4 host address' },
  { what: 'nic.address multicast', toml: build({ nic: { address: '224.0.0.5/24' } }), path: 'nic.address', value: '224.0.0.5/24', problem: 'multicast', allowed: 'an IPv4 host address' },
  { what: 'nic.address typo', toml: build({ nic: { adress: '10.10.0.2/24' } }), path: 'nic.adress', value: '10.10.0.2/24', problem: 'did you mean "address"?', allowed: 'the keys in [nic]: tap, namespace' },
  { what: 'nic.gateway outside subnet', toml: build({ nic: { gateway: '10.11.0.1' } }), path: 'nic.gateway', value: '10.11.0.1', problem: "outside nic.address's subnet 10.10.0.0/24", allowed: "inside nic.address's subnet" },
  { what: 'nic.gateway is the address', toml: build({ nic: { gateway: '10.10.0.2' } }), path: 'nic.gateway', value: '10.10.0.2', problem: 'is nic.address itself', allowed: 'other than nic.address itself' },
  { what: 'nic.gateway broadcast', toml: build({ nic: { gateway: '10.10.0.255' } }), path: 'nic.gateway', value: '10.10.0.255', problem: 'network or broadcast address of 10.10.0.0/24', allowed: "inside nic.address's subnet" },
  { what: 'nic.gateway not an address', toml: build({ nic: { gateway: '10.10.0.x' } }), path: 'nic.gateway', value: '10.10.0.x', problem: 'not a dotted-quad IPv4 address', allowed: 'an IPv4 address' },
  { what: 'nic.mac multicast', toml: build({ nic: { mac: '01:00:5e:00:00:01' } }), path: 'nic.mac', value: '01:00:5e:00:00:01', problem: 'multicast/broadcast MAC', allowed: 'a unicast MAC address' },
  { what: 'nic.mac bad format', toml: build({ nic: { mac: '02:00:00:00:01' } }), path: 'nic.mac', value: '02:00:00:00:01', problem: 'not a MAC address', allowed: '"xx:xx:xx:xx:xx:xx"' },
  { what: 'nic.mac zero', toml: build({ nic: { mac: '00:00:00:00:00:00' } }), path: 'nic.mac', value: '00:00:00:00:00:00', problem: 'the all-zero MAC', allowed: 'not all zeros' },
  { what: 'nic.rss_table_size 100', toml: build({ nic: { rss_table_size: 100 } }), path: 'nic.rss_table_size', value: 100, problem: 'not a power of two', allowed: 'a power of two from 1 to 512' },
  { what: 'nic.rss_table_size 1024', toml: build({ nic: { rss_table_size: 1024 } }), path: 'nic.rss_table_size', value: 1024, problem: 'out of range', allowed: 'a power of two from 1 to 512' },
  { what: 'nic.rss_table_size 0', toml: build({ nic: { rss_table_size: 0 } }), path: 'nic.rss_table_size', value: 0, problem: 'out of range', allowed: 'a power of two from 1 to 512' },
  { what: 'nic.backend_spin_us negative', toml: build({ nic: { backend_spin_us: -1 } }), path: 'nic.backend_spin_us', value: -1, problem: 'out of range', allowed: 'an integer from 0 to 100000' },
  { what: 'nic.backend_spin_us string', toml: build({ nic: { backend_spin_us: '50us' } }), path: 'nic.backend_spin_us', value: '50us', problem: 'wrong type', allowed: 'an integer from 0 to 100000' },
  { what: 'nic.arp not a list', toml: build({ nic: { arp: 'x' } }), path: 'nic.arp', value: 'x', problem: 'wrong type (string)', allowed: 'tables [[nic.arp]]' },
  { what: 'nic.arp ip outside subnet', toml: build({ nic: { arp: [{ ip: '192.168.1.1', mac: '02:00:00:00:00:09' }] } }), path: 'nic.arp[0].ip', value: '192.168.1.1', problem: 'the entry is outside', allowed: "inside nic.address's subnet" },
  { what: 'nic.arp duplicate ip', toml: build({ nic: { arp: [{ ip: '10.10.0.1', mac: '02:00:00:00:00:09' }, { ip: '10.10.0.1', mac: '02:00:00:00:00:0a' }] } }), path: 'nic.arp[1].ip', value: '10.10.0.1', problem: 'already listed in nic.arp[0]', allowed: 'each listed once' },
  { what: 'nic.arp bad mac', toml: build({ nic: { arp: [{ ip: '10.10.0.1', mac: 'ff:ff:ff:ff:ff:ff' }] } }), path: 'nic.arp[0].mac', value: 'ff:ff:ff:ff:ff:ff', problem: 'multicast/broadcast', allowed: 'a unicast MAC' },
  { what: 'nic.arp mac missing', toml: build({ nic: { arp: [{ ip: '10.10.0.1' }] } }), path: 'nic.arp[0].mac', problem: 'missing (required)', allowed: 'a unicast MAC' },
  { what: 'nic.arp unknown key', toml: build({ nic: { arp: [{ ip: '10.10.0.1', mac: '02:00:00:00:00:09', hw: 'x' }] } }), path: 'nic.arp[0].hw', value: 'x', problem: /^unknown key$/, allowed: 'the keys in [nic.arp]: ip, mac' },
  { what: 'nic.arp entry not a table', toml: build({ nic: { arp: [1] } }), path: 'nic.arp[0]', value: 1, problem: 'wrong type (integer)', allowed: 'tables [[nic.arp]]' },
  // [log]
  { what: 'log.level verbose', toml: build({ log: { level: 'verbose' } }), path: 'log.level', value: 'verbose', problem: 'not one of the allowed values', allowed: '"trace", "debug", "info", "warn", "error", "fatal"' },
  { what: 'log.level typo key', toml: build({ log: { levle: 'info' } }), path: 'log.levle', value: 'info', problem: 'did you mean "level"?', allowed: 'the keys in [log]: level' },
  { what: 'log not a table', toml: build({ extra: { log: 'debug' } }), path: 'log', value: 'debug', problem: 'wrong type (string)', allowed: 'a table [log]' },
];

describe('broken configs: one issue each, naming file, key path, value and what is allowed', () => {
  it('has dozens of cases', () => {
    expect(broken.length).toBeGreaterThanOrEqual(60);
  });
  it.each(broken)('$what', (c) => {
    const err = errorOf(c.toml);
    expect(err.file).toBe(FILE);
    expect(err.issues, err.message).toHaveLength(1);
    const issue = err.issues[0]!;
    expect(issue.path).toBe(c.path);
    expect(issue.present).toBe('value' in c);
    if ('value' in c) expect(issue.value).toEqual(c.value);
    if (typeof c.problem === 'string') expect(issue.problem).toContain(c.problem);
    else expect(issue.problem).toMatch(c.problem);
    if (typeof c.allowed === 'string') expect(issue.allowed).toContain(c.allowed);
    else expect(issue.allowed).toMatch(c.allowed);
    // The rendered line carries all four.
    const lines = err.message.split('\n');
    const line = lines.find((l) => l.includes(`${FILE}: ${c.path}`));
    expect(line, err.message).toBeDefined();
    if ('value' in c) expect(line).toContain(`${c.path} = ${formatValue(c.value)}`);
    expect(line).toContain('; allowed: ');
  });
});

describe('several problems are reported together', () => {
  it('lists every problem, one line each, each naming the file', () => {
    const text = build({ top: { name: 'X', batch: 0, cors: 1, protection: 'x' }, app: { ports: [0] }, nic: { address: '10.10.0.2/24', gateway: '1.2.3.4', rss_table_size: 3 }, log: { level: 'loud' } });
    const err = errorOf(text);
    const paths = err.issues.map((i) => i.path).sort();
    expect(paths).toEqual(['app.ports', 'batch', 'cors', 'log.level', 'name', 'nic.gateway', 'nic.rss_table_size', 'protection'].sort());
    const lines = err.message.split('\n');
    expect(lines[0]).toBe(`8 problems in dataplane config ${FILE} (fix them and run \`ix check ${FILE}\`):`);
    expect(lines).toHaveLength(9);
    for (const l of lines.slice(1)) expect(l.startsWith(`  ${FILE}: `)).toBe(true);
  });

  it('still checks [nic] cross-field rules when other sections are broken', () => {
    const err = errorOf(build({ top: { batch: 0 }, nic: { tap: 'ixtap0', gateway: '10.99.0.1' } }));
    expect(err.issues.map((i) => i.path).sort()).toEqual(['batch', 'nic.gateway', 'nic.namespace']);
  });

  it('does not crash cross-field rules when [nic] fields are themselves broken', () => {
    const err = errorOf(build({ nic: { address: 5, gateway: 7, namespace: 'x', arp: [{ ip: 1, mac: 2 }] } }));
    expect(err.issues.map((i) => i.path).sort()).toEqual(['nic.address', 'nic.arp[0].ip', 'nic.arp[0].mac', 'nic.gateway', 'nic.namespace']);
  });

  it('names <inline> when no path is given', () => {
    try {
      parseConfig('name = 5\n[app]\npath = "a"\n');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toBe(
        '1 problem in dataplane config <inline>:\n' +
          '  <inline>: name = 5: wrong type (integer), expected a string; allowed: ' + ALLOWED.name,
      );
    }
  });
});

describe('TOML syntax errors show file:line:col', () => {
  const cases: { what: string; text: string; line: number; column: number }[] = [
    { what: 'unterminated string', text: 'name = "x\n[app]\npath = "a"\n', line: 1, column: 10 },
    { what: 'missing value', text: 'name = "x"\n\nbatch =\n[app]\npath = "a"\n', line: 3, column: 8 },
    { what: 'duplicate key', text: 'name = "x"\nname = "y"\n[app]\npath = "a"\n', line: 2, column: 1 },
    { what: 'duplicate table', text: 'name = "x"\n[app]\npath = "a"\n[app]\npath = "b"\n', line: 4, column: 1 },
    { what: 'unclosed list', text: 'name = "x"\ncores = [0, 1\n[app]\npath = "a"\n', line: 3, column: 1 },
  ];
  it.each(cases)('$what', (c) => {
    const err = errorOf(c.text);
    expect(err.issues).toHaveLength(0);
    expect(err.line).toBeGreaterThan(0);
    expect(err.message).toMatch(new RegExp(`^${FILE.replace(/\//g, '\\/')}:\\d+:\\d+: TOML syntax error: `));
    // smol-toml points at the place where it noticed the problem; it must be the line
    // we expect (columns differ slightly by error kind, so only check they are sane).
    expect(err.line).toBe(c.line);
    expect(err.column).toBeGreaterThanOrEqual(1);
    expect(err.message.startsWith(`${FILE}:${err.line}:${err.column}: `)).toBe(true);
  });
});

describe('config files on disk', () => {
  it('loadConfig names the absolute path of a broken fixture', () => {
    const file = join(fixtures, 'unknown-keys.toml');
    const err = (() => {
      try {
        loadConfig(file);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected an error');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.file).toBe(file);
    expect(err.issues.map((i) => `${i.path}: ${i.problem}`).sort()).toEqual([
      'batch_size: unknown key; did you mean "batch"?',
      'nic.address: missing (required)',
      'nic.adress: unknown key; did you mean "address"?',
    ]);
  });

  it('loadConfig reports TOML syntax errors with the file path, line and column', () => {
    const file = join(fixtures, 'syntax-error.toml');
    expect(() => loadConfig(file)).toThrow(new RegExp(`^${file.replace(/[/.]/g, '\\$&')}:4:\\d+: TOML syntax error`));
  });

  it('loadConfig reports every problem of a file with many', () => {
    const file = join(fixtures, 'many-problems.toml');
    try {
      loadConfig(file);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const err = e as ConfigError;
      expect(err.issues.length).toBe(6);
      for (const i of err.issues) expect(err.message).toContain(`${file}: ${i.path}`);
    }
  });

  it('loadConfig of a missing file says so', () => {
    const file = join(fixtures, 'does-not-exist.toml');
    expect(() => loadConfig(file)).toThrow(`${file}: cannot read the dataplane config: no such file (ENOENT); check the path`);
  });

  it('resolves app.path against the config file directory', () => {
    const cfg = loadConfig(join(fixtures, 'valid-relative.toml'));
    expect(cfg.source).toBe(join(fixtures, 'valid-relative.toml'));
    expect(cfg.app.path).toBe(resolve(fixtures, '../../../guest/build/apps/hello.elf'));
  });

  it('every fixture behaves as its name says: valid-* loads, the rest are rejected', () => {
    const files = readdirSync(fixtures).filter((f) => f.endsWith('.toml'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      if (f.startsWith('valid-')) expect(() => loadConfig(join(fixtures, f)), f).not.toThrow();
      else expect(() => loadConfig(join(fixtures, f)), f).toThrow(ConfigError);
    }
  });

  it('every example under configs/ loads', () => {
    const dir = join(root, 'configs');
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.toml')).sort() : [];
    const loaded: string[] = [];
    for (const f of files) {
      const cfg = loadConfig(join(dir, f));
      expect(cfg.source).toBe(join(dir, f));
      loaded.push(cfg.name);
    }
    // With no examples yet this checks only that the directory scan works.
    expect(loaded).toHaveLength(files.length);
  });
});

describe('valid configs resolve with defaults', () => {
  it('minimal config gets every default', () => {
    const cfg = parseConfig('name = "hello"\n[app]\npath = "apps/hello.elf"\n', '/srv/ix/hello.toml');
    const expected: DataplaneConfig = {
      source: '/srv/ix/hello.toml',
      name: 'hello',
      cores: { count: 1, cpus: null, min: 1, policy: null },
      memoryBytes: 64 * 1024 * 1024,
      batch: 64,
      idlePollUs: 100,
      wake: 'auto',
      haltPollUs: null,
      schedSliceUs: 0,
      protection: 'auto',
      app: { path: '/srv/ix/apps/hello.elf', args: [], ports: [], heapBytes: 4 * 1024 * 1024, sharedBytes: 0, maxRunMs: 0 },
      nic: null,
      net: { maxConnections: 8192 },
      log: { level: 'info' },
    };
    expect(cfg).toEqual(expected);
    expect(cfg.memoryBytes).toBe(DEFAULTS.memoryBytes);
    expect(cfg.batch).toBe(DEFAULTS.batch);
  });

  it.each([
    ['auto', 'auto'],
    ['page-tables', 'page-tables'],
    ['ring3', 'page-tables'], // the earlier name of the same boundary
    ['pvm-host-switch', 'pvm-host-switch'],
    ['shared-page-table', 'shared-page-table'], // accepted here; the guest refuses it at boot
    ['none', 'none'],
  ])('protection = "%s" resolves to %s', (written, mode) => {
    expect(parseConfig(`name = "p"\nprotection = "${written}"\n[app]\npath = "a.elf"\n`, '/x/p.toml').protection).toBe(mode);
  });

  it('full config resolves every key', () => {
    const text = `
name = "echo-1"
cores = [0, 1]
memory = "1G"
batch = 32
idle_poll_us = 0
wake = "user"
halt_poll_us = 50
sched_slice_us = 250
protection = "none"

[app]
path = "/opt/ix/echo.elf"
args = ["--port", "7"]
ports = [7, 8]
heap = "16M"
max_run_ms = 500

[nic]
tap = "ixtap0"
mac = "02:AA:bb:CC:dd:01"
address = "10.10.0.2/24"
gateway = "10.10.0.1"
rss_table_size = 64
backend_spin_us = 50
[[nic.arp]]
ip = "10.10.0.1"
mac = "02-00-00-00-00-02"
[[nic.arp]]
ip = "10.10.0.3"
mac = "02:00:00:00:00:03"

[net]
max_connections = 100000

[log]
level = "debug"
`;
    const cfg = parseConfig(text, '/srv/ix/echo.toml');
    expect(cfg).toEqual({
      source: '/srv/ix/echo.toml',
      name: 'echo-1',
      cores: { count: 2, cpus: [0, 1], min: 2, policy: null },
      memoryBytes: 1024 ** 3,
      batch: 32,
      idlePollUs: 0,
      wake: 'user',
      haltPollUs: 50,
      schedSliceUs: 250,
      protection: 'none',
      app: { path: '/opt/ix/echo.elf', args: ['--port', '7'], ports: [7, 8], heapBytes: 16 * 1024 * 1024, sharedBytes: 0, maxRunMs: 500 },
      nic: {
        backend: 'tap',
        backendReason: 'auto: no interface given, so a TAP device (vhost-net only when asked for: backend = "vhost")',
        interface: null,
        macGiven: true,
        tap: 'ixtap0',
        namespace: false,
        mac: '02:aa:bb:cc:dd:01',
        address: '10.10.0.2',
        prefix: 24,
        gateway: '10.10.0.1',
        arp: [
          { ip: '10.10.0.1', mac: '02:00:00:00:00:02' },
          { ip: '10.10.0.3', mac: '02:00:00:00:00:03' },
        ],
        rssTableSize: 64,
        rssKey: null,
        backendSpinUs: 50,
        xdpRings: null,
        xdpRingsReason: null,
      },
      net: { maxConnections: 100000 },
      log: { level: 'debug' },
    } satisfies DataplaneConfig);
  });

  it('namespace NIC gets a derived, stable, locally administered unicast MAC and defaults', () => {
    const cfg = parseConfig(build({ top: { name: 'dp-a' }, nic: {} }), '/x/a.toml');
    expect(cfg.nic).toEqual({ backend: 'tap', backendReason: expect.stringMatching(/^auto: no interface/), interface: null, macGiven: false, tap: null, namespace: true, mac: macFromName('dp-a'), address: '10.10.0.2', prefix: 24, gateway: null, arp: [], rssTableSize: 128, rssKey: null, backendSpinUs: 20, xdpRings: null, xdpRingsReason: null });
    const mac = cfg.nic!.mac;
    expect(mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(parseInt(mac.slice(0, 2), 16) & 0b11).toBe(0b10);
    expect(parseConfig(build({ top: { name: 'dp-a' }, nic: {} })).nic!.mac).toBe(mac);
    expect(parseConfig(build({ top: { name: 'dp-b' }, nic: {} })).nic!.mac).not.toBe(mac);
  });

  it.each([
    ['"16M"', 16 * 2 ** 20],
    ['"16384K"', 16 * 2 ** 20],
    ['"4g"', 4 * 2 ** 30],
    ['"100M"', 100 * 2 ** 20],
    ['33554432', 32 * 2 ** 20],
  ])('memory = %s', (v, bytes) => {
    expect(parseConfig(`name = "m"\nmemory = ${v}\n[app]\npath = "a"\n`).memoryBytes).toBe(bytes);
  });

  it('cores as a count and as a list', () => {
    expect(parseConfig(build({ top: { cores: 64 } })).cores).toEqual({ count: 64, cpus: null, min: 64, policy: null });
    expect(parseConfig(build({ top: { cores: [3] } })).cores).toEqual({ count: 1, cpus: [3], min: 1, policy: null });
  });

  it('/31 and /32 addresses have no network or broadcast address', () => {
    expect(parseConfig(build({ nic: { address: '10.0.0.0/31', gateway: '10.0.0.1' } })).nic).toMatchObject({ address: '10.0.0.0', prefix: 31, gateway: '10.0.0.1' });
    expect(parseConfig(build({ nic: { address: '10.0.0.7/32' } })).nic).toMatchObject({ address: '10.0.0.7', prefix: 32 });
  });

  it('inline config resolves app.path against the current directory', () => {
    const cfg = parseConfig(build({ app: { path: 'x/y.elf' } }));
    expect(cfg.source).toBe('<inline>');
    expect(cfg.app.path).toBe(resolve(process.cwd(), 'x/y.elf'));
  });

  it('the resolved config does not share arrays with the defaults', () => {
    const a = parseConfig(build());
    a.app.args.push('mutated');
    expect(DEFAULTS.app.args).toEqual([]);
    expect(parseConfig(build()).app.args).toEqual([]);
  });
});

describe('host fit (runtime checks, injected host)', () => {
  const host = (over: Partial<HostInfo> = {}): HostInfo => ({
    cpus: 2,
    totalMemBytes: 4 * 2 ** 30,
    fileKind: () => 'file',
    ...over,
  });
  const cfg = (top: Table = {}, app: Table = {}) => parseConfig(build({ top, app }), '/srv/dp.toml');

  it('accepts a config that fits', () => {
    expect(hostFitProblems(cfg({ cores: [0, 1] }), host())).toEqual([]);
    expect(() => checkHostFit(cfg({ cores: 2 }), host())).not.toThrow();
  });

  it('rejects CPUs the host does not offer', () => {
    const p = hostFitProblems(cfg({ cores: [1, 2, 5] }), host());
    expect(p).toEqual(['cores = [1, 2, 5]: CPU 2, 5 not available here; this host offers CPUs 0 to 1']);
  });

  it('rejects more cores than host CPUs', () => {
    expect(hostFitProblems(cfg({ cores: 3 }), host())[0]).toMatch(/^cores = 3: this host offers 2 CPUs/);
  });

  it('rejects more memory than the host has', () => {
    expect(hostFitProblems(cfg({ memory: '4G' }), host({ totalMemBytes: 2 * 2 ** 30 }))[0]).toMatch(/^memory = 4096 MiB: more than this host's 2048 MiB/);
  });

  it.each([
    ['missing', 'does not exist; build the guest apps'],
    ['not-a-file', 'is not a regular file'],
    ['unreadable', 'cannot be read by this user'],
  ] as const)('app file %s', (kind, text) => {
    const p = hostFitProblems(cfg(), host({ fileKind: () => kind }));
    expect(p).toHaveLength(1);
    expect(p[0]).toContain(`app.path: /srv/app.elf ${text}`);
  });

  it('checkHostFit throws HostFitError listing all problems with the file', () => {
    try {
      checkHostFit(cfg({ cores: 4, memory: '4G' }), host({ fileKind: () => 'missing', totalMemBytes: 2 * 2 ** 30 }));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(HostFitError);
      const err = e as HostFitError;
      expect(err.problems).toHaveLength(3);
      expect(err.message.split('\n').slice(1).every((l) => l.startsWith('  /srv/dp.toml: '))).toBe(true);
    }
  });

  it('the real host: a missing app is reported', () => {
    const p = hostFitProblems(cfg({}, { path: '/nonexistent/ix-app.elf' }));
    expect(p.some((s) => s.includes('/nonexistent/ix-app.elf does not exist'))).toBe(true);
  });
});

describe('did you mean', () => {
  it('edit distance', () => {
    expect(editDistance('adress', 'address')).toBe(1);
    expect(editDistance('cores', 'cores')).toBe(0);
    expect(editDistance('baths', 'batch')).toBe(2);
    expect(editDistance('ab', 'ba')).toBe(1);
  });
  it('suggests only near misses', () => {
    expect(closest('protecton', ['name', 'protection'])).toBe('protection');
    expect(closest('zzz', ['name', 'cores'])).toBeNull();
    expect(closest('batch_size', ['name', 'batch'])).toBe('batch');
    expect(closest('addr', ['address', 'arp'])).toBe('address');
    expect(closest('na', ['name'])).toBeNull();
  });
});

describe('docs/config.md', () => {
  const doc = readFileSync(join(root, 'docs', 'config.md'), 'utf8');
  it.each(Object.keys(ALLOWED))('documents %s', (key) => {
    if (!key.includes('.')) {
      // A table is documented by its heading, a top-level key by its name.
      expect(doc.includes(`\`[${key}]\``) || doc.includes(`| \`${key}\` |`)).toBe(true);
      return;
    }
    const name = key.replace('[]', '').split('.').pop()!;
    expect(doc).toContain(`| \`${name}\` |`);
  });
  it('states the defaults that defaults.ts defines, in each key\'s table row', () => {
    const rows = new Map<string, string>();
    for (const m of doc.matchAll(/^\| `(\w+)` \| ([^|]+) \|/gm)) {
      if (!rows.has(m[1]!)) rows.set(m[1]!, m[2]!.trim());
    }
    const expected: Record<string, unknown> = {
      cores: DEFAULTS.cores,
      memory: DEFAULTS.memory,
      batch: DEFAULTS.batch,
      idle_poll_us: DEFAULTS.idlePollUs,
      wake: DEFAULTS.wake,
      protection: DEFAULTS.protection,
      args: DEFAULTS.app.args,
      ports: DEFAULTS.app.ports,
      heap: DEFAULTS.app.heap,
      shared: DEFAULTS.app.shared,
      rss_table_size: DEFAULTS.nic.rssTableSize,
      backend_spin_us: DEFAULTS.nic.backendSpinUs,
      xdp_rings: DEFAULTS.nic.xdpRings,
      arp: DEFAULTS.nic.arp,
      max_connections: DEFAULTS.net.maxConnections,
      policy: DEFAULTS.scale.policy,
      grow_load: DEFAULTS.scale.growLoad,
      grow_queue: DEFAULTS.scale.growQueue,
      grow_after: DEFAULTS.scale.growAfter,
      shrink_load: DEFAULTS.scale.shrinkLoad,
      shrink_after: DEFAULTS.scale.shrinkAfter,
      sample_ms: DEFAULTS.scale.sampleMs,
      level: DEFAULTS.log.level,
    };
    for (const [key, v] of Object.entries(expected)) expect(rows.get(key), key).toBe('`' + JSON.stringify(v) + '`');
    for (const key of ['name', 'path', 'address']) expect(rows.get(key), key).toBe('required');
    // And the resolved minimal config really uses them.
    const cfg = parseConfig('name = "d"\n[app]\npath = "a"\n');
    expect([cfg.cores.count, cfg.memoryBytes, cfg.batch, cfg.idlePollUs, cfg.protection, cfg.log.level]).toEqual([
      DEFAULTS.cores,
      parseConfig(`name = "d"\nmemory = "${DEFAULTS.memory}"\n[app]\npath = "a"\n`).memoryBytes,
      DEFAULTS.batch,
      DEFAULTS.idlePollUs,
      DEFAULTS.protection,
      DEFAULTS.log.level,
    ]);
  });
});

describe('[net] max_connections against guest memory', () => {
  it('a count the memory holds resolves; the memory is only checked when there is a NIC', () => {
    const ok = parseConfig(build({ top: { cores: 2, memory: '256M' }, nic: {}, extra: { net: { max_connections: 50000 } } }), FILE);
    expect(ok.net.maxConnections).toBe(50000);
    expect(parseConfig(build({ top: { memory: '64M' }, extra: { net: { max_connections: 1000000 } } }), FILE).net.maxConnections).toBe(1000000);
  });
  it('too many for the memory: refused on net.max_connections, naming the memory needed and the count that fits', () => {
    const e = errorOf(build({ top: { cores: 2, memory: '256M' }, nic: {}, extra: { net: { max_connections: 250000 } } }));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]!.path).toBe('net.max_connections');
    // 16 MiB + 2 x (4 MiB heap + 8 MiB mbufs + 250000 KiB) = 529 MiB; (256 - 16 - 24) MiB / 2 / 1 KiB = 110592
    expect(e.issues[0]!.problem).toContain('raise `memory` to at least 529 MiB or lower max_connections to 110592');
    expect(parseConfig(build({ top: { cores: 2, memory: '256M' }, nic: {}, extra: { net: { max_connections: 110592 } } }), FILE).net.maxConnections).toBe(110592);
  });
  it('out of range and unknown keys are reported like every other key', () => {
    expect(errorOf(build({ extra: { net: { max_connections: 8 } } })).issues[0]).toMatchObject({ path: 'net.max_connections', problem: expect.stringContaining('out of range') });
    expect(errorOf(build({ extra: { net: { max_conections: 8 } } })).issues[0]!.problem).toContain('did you mean "max_connections"');
  });
});

describe('[cores] min / max (elastic cores)', () => {
  const withNic = (cores: unknown) => build({ top: { cores }, nic: {} });
  it('a table resolves to max vCPUs, min in use at start; the fixed forms have min = count', () => {
    expect(parseConfig(build({ top: { cores: { min: 1, max: 4 }, memory: '128M' }, nic: {} }), FILE).cores).toEqual({ count: 4, cpus: null, min: 1, policy: null });
    expect(parseConfig(withNic({ min: 2, max: 2 }), FILE).cores).toEqual({ count: 2, cpus: null, min: 2, policy: null });
    const text = 'name = "e"\n[cores]\nmin = 1\nmax = 2\n[app]\npath = "a.elf"\n[nic]\nnamespace = true\naddress = "10.1.0.2/24"\n';
    expect(parseConfig(text, FILE).cores).toEqual({ count: 2, cpus: null, min: 1, policy: null });
  });
  it.each([
    [{ min: 3, max: 2 }, 'cores.min (3) is above cores.max (2)'],
    [{ min: 1 }, 'cores.max is missing'],
    [{ max: 2 }, 'cores.min is missing'],
    [{ min: 0, max: 2 }, 'cores.min: out of range'],
    [{ min: 1, max: 65 }, 'cores.max: out of range'],
    [{ min: 1, max: '2' }, 'cores.max: wrong type (string)'],
    [{ min: 1, max: 2, wake: 'x' }, 'unknown key "wake" in [cores] (keys: min, max, policy, grow_load'],
    [{ min: 1, max: 2, policy: 'fast' }, 'cores.policy: "fast" is not "manual" or "auto"'],
    [{ min: 1, max: 2, grow_load: 1.5 }, 'cores.grow_load: out of range'],
    [{ min: 1, max: 2, sample_ms: 10 }, 'cores.sample_ms: out of range'],
    [{ min: 1, max: 2, grow_load: 0.3, shrink_load: 0.4 }, 'cores.shrink_load (0.4) is not below cores.grow_load (0.3)'],
  ])('refuses %j: %s', (cores, problem) => {
    const e = errorOf(withNic(cores));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]!.path).toBe('cores');
    expect(e.issues[0]!.problem).toContain(problem);
    expect(e.issues[0]!.allowed).toBe(ALLOWED.cores);
  });
  it('policy = "auto" resolves its knobs, each default documented in defaults.ts; "manual" (the default) and min = max have none', () => {
    expect(parseConfig(withNic({ min: 1, max: 2, policy: 'auto' }), FILE).cores.policy).toEqual({
      growLoad: DEFAULTS.scale.growLoad, growQueue: DEFAULTS.scale.growQueue, shrinkLoad: DEFAULTS.scale.shrinkLoad,
      sampleMs: DEFAULTS.scale.sampleMs, growAfter: DEFAULTS.scale.growAfter, shrinkAfter: DEFAULTS.scale.shrinkAfter,
    });
    const k = parseConfig(withNic({ min: 1, max: 2, policy: 'auto', grow_load: 0.5, shrink_load: 0.1, sample_ms: 200, grow_after: 1, shrink_after: 3, grow_queue: 0.9 }), FILE).cores.policy;
    expect(k).toEqual({ growLoad: 0.5, growQueue: 0.9, shrinkLoad: 0.1, sampleMs: 200, growAfter: 1, shrinkAfter: 3 });
    expect(parseConfig(withNic({ min: 1, max: 2, grow_load: 0.5 }), FILE).cores.policy).toBeNull();
    expect(parseConfig(withNic({ min: 2, max: 2, policy: 'auto' }), FILE).cores.policy).toBeNull();
  });
  it('elastic cores without a [nic] are refused, saying what to do', () => {
    const e = errorOf(build({ top: { cores: { min: 1, max: 2 } } }));
    expect(e.issues[0]!.problem).toContain('add a [nic] table, or give a fixed `cores = N`');
    expect(parseConfig(build({ top: { cores: { min: 2, max: 2 } } }), FILE).cores.min).toBe(2);
  });
  it('min or max at the top level is suggested for [cores]', () => {
    expect(errorOf(build({ top: { max: 2 } })).issues[0]!.problem).toContain('did you mean "max" in table [cores]?');
  });
});
