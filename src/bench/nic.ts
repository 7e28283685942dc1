// NIC benchmark (not a test): packets per second and round-trip latency of UDP frames sent
// from a namespace to a TAP device and reflected back, side by side in one run:
//   c-reflector    bench/nic/reflector.c spinning on the TAP (the ceiling of this path)
//   backend        the NIC backend worker + a fake guest reflector in its own thread that,
//                  like a real guest core, polls for guestSpinUs after its last frame, then arms
//                  used_event and halts until the backend wakes it
//                  (the real shape: guest core and backend are different threads)
//   backend-inline the backend worker running the fake guest reflector in its own loop
//                  (isolates the backend's cost when there are fewer cores than spinners)
//   backend-burst, backend-inline-burst   the same with io = 'burst' (C helper moving up
//                  to 64 frames per FFI call) instead of one koffi call per frame
// Each configuration is measured with 1 datagram in flight (latency) and with `inflight` in
// flight (throughput). Runs alternate between configurations for `rounds` rounds so that
// slow periods of the host hit all of them alike; medians are reported.
//
//   const r = await runNicBench({ seconds: 2 }); console.table(r.table)
import type { BenchResult } from './result.js';
import { execFile, spawn } from 'node:child_process';
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
  configs?: NicBenchConfig[];
  /** backend: keep polling this long after the last frame before sleeping in poll(2) */
  backendSpinUs?: number;
  /** fake guest ('backend' config): keep polling this long before halting */
  guestSpinUs?: number;
  log?: (msg: string) => void;
}
export type NicBenchConfig = 'c-reflector' | 'backend' | 'backend-inline' | 'backend-burst' | 'backend-inline-burst';

export interface NicBenchRow {
  config: NicBenchConfig;
  pps_1: number;
  rtt_p50_us: number;
  rtt_p99_us: number;
  pps_n: number;
  rtt_p50_us_n: number;
  lost: number;
}
export type NicBenchResult = BenchResult<NicBenchOptions, NicBenchRow, PingResult>;

export class NicBenchError extends Error {
  override name = 'NicBenchError';
}

const TAP = 'ixbench0';
const HOST_IP = '10.78.0.1';
const GUEST_IP = '10.78.0.2';
const GUEST_MAC = '02:00:00:00:00:02';
const MiB = 1 << 20;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

export async function runNicBench(opts: NicBenchOptions = {}): Promise<NicBenchResult> {
  const o = {
    seconds: opts.seconds ?? 2,
    rounds: opts.rounds ?? 3,
    inflight: opts.inflight ?? 32,
    payload: opts.payload ?? 64,
    flows: opts.flows ?? 8,
    queues: opts.queues ?? 1,
    configs: opts.configs ?? (['c-reflector', 'backend', 'backend-burst', 'backend-inline', 'backend-inline-burst'] as NicBenchConfig[]),
    backendSpinUs: opts.backendSpinUs ?? 20,
    guestSpinUs: opts.guestSpinUs ?? 0,
  };
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const why = netnsUnavailable();
  if (why) throw new NicBenchError(`the NIC benchmark needs network namespaces: ${why}`);
  const tools = buildNicTools();
  const ns = new Netns('nicbench');
  const raw: Record<string, PingResult[]> = {};
  try {
    ns.exec('sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    const configure = (): void => {
      ns.ip('link', 'set', TAP, 'up');
      ns.ip('addr', 'add', `${HOST_IP}/24`, 'dev', TAP);
      ns.ip('neigh', 'replace', GUEST_IP, 'lladdr', GUEST_MAC, 'dev', TAP, 'nud', 'permanent');
    };
    // the client spins on core 1 (the benchmarks' rule: servers on core 0, clients on core 1)
    const ping = async (inflight: number, count: number): Promise<PingResult> => {
      const { stdout } = await run(
        'ip',
        ['netns', 'exec', ns.name, 'taskset', '-c', '1', tools.nicping, HOST_IP, GUEST_IP, '7', '41000', String(o.flows),
          String(count), String(inflight), String(o.payload), '200', String(o.seconds * 1000 * 3)],
        { timeout: o.seconds * 1000 * 5 + 10_000 },
      );
      return JSON.parse(stdout) as PingResult;
    };
    const measure = async (config: NicBenchConfig): Promise<void> => {
      // a short warm-up, then latency (1 in flight) and throughput (inflight)
      await ping(1, 2000);
      const lat = await ping(1, Math.min(2_000_000, Math.round(60_000 * o.seconds)));
      const thr = await ping(o.inflight, Math.min(5_000_000, Math.round(300_000 * o.seconds)));
      (raw[`${config}/1`] ??= []).push(lat);
      (raw[`${config}/${o.inflight}`] ??= []).push(thr);
      log(`nic bench ${config}: 1 in flight ${lat.pps.toFixed(0)} pps p50 ${lat.rtt_p50_us} us; ${o.inflight} in flight ${thr.pps.toFixed(0)} pps`);
    };

    for (let round = 0; round < o.rounds; round++) {
      for (const config of o.configs) {
        if (config === 'c-reflector') {
          const child = spawn('ip', ['netns', 'exec', ns.name, 'taskset', '-c', '0', tools.reflector, TAP, String(o.seconds * 10 + 30)], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          try {
            await new Promise<void>((resolve, reject) => {
              child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
              child.once('exit', (c) => reject(new NicBenchError(`reflector exited early (code ${c})`)));
            });
            configure();
            await measure(config);
          } finally {
            const gone = new Promise<void>((r) => child.once('exit', () => r()));
            child.kill('SIGTERM');
            await gone;
          }
          continue;
        }
        const ram = new FakeGuestRam(32 * MiB);
        const rings = allocNicRings(1 * MiB, o.queues, 256);
        const bufBase = Array.from({ length: o.queues }, (_, q) => 4 * MiB + q * MiB);
        const kickFd = libc.makeEventfd();
        const withGuest = config === 'backend' || config === 'backend-burst';
        const inline = config === 'backend-inline' || config === 'backend-inline-burst';
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
        const nic = await startNicBackend(plan, {
          memory: ram.spec,
          rings,
          kickFd,
          worker: inline ? inlineReflectorWorker(bufBase) : undefined,
          log,
        });
        const guest =
          withGuest
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
        try {
          configure();
          await measure(config);
        } finally {
          await nic.stop();
          await guest?.stop();
          libc.close(kickFd);
          ram.free();
        }
      }
    }
  } finally {
    ns.remove();
  }
  const rows: NicBenchRow[] = o.configs.map((config) => {
    const one = raw[`${config}/1`] ?? [];
    const n = raw[`${config}/${o.inflight}`] ?? [];
    return {
      config,
      pps_1: Math.round(median(one.map((r) => r.pps))),
      rtt_p50_us: median(one.map((r) => r.rtt_p50_us)),
      rtt_p99_us: median(one.map((r) => r.rtt_p99_us)),
      pps_n: Math.round(median(n.map((r) => r.pps))),
      rtt_p50_us_n: median(n.map((r) => r.rtt_p50_us)),
      lost: [...one, ...n].reduce((a, r) => a + r.lost, 0),
    };
  });
  return { options: o, rows, raw };
}

// `node dist/bench/nic.js [seconds] [rounds]` runs it directly (the lead wires `npm run bench -- nic`).
if (import.meta.url === `file://${process.argv[1]}`) {
  const num = (i: number): number | undefined => (process.argv[i] === undefined ? undefined : Number(process.argv[i]));
  const r = await runNicBench({
    seconds: num(2),
    rounds: num(3),
    backendSpinUs: num(4),
    guestSpinUs: num(5),
    configs: process.argv[6] ? (process.argv[6].split(',') as NicBenchConfig[]) : undefined,
  });
  console.table(r.rows);
}
