/**
 * `npm run bench -- e2e`: the dataplane against Linux, side by side in one run, same server
 * CPUs and the same client binary and flags. Not a test.
 *
 *   rtt     sockperf ping-pong, TCP, 64 B, full RTT, one connection:
 *             blocking client:  ix (bench/e2e/guest/spserver.c)  vs `sockperf server` (default)
 *             spinning client (--nonblocked):  ix  vs `sockperf server --nonblocked --timeout 0`
 *   kv      bench/e2e/kvload (memcached text protocol, 32 connections, one get in flight on
 *           each, 64 B values, each connection reads the keys it stored, every value checked) and memcaslap (100 % get, 64 B values):
 *           the kvstore app vs memcached -t <cores> (skipped, with the reason, while
 *           guest/build/apps/kvstore.elf does not exist)
 *   echo    bench/e2e/echoload, 64 B, 1/16/256 connections, one message in flight on each:
 *           guest/apps/echo.c vs bench/e2e/epoll_echo.c
 *   connect echoload -n: new connections per second from one client, one at a time (connect,
 *           64 B echo, close with RST), against the same two servers
 *
 * Linux runs over a veth pair between two namespaces of its own; the dataplane's client runs
 * in the dataplane's namespace (its TAP is the link). With --backend=tap,xdp the dataplane is
 * also measured over AF_XDP on a veth pair of its own (src/testing/xdp-link.ts), its client
 * on the other end: a column "ix xdp" next to the TAP one; with --backend=...,vhost over the
 * same kind of TAP served by the kernel's vhost-net (a column "ix vhost"), where the host has
 * /dev/vhost-net (elsewhere a line says why it was not measured). Servers use `serverCpus` (the dataplane's
 * cores are pinned there, the Linux servers are taskset there), clients `clientCpus`. The
 * host is noisy: every point is measured in each of `rounds` rounds, the two sides taking turns
 * to go first, and the table gives medians (with min-max in the JSON).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { PACKAGE_ROOT, appElf } from '../control/paths.js';
import { netnsUnavailable, cleanupStaleNetns } from '../nic/netns.js';
import { parseEchoLoad, parseMemslap, parseSockperf, type EchoLoadResult, type MemslapResult, type RttResult } from './e2e-parse.js';
import { startIx, writeIxConfig, type IxApp, type IxNic, type IxXdp, type RunningIx } from './e2e-ix.js';
import { createXdpLink } from '../testing/xdp-link.js';
import { E2eBenchError, LinuxLink, THIRD_PARTY, buildE2eTools, runClient, startServer, which } from './e2e-proc.js';
import { PROTECTIONS } from '../config/defaults.js';
import { probeVhost, type VhostFacts } from '../nic/vhost/probe.js';
import { unavailableLine } from './report-tables.js';
import type { Protection } from '../config/types.js';

export interface E2eOptions {
  /** seconds per measured point (default 4) */
  seconds?: number;
  rounds?: number;
  /** host CPUs of the servers: the dataplane's cores, the Linux servers' taskset (default [0]) */
  serverCpus?: number[];
  /** host CPUs of the clients (default [1]; [] = unpinned) */
  clientCpus?: number[];
  echoConns?: number[];
  /** kvload's and memcaslap's concurrency (connections) */
  kvConns?: number;
  /** kvload's other connection counts for the latency-bound row: the most gets/s any of these
   * (or kvConns) reaches with its p99 under KV_SLA_US (default [4, 16, 64]; [] = kvConns only) */
  kvSlaConns?: number[];
  /** the dataplane's `[nic] backend_spin_us` (default: the config default) */
  backendSpinUs?: number;
  /** the dataplane's NIC backends to measure, each against the same Linux (default ['tap']) */
  backends?: E2eBackend[];
  /** the dataplane's `protection` (default: the config default, "auto") */
  protection?: Protection;
  /** the dataplane's `wake` (docs/wake.md; default: the config default, "auto") */
  wake?: 'auto' | 'kernel' | 'user';
  /** the dataplane's `sched_slice_us` (docs/config.md; default: the config default) */
  schedSliceUs?: number;
  /** the dataplane's `idle_poll_us` (docs/config.md; default: the config default) */
  idlePollUs?: number;
  log?: (msg: string) => void;
}

/** the dataplane's NIC backends the bench can measure (`--backend=`) */
export const E2E_BACKENDS = ['tap', 'xdp', 'xdp-host', 'vhost'] as const;
export type E2eBackend = (typeof E2E_BACKENDS)[number];

/** 'ix': the dataplane over the TAP backend; 'xdp': over AF_XDP (one core: the guest polls the
 * rings); 'xdph': AF_XDP with xdp_rings = "host" (--backend=...,xdp-host); 'vhost': over vhost-net */
type Side = 'ix' | 'linux' | 'xdp' | 'xdph' | 'vhost';
/** the sides that are extra columns after the TAP one */
const EXTRA_SIDES = ['xdp', 'xdph', 'vhost'] as const;
type PointId = 'rtt_block' | 'rtt_spin' | 'kv' | 'kv_memslap' | 'kv_sla' | 'connect' | `echo_${number}` | `kv_${number}`;
type Sample = RttResult | EchoLoadResult | MemslapResult;

export interface E2eRow {
  metric: string;
  ix: number | null;
  linux: number | null;
  ratio: number | null;
  goal: string;
  met: boolean | null;
  /** min-max of the per-round values */
  ix_range: [number, number] | null;
  linux_range: [number, number] | null;
  /** the dataplane over AF_XDP (only with --backend=...,xdp) */
  xdp?: number | null;
  xdp_ratio?: number | null;
  xdp_range?: [number, number] | null;
  /** the dataplane over AF_XDP with xdp_rings = "host" (only with --backend=...,xdp-host) */
  xdph?: number | null;
  xdph_ratio?: number | null;
  xdph_range?: [number, number] | null;
  /** the dataplane over vhost-net (only with --backend=...,vhost where the host has it) */
  vhost?: number | null;
  vhost_ratio?: number | null;
  vhost_range?: [number, number] | null;
}

export interface E2eResult {
  /** backendSpinUs: null = the config default */
  options: Required<Omit<E2eOptions, 'log' | 'backendSpinUs' | 'backends' | 'protection' | 'wake' | 'schedSliceUs' | 'idlePollUs'>> & { backendSpinUs: number | null; backends?: E2eBackend[]; protection: Protection; wake?: string; schedSliceUs?: number; idlePollUs?: number };
  /** backends asked for that this host cannot run (vhost without /dev/vhost-net), and why */
  unavailable?: { backend: E2eBackend; reason: string }[];
  /** 1-minute load average before and after: above the CPU count, other work skews both sides */
  host: { cpus: number; load1_start: number; load1_end: number };
  rows: E2eRow[];
  notes: string[];
  errors: string[];
  samples: Record<string, Record<Side, Sample[]>>;
}

const PORT_SOCKPERF = 11111;
const PORT_ECHO = 7;
const PORT_KV = 11211;
const MSG = 64;
/** the latency bound of the memcached-protocol goal: gets/s while the p99 stays under it */
export const KV_SLA_US = 500;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The kvstore app and its config, or why its rows are skipped. */
function findKvstore(): { app: IxApp } | { skip: string } {
  const elf = appElf('kvstore');
  if (!existsSync(elf)) return { skip: `kv: skipped: ${elf} does not exist yet (the kvstore app is not built; npm run build once it lands)` };
  let args: string[] = [String(PORT_KV)];
  let heap = '96M';
  let memory = '512M';
  let port = PORT_KV;
  const cfgPath = join(PACKAGE_ROOT, 'configs', 'kvstore.toml');
  if (existsSync(cfgPath)) {
    const t = parseToml(readFileSync(cfgPath, 'utf8')) as { memory?: unknown; app?: { args?: unknown; heap?: unknown; ports?: unknown } };
    if (typeof t.memory === 'string') memory = t.memory;
    if (Array.isArray(t.app?.args)) args = t.app.args.map(String);
    if (typeof t.app?.heap === 'string') heap = t.app.heap;
    if (Array.isArray(t.app?.ports) && typeof t.app.ports[0] === 'number') port = t.app.ports[0];
  }
  return { app: { name: 'benchkv', elf, args, ports: [port], heap, memory } };
}

/** Which of the asked backends this host can measure; vhost needs a usable /dev/vhost-net
 * (`vhost`: what `ix check` finds, probeVhost). The others are not the bench's to judge:
 * a failing TAP or XDP start is an error of its points. */
export function measurableBackends(backends: readonly E2eBackend[], vhost: () => VhostFacts): { measure: E2eBackend[]; unavailable: { backend: E2eBackend; reason: string }[] } {
  const facts = backends.includes('vhost') ? vhost() : null;
  if (!facts || facts.status === 'ok') return { measure: [...backends], unavailable: [] };
  return { measure: backends.filter((b) => b !== 'vhost'), unavailable: [{ backend: 'vhost', reason: `vhost-net ${facts.status}: ${facts.detail}` }] };
}

export async function runE2eBench(opts: E2eOptions = {}): Promise<E2eResult> {
  const o = {
    seconds: opts.seconds ?? 4,
    rounds: opts.rounds ?? 3,
    serverCpus: opts.serverCpus ?? [0],
    clientCpus: opts.clientCpus ?? [1],
    echoConns: opts.echoConns ?? [1, 16, 256],
    kvConns: opts.kvConns ?? 32,
    kvSlaConns: opts.kvSlaConns ?? [4, 16, 64],
    backendSpinUs: opts.backendSpinUs ?? null,
    protection: opts.protection ?? 'auto',
    backends: opts.backends ?? ['tap'],
    ...(opts.wake !== undefined ? { wake: opts.wake } : {}),
    ...(opts.schedSliceUs !== undefined ? { schedSliceUs: opts.schedSliceUs } : {}),
    ...(opts.idlePollUs !== undefined ? { idlePollUs: opts.idlePollUs } : {}),
  };
  const log = opts.log ?? ((m: string) => console.error(m));
  const why = netnsUnavailable();
  if (why) throw new E2eBenchError(`e2e bench needs network namespaces: ${why}`);
  const missing = Object.entries(THIRD_PARTY).filter(([cmd]) => !which(cmd));
  if (missing.length)
    throw new E2eBenchError(`e2e bench needs ${missing.map(([c, p]) => `${c} (Debian package ${p})`).join(', ')}: apt-get install ${[...new Set(missing.map(([, p]) => p))].join(' ')}`);
  const tools = buildE2eTools();
  cleanupStaleNetns();
  const notes: string[] = [];
  const shared = o.clientCpus.length === 0 || o.clientCpus.some((c) => o.serverCpus.includes(c));
  if (shared)
    notes.push(
      `note: the clients ${o.clientCpus.length ? `share CPU ${o.clientCpus.filter((c) => o.serverCpus.includes(c)).join(',')} with` : 'are not pinned away from'} the servers: a spinning client and a spinning server can land on one CPU, so the spinning-client rows measure the scheduler more than the stacks`,
    );
  const load1Start = loadavg()[0]!;
  if (load1Start > availableParallelism())
    log(`note: load average ${load1Start.toFixed(2)} > ${availableParallelism()} CPUs: other work is running and will skew both sides (compare ratios, rerun when quiet)`);

  const errors: string[] = [];
  const { measure: backends, unavailable } = measurableBackends(o.backends, probeVhost);
  for (const u of unavailable) log(unavailableLine(u));
  const kv = findKvstore();
  if ('skip' in kv) {
    notes.push(kv.skip);
    log(kv.skip);
  }
  const spApp: IxApp = { name: 'benchsp', elf: tools.spserver, args: [String(PORT_SOCKPERF)], ports: [PORT_SOCKPERF], heap: '32M' };
  const echoApp: IxApp = { name: 'benchecho', elf: appElf('echo'), args: [String(PORT_ECHO)], ports: [PORT_ECHO], heap: '32M' };

  const samples: Record<string, Record<Side, Sample[]>> = {};
  const put = (id: PointId, side: Side, s: Sample) => ((samples[id] ??= { ix: [], linux: [], xdp: [], xdph: [], vhost: [] })[side].push(s));
  const dir = mkdtempSync(join(tmpdir(), 'ix-bench-e2e-'));
  const link = new LinuxLink();
  const xdpLink = backends.includes('xdp') || backends.includes('xdp-host') ? createXdpLink({ queues: o.serverCpus.length, tag: 'benchx' }) : null;
  const xdp: IxXdp | undefined = xdpLink ? { ifname: xdpLink.ifname, address: xdpLink.dpAddr, dpNetns: xdpLink.dp.name, clientNetns: xdpLink.client.name } : undefined;
  // Ctrl-C: Node's default would exit without 'exit' handlers; remove the namespaces first (the
  // servers and the dataplane are in our process group and get the signal themselves)
  const onSignal = (sig: NodeJS.Signals) => {
    link.remove();
    xdpLink?.remove();
    rmSync(dir, { recursive: true, force: true });
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const secs = o.seconds;
  const clientTimeout = (secs + 30) * 1000;
  const memslapCfg = join(dir, 'memslap.cfg');
  // 64 B keys and values, 100 % get (cmd 0 = set, 1 = get); memaslap sets each key first
  writeFileSync(memslapCfg, 'key\n64 64 1\nvalue\n64 64 1\ncmd\n0 0.0\n1 1.0\n');

  /** one measured point: run the client, parse, keep the sample (and return it) or note the error */
  const point = async <T extends Sample>(id: PointId, side: Side, netns: string, cmd: string, args: string[], parse: (s: string) => T, check?: (r: T) => string | null): Promise<T | null> => {
    const r = await runClient(netns, o.clientCpus, cmd, args, clientTimeout);
    try {
      const v = parse(r.stdout + r.stderr);
      const bad = check?.(v) ?? null;
      if (bad) throw new E2eBenchError(bad);
      put(id, side, v);
      log(`  ${side.padEnd(5)} ${id.padEnd(10)} ${summary(v)}`);
      return v;
    } catch (e) {
      const msg = `${side} ${id}: ${(e as Error).message.split('\n')[0]} (exit ${r.status})`;
      errors.push(msg);
      log(`  ${msg}`);
      return null;
    }
  };
  const sockperfArgs = (ip: string, port: number, spin: boolean) =>
    ['ping-pong', '--tcp', '-i', ip, '-p', String(port), '-m', String(MSG), '-t', String(secs), '--full-rtt', ...(spin ? ['--nonblocked'] : [])];
  const echoArgs = (ip: string, conns: number) => ['-a', ip, '-p', String(PORT_ECHO), '-c', String(conns), '-s', String(MSG), '-d', String(secs), '-w', '0.5'];
  // connection setup: echoload -n opens, echoes one message on and closes one connection at a time
  const connectArgs = (ip: string) => ['-a', ip, '-p', String(PORT_ECHO), '-n', '-s', String(MSG), '-d', String(secs), '-w', '0.5'];
  const connectCheck = (r: EchoLoadResult) => (r.errors || r.corrupt ? `echoload -n: ${r.errors} failed connections, ${r.corrupt} corrupt` : null);
  const echoCheck = (r: EchoLoadResult) => (r.errors || r.corrupt || r.open !== r.conns ? `echoload: ${r.errors} errors, ${r.corrupt} corrupt, ${r.open}/${r.conns} open` : null);
  const kvArgs = (ip: string, port: number, conns = o.kvConns) => ['-a', ip, '-p', String(port), '-c', String(conns), '-v', String(MSG), '-k', '10000', '-d', String(secs), '-w', '0.5'];
  /** kvload at kvConns and at each kvSlaConns count, then the round's latency-bound point: the
   * most gets/s among them with p99 < KV_SLA_US (none: 0 gets/s at 0 connections) */
  const kvPoints = async (side: Side, netns: string, ip: string, port: number) => {
    const got = [await point('kv', side, netns, tools.kvload, kvArgs(ip, port), parseEchoLoad, echoCheck)];
    for (const c of o.kvSlaConns.filter((c) => c !== o.kvConns)) got.push(await point(`kv_${c}`, side, netns, tools.kvload, kvArgs(ip, port, c), parseEchoLoad, echoCheck));
    if (got.every((g) => g === null)) return;
    const best = bestUnderSla(got.filter((g): g is EchoLoadResult => g !== null));
    put('kv_sla', side, best);
    log(`  ${side.padEnd(5)} ${'kv_sla'.padEnd(10)} ${best.conns ? `${best.rps.toFixed(0)} gets/s at ${best.conns} conns (p99 ${best.p99_us.toFixed(0)} us)` : `no point with p99 < ${KV_SLA_US} us`}`);
  };
  const memslapArgs = (ip: string, port: number) =>
    ['-s', `${ip}:${port}`, '-T', '1', '-c', String(o.kvConns), '-t', `${secs}s`, '-S', `${secs}s`, '-X', String(MSG), '-F', memslapCfg, '-w', '1k'];

  const withIx = async (app: IxApp, body: (dp: RunningIx) => Promise<void>, nic?: IxNic) => {
    let dp: RunningIx;
    try {
      const cfg = writeIxConfig(dir, app, o.serverCpus, o.backendSpinUs ?? undefined, nic, { protection: o.protection, ...(o.wake !== undefined ? { wake: o.wake } : {}), ...(o.schedSliceUs !== undefined ? { schedSliceUs: o.schedSliceUs } : {}), ...(o.idlePollUs !== undefined ? { idlePollUs: o.idlePollUs } : {}) });
      dp = await startIx(cfg, app.ports[0]!, 30_000, typeof nic === 'object' ? nic : undefined);
    } catch (e) {
      errors.push(`ix ${app.name}: ${(e as Error).message.split('\n')[0]}`);
      log(`  ix ${app.name} did not start: ${(e as Error).message}`);
      return;
    }
    try {
      await body(dp);
    } finally {
      const s = await dp.stop();
      if (s.code !== 0 && s.code !== null) log(`  ix ${app.name} exited with ${s.code}`);
    }
  };
  const withLinux = async (cmd: string, args: string[], port: number, body: () => Promise<unknown>) => {
    let srv;
    try {
      srv = await startServer(link.srv.name, o.serverCpus, cmd, args, port);
    } catch (e) {
      errors.push(`linux ${cmd}: ${(e as Error).message.split('\n')[0]}`);
      log(`  linux ${cmd} did not start: ${(e as Error).message}`);
      return;
    }
    try {
      await body();
    } finally {
      await srv.stop();
    }
  };

  const ixRound = async (side: 'ix' | 'xdp' | 'xdph' | 'vhost' = 'ix', x?: IxNic) => {
    await withIx(spApp, async (dp) => {
      await point('rtt_block', side, dp.netns, 'sockperf', sockperfArgs(dp.address, PORT_SOCKPERF, false), parseSockperf);
      await point('rtt_spin', side, dp.netns, 'sockperf', sockperfArgs(dp.address, PORT_SOCKPERF, true), parseSockperf);
    }, x);
    await withIx(echoApp, async (dp) => {
      for (const c of o.echoConns) await point(`echo_${c}`, side, dp.netns, tools.echoload, echoArgs(dp.address, c), parseEchoLoad, echoCheck);
      await point('connect', side, dp.netns, tools.echoload, connectArgs(dp.address), parseEchoLoad, connectCheck);
    }, x);
    if ('app' in kv)
      await withIx(kv.app, async (dp) => {
        await kvPoints(side, dp.netns, dp.address, kv.app.ports[0]!);
        await point('kv_memslap', side, dp.netns, 'memcaslap', memslapArgs(dp.address, kv.app.ports[0]!), parseMemslap);
      }, x);
  };
  const linuxRound = async () => {
    const ip = link.serverAddress;
    const sp = ['server', '--tcp', '-i', ip, '-p', String(PORT_SOCKPERF)];
    await withLinux('sockperf', sp, PORT_SOCKPERF, () => point('rtt_block', 'linux', link.cli.name, 'sockperf', sockperfArgs(ip, PORT_SOCKPERF, false), parseSockperf));
    await withLinux('sockperf', [...sp, '--nonblocked', '--timeout', '0'], PORT_SOCKPERF, () =>
      point('rtt_spin', 'linux', link.cli.name, 'sockperf', sockperfArgs(ip, PORT_SOCKPERF, true), parseSockperf));
    await withLinux(tools.epollEcho, [String(PORT_ECHO), String(o.serverCpus.length)], PORT_ECHO, async () => {
      for (const c of o.echoConns) await point(`echo_${c}`, 'linux', link.cli.name, tools.echoload, echoArgs(ip, c), parseEchoLoad, echoCheck);
      await point('connect', 'linux', link.cli.name, tools.echoload, connectArgs(ip), parseEchoLoad, connectCheck);
    });
    if ('app' in kv) {
      const mc = ['-u', 'nobody', '-l', ip, '-p', String(PORT_KV), '-U', '0', '-t', String(o.serverCpus.length), '-m', '256', '-c', '4096'];
      await withLinux('memcached', mc, PORT_KV, async () => {
        await kvPoints('linux', link.cli.name, ip, PORT_KV);
        await point('kv_memslap', 'linux', link.cli.name, 'memcaslap', memslapArgs(ip, PORT_KV), parseMemslap);
      });
    }
  };

  try {
    for (let r = 0; r < o.rounds; r++) {
      const ixFirst = r % 2 === 0;
      log(`round ${r + 1}/${o.rounds} (${ixFirst ? 'ix' : 'linux'} first)`);
      // the dataplane's backends take turns too (tap then xdp, then xdp then tap)
      const dataplane = async () => {
        const order = r % 2 === 0 ? backends : [...backends].reverse();
        for (const b of order)
          await (b === 'xdp' ? ixRound('xdp', xdp) : b === 'xdp-host' && xdp ? ixRound('xdph', { ...xdp, rings: 'host' }) : b === 'vhost' ? ixRound('vhost', 'vhost') : ixRound());
      };
      if (ixFirst) {
        await dataplane();
        await linuxRound();
      } else {
        await linuxRound();
        await dataplane();
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    link.remove();
    xdpLink?.remove();
    rmSync(dir, { recursive: true, force: true });
  }
  return { options: o, host: { cpus: availableParallelism(), load1_start: load1Start, load1_end: loadavg()[0]! }, rows: buildRows(samples, o.echoConns, o.kvConns, o.kvSlaConns, 'app' in kv), notes, errors, samples, unavailable };
}

function summary(v: Sample): string {
  if ('get_tps' in v) return `${v.get_tps.toFixed(0)} gets/s, p99 <= ${v.p99_us_le} us, avg ${v.avg_us} us`;
  if ('rps' in v) return `${v.rps.toFixed(0)} round trips/s, p50 ${v.p50_us.toFixed(1)} us, p99 ${v.p99_us.toFixed(1)} us`;
  return `RTT p50 ${v.p50_us.toFixed(1)} us, p99 ${v.p99_us.toFixed(1)} us (${v.observations} observations)`;
}

/** The most gets/s among one round's kvload points whose p99 is under KV_SLA_US; none: a point
 * of 0 gets/s at 0 connections (the side cannot serve within the bound at any count tried). */
export function bestUnderSla(points: EchoLoadResult[]): EchoLoadResult {
  const ok = points.filter((p) => p.p99_us < KV_SLA_US);
  if (!ok.length) return { ...(points[0] ?? ({} as EchoLoadResult)), conns: 0, rps: 0, p50_us: 0, p99_us: 0, round_trips: 0 };
  return ok.reduce((a, b) => (b.rps > a.rps ? b : a));
}

function buildRows(samples: Record<string, Record<Side, Sample[]>>, echoConns: number[], kvConns: number, kvSlaConns: number[], hasKv: boolean): E2eRow[] {
  const kvSlaList = [...new Set([kvConns, ...kvSlaConns])].sort((a, b) => a - b);
  const rows: E2eRow[] = [];
  const vals = (id: string, side: Side, f: (s: Sample) => number) => (samples[id]?.[side] ?? []).map(f);
  const row = (metric: string, id: string, f: (s: Sample) => number, goal: { op: '<=' | '>='; x: number } | null, extra?: (ix: number) => boolean) => {
    const xi = vals(id, 'ix', f);
    const xl = vals(id, 'linux', f);
    const ix = xi.length ? median(xi) : null;
    const linux = xl.length ? median(xl) : null;
    const ratio = ix !== null && linux !== null && linux > 0 ? ix / linux : null;
    const met = goal === null || ratio === null ? null : (goal.op === '<=' ? ratio <= goal.x : ratio >= goal.x) && (extra ? extra(ix!) : true);
    // the other backends' columns (xdp, vhost), each only where that side was measured
    const cols: Partial<E2eRow> = {};
    for (const side of EXTRA_SIDES) {
      const xs = vals(id, side, f);
      if (!xs.length) continue;
      const v = median(xs);
      cols[side] = v;
      cols[`${side}_ratio`] = linux !== null && linux > 0 ? v / linux : null;
      cols[`${side}_range`] = [Math.min(...xs), Math.max(...xs)];
    }
    rows.push({
      ...cols,
      metric,
      ix,
      linux,
      ratio,
      goal: goal ? `${goal.op} ${goal.x}x` : '',
      met,
      ix_range: xi.length ? [Math.min(...xi), Math.max(...xi)] : null,
      linux_range: xl.length ? [Math.min(...xl), Math.max(...xl)] : null,
    });
  };
  const rtt = (k: 'p50_us' | 'p99_us') => (s: Sample) => (s as RttResult)[k];
  row('RTT p50 us, sockperf TCP 64 B, vs default Linux', 'rtt_block', rtt('p50_us'), { op: '<=', x: 0.25 });
  row('RTT p99 us, sockperf TCP 64 B, vs default Linux', 'rtt_block', rtt('p99_us'), { op: '<=', x: 0.3 });
  row('RTT p50 us, spinning client, vs busy-poll Linux', 'rtt_spin', rtt('p50_us'), { op: '<=', x: 1.0 });
  row('RTT p99 us, spinning client, vs busy-poll Linux', 'rtt_spin', rtt('p99_us'), null);
  if (hasKv) {
    // the goal: >= 3x the gets/s of memcached while the p99 stays under KV_SLA_US, each side at
    // the connection count of its own best point
    row(`memcached gets/s at p99 < ${KV_SLA_US} us (kvload, best of ${kvSlaList.join(',')} conns)`, 'kv_sla', (s) => (s as EchoLoadResult).rps, { op: '>=', x: 3 });
    row(`memcached gets/s (kvload, ${kvConns} conns)`, 'kv', (s) => (s as EchoLoadResult).rps, null);
    row('memcached get p99 us (kvload)', 'kv', (s) => (s as EchoLoadResult).p99_us, null);
    row(`memcached gets/s (memcaslap, ${kvConns} conns)`, 'kv_memslap', (s) => (s as MemslapResult).get_tps, { op: '>=', x: 3 });
    row('memcached get p99 us (memcaslap log2 bound)', 'kv_memslap', (s) => (s as MemslapResult).p99_us_le, null);
  }
  for (const c of echoConns) row(`echo 64 B round trips/s, ${c} conn${c === 1 ? '' : 's'}, vs epoll`, `echo_${c}`, (s) => (s as EchoLoadResult).rps, { op: '>=', x: 3 });
  for (const c of echoConns) {
    // the same client against our echo app and the epoll echo: RTT next to sockperf's
    if (c === 1) row('echo 64 B RTT p50 us, 1 conn', 'echo_1', (s) => (s as EchoLoadResult).p50_us, null);
    row(`echo 64 B RTT p99 us, ${c} conn${c === 1 ? '' : 's'}`, `echo_${c}`, (s) => (s as EchoLoadResult).p99_us, null);
  }
  // one client, one connection at a time: connect, 64 B echo, close (RST), vs the epoll echo
  row('new connections/s (connect + 64 B echo + close, one at a time), vs epoll', 'connect', (s) => (s as EchoLoadResult).rps, null);
  row('connection setup + echo p99 us', 'connect', (s) => (s as EchoLoadResult).p99_us, null);
  return rows;
}

export function printE2eBench(r: E2eResult): void {
  const f = (n: number | null) => (n === null ? '-' : n >= 1000 ? n.toFixed(0) : n.toFixed(n >= 100 ? 1 : 2));
  const w = Math.max(...r.rows.map((x) => x.metric.length));
  const o = r.options;
  console.log(`\nix vs Linux, side by side (${o.rounds} rounds x ${o.seconds} s per point; servers on CPU ${o.serverCpus.join(',')}, clients on ${o.clientCpus.length ? `CPU ${o.clientCpus.join(',')}` : 'any CPU'}${o.backendSpinUs !== null ? `; NIC backend spin ${o.backendSpinUs} us` : ''}${o.schedSliceUs !== undefined ? `; sched slice ${o.schedSliceUs} us` : ''}${o.idlePollUs !== undefined ? `; idle poll ${o.idlePollUs} us` : ''}; protection ${o.protection}; medians)`);
  // with --backend=...,xdp / vhost: the dataplane over that backend and its ratio to Linux, after the TAP columns
  const extra = EXTRA_SIDES.filter((side) => r.rows.some((x) => x[side] !== undefined));
  const ratio = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toFixed(2)).padStart(6);
  const xh = extra.map((side) => `  ${`ix ${side}`.padStart(9)}  ${'ratio'.padStart(6)}`).join('');
  console.log(`${'metric'.padEnd(w)}  ${'ix'.padStart(9)}  ${'Linux'.padStart(9)}  ${'ratio'.padStart(6)}  ${'goal'.padEnd(7)}  met?${xh}`);
  for (const x of r.rows) {
    const xc = extra.map((side) => `  ${f(x[side] ?? null).padStart(9)}  ${ratio(x[`${side}_ratio`])}`).join('');
    console.log(`${x.metric.padEnd(w)}  ${f(x.ix).padStart(9)}  ${f(x.linux).padStart(9)}  ${ratio(x.ratio)}  ${x.goal.padEnd(7)}  ${(x.met === null ? '' : x.met ? 'yes' : 'no').padEnd(4)}${xc}`);
  }
  for (const u of r.unavailable ?? []) console.log(unavailableLine(u));
  for (const s of r.notes) console.log(s);
  if (r.errors.length) {
    const counts = new Map<string, number>();
    for (const e of r.errors) counts.set(e, (counts.get(e) ?? 0) + 1);
    console.log(`\n${r.errors.length} point(s) failed:`);
    for (const [e, n] of counts) console.log(`  ${n > 1 ? `${n}x ` : ''}${e}`);
  }
  console.log(`host: ${r.host.cpus} CPUs, load average ${r.host.load1_start.toFixed(2)} before, ${r.host.load1_end.toFixed(2)} after (above ${r.host.cpus}, other work skews both sides)`);
}

/** `--seconds=N --rounds=N --server-cpus=0,1 --client-cpus=1 --conns=1,16,256 --kv-conns=32 --kv-sla-conns=4,16,64 --backend-spin-us=N --sched-slice-us=N --idle-poll-us=N --backend=tap,xdp,vhost --protection=MODE` (client-cpus= empty: unpinned). */
export function e2eOptionsFromArgs(args: string[]): E2eOptions {
  const get = (k: string) => args.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  const num = (k: string, lo: number, hi: number) => {
    const v = get(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new E2eBenchError(`--${k}=${v}: expected a number from ${lo} to ${hi}`);
    return n;
  };
  const list = (k: string, lo: number, hi: number) => {
    const v = get(k);
    if (v === undefined) return undefined;
    if (v === '') return [];
    const xs = v.split(',').map(Number);
    if (xs.some((x) => !Number.isInteger(x) || x < lo || x > hi)) throw new E2eBenchError(`--${k}=${v}: expected a comma-separated list of integers from ${lo} to ${hi}`);
    return xs;
  };
  const o: E2eOptions = {};
  const seconds = num('seconds', 1, 60);
  const rounds = num('rounds', 1, 20);
  const serverCpus = list('server-cpus', 0, 1023);
  const clientCpus = list('client-cpus', 0, 1023);
  const echoConns = list('conns', 1, 4096);
  const kvConns = num('kv-conns', 1, 4096);
  const kvSlaConns = list('kv-sla-conns', 1, 4096);
  const spin = num('backend-spin-us', 0, 100_000);
  const slice = num('sched-slice-us', 0, 100_000);
  const idlePoll = num('idle-poll-us', 0, 1_000_000);
  const backends = get('backend');
  if (backends !== undefined) {
    const bs = backends.split(',');
    if (!bs.length || bs.some((b) => !(E2E_BACKENDS as readonly string[]).includes(b)) || new Set(bs).size !== bs.length)
      throw new E2eBenchError(`--backend=${backends}: expected a comma-separated list of distinct NIC backends from ${E2E_BACKENDS.join(', ')}`);
    o.backends = bs as E2eBackend[];
  }
  const protection = get('protection');
  if (protection !== undefined) {
    if (!(PROTECTIONS as readonly string[]).includes(protection))
      throw new E2eBenchError(`--protection=${protection}: expected one of ${PROTECTIONS.join(', ')}`);
    o.protection = protection as Protection;
  }
  if (seconds !== undefined) o.seconds = seconds;
  if (rounds !== undefined) o.rounds = rounds;
  if (serverCpus !== undefined) {
    if (!serverCpus.length) throw new E2eBenchError('--server-cpus: give at least one CPU (the dataplane needs a core)');
    o.serverCpus = serverCpus;
  }
  if (clientCpus !== undefined) o.clientCpus = clientCpus;
  if (echoConns !== undefined && echoConns.length) o.echoConns = echoConns;
  if (kvConns !== undefined) {
    if (!Number.isInteger(kvConns)) throw new E2eBenchError(`--kv-conns=${kvConns}: expected an integer`);
    o.kvConns = kvConns;
  }
  if (kvSlaConns !== undefined) o.kvSlaConns = kvSlaConns;
  if (spin !== undefined) o.backendSpinUs = spin;
  if (slice !== undefined) {
    if (!Number.isInteger(slice)) throw new E2eBenchError(`--sched-slice-us=${slice}: expected an integer`);
    o.schedSliceUs = slice;
  }
  if (idlePoll !== undefined) {
    if (!Number.isInteger(idlePoll)) throw new E2eBenchError(`--idle-poll-us=${idlePoll}: expected an integer`);
    o.idlePollUs = idlePoll;
  }
  const wake = get('wake');
  if (wake !== undefined) {
    if (wake !== 'auto' && wake !== 'kernel' && wake !== 'user') throw new E2eBenchError(`--wake=${wake}: expected auto, kernel or user (docs/wake.md)`);
    o.wake = wake;
  }
  return o;
}
