// NIC benchmark (not a test): packets per second and round-trip latency of UDP datagrams
// sent by one client (bench/nic/nicping.c, spinning, pinned to core 1) and reflected back,
// side by side in one run. The configurations (src/bench/nic-options.ts):
//   c-reflector    bench/nic/reflector.c spinning on a TAP (the ceiling of the TAP path)
//   backend        the NIC backend worker + a fake guest reflector in its own thread that,
//                  like a real guest core, polls for guestSpinUs after its last frame, then arms
//                  used_event and halts until the backend wakes it
//                  (the real shape: guest core and backend are different threads)
//   backend-inline the backend worker running the fake guest reflector in its own loop
//                  (isolates the backend's cost when there are fewer cores than spinners)
//   backend-burst, backend-inline-burst   the same with io = 'burst' (C helper moving up
//                  to 64 frames per FFI call) instead of one koffi call per frame
//   c-reflector-veth  bench/nic/veth_reflector.c (AF_PACKET) spinning on one end of a veth
//                  pair, the client on the other (the ceiling of the veth path)
//   xdp-guest, xdp-host   the echo dataplane (`ix run`, one core) on that veth end with
//                  backend "xdp", xdp_rings "guest" / "host" (src/bench/nic-targets.ts)
//   dataplane-tap  the same dataplane over a TAP of its own (backend "tap")
// Each configuration is measured with 1 datagram in flight (latency) and with `inflight` in
// flight (throughput). Runs alternate between configurations for `rounds` rounds so that
// slow periods of the host hit all of them alike; medians are reported. Every server runs on
// core 0 (the reflectors by taskset, the dataplane's core by its config).
//
//   const r = await runNicBench({ seconds: 2 }); printNicBench(r)
import type { BenchResult } from './result.js';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GuestMemory } from '../nic/guest-memory.js';
import { FakeGuestRam } from '../testing/fake-guest-ram.js';
import * as libc from '../sys/libc.js';
import { NIC_WAKE_ANY, startNicBackend } from '../nic/backend.js';
import { buildNicTools, type PingResult } from '../testing/nic-tools.js';
import { Netns, netnsUnavailable } from '../nic/netns.js';
import { FakeGuestQueue, inlineReflectorWorker, startFakeGuest } from '../testing/fake-guest.js';
import { allocNicRings } from '../nic/rings.js';
import { testNicPlan } from '../testing/nic-plan.js';
import { createXdpLink, type XdpLink } from '../testing/xdp-link.js';
import { deviceFacts, xdpFacts } from '../config/host-facts.js';
import { appElf } from '../control/paths.js';
import { NicBenchError, VETH_CONFIGS, pickNicConfigs, skippedLine, type NicBenchConfig, type NicHostFacts, type NicSkipped } from './nic-options.js';
import { buildNicRows, nicTableCells, xdpTargetLines, type NicBenchRow } from './nic-rows.js';
import { startCReflector, startEchoDataplane, startVethReflector, ECHO_PORT, type NicTarget } from './nic-targets.js';
import { markdownTable } from './report-tables.js';

export { NicBenchError, type NicBenchConfig, type NicBenchRow };

const run = promisify(execFile);

export interface NicBenchOptions {
  /** rough seconds per measurement (count is derived from it, bounded) */
  seconds?: number;
  rounds?: number;
  inflight?: number;
  payload?: number;
  /** flows (source ports) used by the client */
  flows?: number;
  /** queue pairs for the backend */
  queues?: number;
  /** absent: every configuration this host can run (the others are listed in `skipped`) */
  configs?: NicBenchConfig[];
  /** backend: keep polling this long after the last frame before sleeping in poll(2)
   * (also the dataplane's [nic] backend_spin_us) */
  backendSpinUs?: number;
  /** fake guest ('backend' config): keep polling this long before halting */
  guestSpinUs?: number;
  log?: (msg: string) => void;
}

export type NicBenchResult = BenchResult<NicBenchOptions, NicBenchRow, PingResult> & {
  /** configurations left out of a default run, and why (absent in older results) */
  skipped?: NicSkipped[];
  /** configurations that failed to start or to measure in a round (absent in older results) */
  errors?: string[];
  host?: { cpus: number; load1_start: number; load1_end: number };
};

const TAP = 'ixbench0';
const HOST_IP = '10.78.0.1';
const GUEST_IP = '10.78.0.2';
const GUEST_MAC = '02:00:00:00:00:02';
const MiB = 1 << 20;

/** What the configurations beyond the TAP ones need, asked the way `ix check` asks.
 * `link`: create the veth pair (null: no configuration on it is wanted, so none is made). */
async function nicHostFacts(link: (() => XdpLink) | null): Promise<{ facts: NicHostFacts; link: XdpLink | null }> {
  const kvm = deviceFacts('/dev/kvm');
  const echo = appElf('echo');
  const kvmWhy =
    kvm.openRw !== 'ok' ? `/dev/kvm cannot be opened (${kvm.exists ? kvm.openRw : 'absent'}; run ix check)` : !existsSync(echo) ? `the echo app is not built (${echo}): npm run build` : null;
  const x = await xdpFacts();
  const xdpWhy = x.socket === 'ok' && x.program === 'ok' ? null : `AF_XDP unusable (ix check): socket: ${x.socket}; program: ${x.program}`;
  try {
    return { facts: { kvm: kvmWhy, xdp: xdpWhy, veth: null }, link: link ? link() : null };
  } catch (e) {
    return { facts: { kvm: kvmWhy, xdp: xdpWhy, veth: `no veth pair: ${(e as Error).message.split('\n')[0]}` }, link: null };
  }
}

/** The TAP backend worker with a fake guest core (or the fake reflector inline) on the bench's TAP. */
async function startFakeBackend(
  config: NicBenchConfig,
  ns: Netns,
  o: { queues: number; backendSpinUs: number; guestSpinUs: number },
  log: (m: string) => void,
): Promise<NicTarget> {
  const ram = new FakeGuestRam(32 * MiB);
  const rings = allocNicRings(1 * MiB, o.queues, 256);
  const bufBase = Array.from({ length: o.queues }, (_, q) => 4 * MiB + q * MiB);
  const kickFd = libc.makeEventfd();
  const withGuest = config === 'backend' || config === 'backend-burst';
  const inline = config === 'backend-inline' || config === 'backend-inline-burst';
  const release = () => {
    libc.close(kickFd);
    ram.free();
  };
  let nic: Awaited<ReturnType<typeof startNicBackend>>;
  try {
    if (withGuest) {
      // rings initialised here, before the backend attaches; the guest thread adopts them
      const mem = new GuestMemory(ram.spec);
      for (let q = 0; q < o.queues; q++) new FakeGuestQueue(mem, rings.rx[q]!, rings.tx[q]!, bufBase[q]!).init();
    }
    const plan = testNicPlan({
      nqueues: o.queues,
      tap: { name: TAP, netns: { kind: 'existing', name: ns.name } },
      spinUs: o.backendSpinUs,
      cpu: 0, // like the C reflector (taskset -c 0); the client runs on core 1
      io: config.endsWith('burst') ? 'burst' : 'koffi',
    });
    nic = await startNicBackend(plan, { memory: ram.spec, rings, kickFd, worker: inline ? inlineReflectorWorker(bufBase) : undefined, log });
  } catch (e) {
    release();
    throw e;
  }
  let guest: Awaited<ReturnType<typeof startFakeGuest>> | undefined;
  try {
    guest = withGuest
      ? await startFakeGuest({
          memory: ram.spec,
          rx: rings.rx,
          tx: rings.tx,
          bufBase,
          kickFd,
          initialised: true,
          wake: { counters: nic.wakeCounters, index: NIC_WAKE_ANY, spinUs: o.guestSpinUs },
        })
      : undefined;
  } catch (e) {
    await nic.stop();
    release();
    throw e;
  }
  return {
    netns: ns.name,
    src: HOST_IP,
    dst: GUEST_IP,
    async stop() {
      await nic.stop();
      await guest?.stop();
      release();
    },
    kill() {
      /* in this process: removing the namespace takes the TAP away */
    },
  };
}

const DATAPLANE = ['xdp-guest', 'xdp-host', 'dataplane-tap'] as const;
const isDataplane = (c: NicBenchConfig): c is (typeof DATAPLANE)[number] => (DATAPLANE as readonly string[]).includes(c);

export async function runNicBench(opts: NicBenchOptions = {}): Promise<NicBenchResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const why = netnsUnavailable();
  if (why) throw new NicBenchError(`the NIC benchmark needs network namespaces: ${why}`);
  const tools = buildNicTools();
  const load1Start = loadavg()[0]!;
  if (load1Start > availableParallelism())
    log(`note: load average ${load1Start.toFixed(2)} > ${availableParallelism()} CPUs: other work is running and skews every configuration (compare configurations of one run)`);
  const wantsVeth = (opts.configs ?? VETH_CONFIGS).some((c) => VETH_CONFIGS.includes(c));
  const gathered = await nicHostFacts(wantsVeth ? () => createXdpLink({ queues: 1, tag: 'nicx' }) : null);
  let link = gathered.link;
  let picked: ReturnType<typeof pickNicConfigs>;
  try {
    picked = pickNicConfigs(opts.configs, gathered.facts);
  } catch (e) {
    link?.remove();
    throw e;
  }
  if (link && !picked.configs.some((c) => VETH_CONFIGS.includes(c))) {
    link.remove();
    link = null;
  }
  for (const s of picked.skipped) log(skippedLine(s));
  const o = {
    seconds: opts.seconds ?? 2,
    rounds: opts.rounds ?? 3,
    inflight: opts.inflight ?? 32,
    payload: opts.payload ?? 64,
    flows: opts.flows ?? 8,
    queues: opts.queues ?? 1,
    configs: picked.configs,
    backendSpinUs: opts.backendSpinUs ?? 20,
    guestSpinUs: opts.guestSpinUs ?? 0,
  };
  if (o.queues !== 1 && o.configs.some((c) => isDataplane(c) || c === 'c-reflector-veth'))
    log(`note: queues = ${o.queues} applies to the fake-guest backends only; the dataplane and veth configurations use one queue`);

  let ns: Netns;
  try {
    ns = new Netns('nicbench');
  } catch (e) {
    link?.remove();
    throw e;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ix-bench-nic-'));
  const active = new Set<NicTarget>();
  const cleanup = () => {
    for (const t of active) t.kill();
    link?.remove();
    ns.remove();
    rmSync(dir, { recursive: true, force: true });
  };
  // Ctrl-C: Node's default would exit without its 'exit' handlers; stop the servers and
  // remove the namespaces (and with them the veth pair and the TAP) first
  const onSignal = (sig: NodeJS.Signals) => {
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const raw: Record<string, PingResult[]> = {};
  const errors: string[] = [];
  try {
    ns.exec('sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    const configure = (): void => {
      ns.ip('link', 'set', TAP, 'up');
      ns.ip('addr', 'add', `${HOST_IP}/24`, 'dev', TAP);
      ns.ip('neigh', 'replace', GUEST_IP, 'lladdr', GUEST_MAC, 'dev', TAP, 'nud', 'permanent');
    };
    // the client spins on core 1 (the benchmarks' rule: servers on core 0, clients on core 1)
    const ping = async (t: NicTarget, inflight: number, count: number): Promise<PingResult> => {
      const { stdout } = await run(
        'ip',
        ['netns', 'exec', t.netns, 'taskset', '-c', '1', tools.nicping, t.src, t.dst, String(ECHO_PORT), '41000', String(o.flows),
          String(count), String(inflight), String(o.payload), '200', String(o.seconds * 1000 * 3)],
        { timeout: o.seconds * 1000 * 5 + 10_000 },
      );
      return JSON.parse(stdout) as PingResult;
    };
    const measure = async (config: NicBenchConfig, t: NicTarget): Promise<void> => {
      // a short warm-up, then latency (1 in flight) and throughput (inflight)
      await ping(t, 1, 2000);
      const lat = await ping(t, 1, Math.min(2_000_000, Math.round(60_000 * o.seconds)));
      const thr = await ping(t, o.inflight, Math.min(5_000_000, Math.round(300_000 * o.seconds)));
      (raw[`${config}/1`] ??= []).push(lat);
      (raw[`${config}/${o.inflight}`] ??= []).push(thr);
      log(`nic bench ${config}: 1 in flight ${lat.pps.toFixed(0)} pps p50 ${lat.rtt_p50_us} us; ${o.inflight} in flight ${thr.pps.toFixed(0)} pps${thr.lost ? ` (${thr.lost} lost)` : ''}`);
    };
    const reflectorSeconds = String(o.seconds * 10 + 30);
    const start = async (config: NicBenchConfig): Promise<NicTarget> => {
      if (config === 'c-reflector') {
        const t = await startCReflector(ns.name, 0, [tools.reflector, TAP, reflectorSeconds], { netns: ns.name, src: HOST_IP, dst: GUEST_IP });
        configure();
        return t;
      }
      if (config === 'c-reflector-veth') return startVethReflector(link!, tools.vethReflector, 0, Number(reflectorSeconds));
      if (isDataplane(config)) return startEchoDataplane(config, { dir, cpu: 0, backendSpinUs: o.backendSpinUs, link, log });
      const t = await startFakeBackend(config, ns, o, log);
      configure();
      return t;
    };

    for (let round = 0; round < o.rounds; round++) {
      for (const config of o.configs) {
        let t: NicTarget;
        try {
          t = await start(config);
        } catch (e) {
          const msg = `round ${round + 1}, ${config} did not start: ${(e as Error).message}`;
          errors.push(msg.split('\n')[0]!);
          log(`nic bench ${msg}`);
          continue;
        }
        active.add(t);
        try {
          await measure(config, t);
        } catch (e) {
          const msg = `round ${round + 1}, ${config}: ${(e as Error).message.split('\n')[0]}`;
          errors.push(msg);
          log(`nic bench ${msg}`);
        } finally {
          active.delete(t);
          await t.stop();
        }
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    cleanup();
  }
  return {
    options: o,
    rows: buildNicRows(o.configs, raw, o.inflight),
    raw,
    skipped: picked.skipped,
    errors,
    host: { cpus: availableParallelism(), load1_start: load1Start, load1_end: loadavg()[0]! },
  };
}

export function printNicBench(r: NicBenchResult): void {
  const c = nicTableCells(r);
  console.log(`\nNIC path: ${r.options.payload} B UDP, ${r.options.flows} flows, medians of ${r.options.rounds} alternating rounds`);
  console.log(markdownTable(c.head, c.rows).join('\n'));
  for (const l of xdpTargetLines(r.rows, r.options.inflight)) console.log(l);
  for (const s of r.skipped ?? []) console.log(skippedLine(s));
  for (const e of r.errors ?? []) console.log(`error: ${e}`);
  if (r.host) console.log(`host: ${r.host.cpus} CPUs, load average ${r.host.load1_start.toFixed(2)} before, ${r.host.load1_end.toFixed(2)} after (above ${r.host.cpus}, other work skews every row)`);
}

// `node dist/bench/nic.js [seconds] [rounds] [backendSpinUs] [guestSpinUs] [configs]` runs it directly.
if (import.meta.url === `file://${process.argv[1]}`) {
  const num = (i: number): number | undefined => (process.argv[i] === undefined ? undefined : Number(process.argv[i]));
  const r = await runNicBench({
    seconds: num(2),
    rounds: num(3),
    backendSpinUs: num(4),
    guestSpinUs: num(5),
    configs: process.argv[6] ? (process.argv[6].split(',') as NicBenchConfig[]) : undefined,
  });
  printNicBench(r);
}
