/**
 * `ix run`: start a dataplane from a validated config and run it in the foreground until
 * every app is gone, the guest fails, or SIGINT/SIGTERM (docs/design.md).
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { DataplaneConfig } from '../config/index.js';
import { Machine, type MachineResult } from '../vmm/machine.js';
import { KERNEL_ELF } from './paths.js';
import type { Logger } from './logger.js';
import type { Claim } from './registry.js';
import { startControlServer, startMetricsServer, type ControlOp } from './socket.js';
import { SampleHistory, describeNic, nicPrometheus, prometheusText, rates, takeSample, type Sample, type StatsReport } from './stats.js';
import { planNic } from '../nic/plan.js';
import { CoreScaler, elasticPrometheus } from './scale.js';
import { FlowGroupMover } from './migrate.js';
import { runPolicy } from './policy.js';
import { NIC_WAKE_OFFSET } from '../nic/backend.js';

/** Get a halted core back into its loop, as a frame for its queue would (src/nic/wait.ts). */
function wakeCore(counters: Int32Array, core: number): void {
  Atomics.add(counters, NIC_WAKE_OFFSET + core, 1);
  Atomics.notify(counters, NIC_WAKE_OFFSET + core);
}

export class RunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
}

export interface RunOptions {
  log: Logger;
  /** where app output lines go (default: stdout) */
  appOut?: (line: string) => void;
  kernelPath?: string;
  selftest?: boolean;
  /** wall-clock ms (performance.timeOrigin based) the command started, for the boot timing */
  startedWallMs?: number;
  /** this dataplane's registration (registry.ts): serve the control socket there and release
   * it when the run ends, however it ends */
  claim?: Claim;
  /** serve Prometheus text on 127.0.0.1:<port>/metrics (0: any free port) */
  metricsPort?: number | null;
}

export interface RunOutcome extends MachineResult {
  /** ms from the command's start (or startedWallMs) to the first app instruction on core 0 */
  firstAppInstructionMs: number | null;
  /** the same instant as a wall-clock time (performance.timeOrigin-based ms) */
  firstAppInstructionWallMs: number | null;
  platform: string;
  /** the boundary the guest enforced ('auto' resolved), 'unknown' if it never got that far */
  protection: string;
  selftestSeconds: number | null;
  /** per-core counters at the end of the run */
  cores: {
    cpu: number; rxFrames: number; txFrames: number; events: number; bpolls: number; calls: number;
    /** SYN flood defence (guest/net/tcp_synflood.c): cookies sent, connections made from them, dropped SYNs */
    synCookies: number; synCookieConns: number; synDrops: number;
    /** payload bytes the guest stack copied (0 on the zero-copy paths) */
    copies: number;
    /** gauges at the end: TCP connections and mbufs still in use (after a clean close, only
     * the buffers posted to the RX ring) */
    tcpConns: number; mbufsUsed: number;
    /** idle halts, and the interrupts that ended them with in-kernel wake-ups (docs/wake.md): NIC irqfd, LAPIC timer */
    halts: number; irqNic: number; irqTimer: number;
  }[];
  /** how idle cores were woken ("kernel" or "user") and why */
  wake: string;
  wakeReason: string;
}

export async function runDataplane(cfg: DataplaneConfig, o: RunOptions): Promise<RunOutcome> {
  const log = o.log;
  const kernelPath = o.kernelPath ?? KERNEL_ELF;
  if (!existsSync(kernelPath)) throw new RunError(`guest kernel not found at ${kernelPath}: run \`npm run build\` first`);
  if (cfg.protection === 'none')
    log.warn('protection = "none": the app runs in ring 0 with the dataplane, unprotected (for measuring the cost of the boundary)');
  if (cfg.protection === 'none' && cfg.app.maxRunMs)
    log.warn('[app] max_run_ms has no effect under protection = "none": an app in ring 0 runs with interrupts masked and cannot be stopped');
  // SIGINT/SIGTERM (and `ix stop`) are honoured from here on; one that arrives while the
  // machine is still being set up stops it as soon as it is up, so nothing is left half-made
  const gate = new StopGate();
  const onSignal = (sig: NodeJS.Signals) => {
    log.info({ signal: sig }, 'stopping');
    gate.request(`stopped by ${sig}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal); // its terminal went away
  try {
    return await runWithHandlers(cfg, gate, o, log, kernelPath);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

async function runWithHandlers(cfg: DataplaneConfig, gate: StopGate, o: RunOptions, log: Logger, kernelPath: string): Promise<RunOutcome> {
  log.info({ config: cfg.source, name: cfg.name, cores: cfg.cores.count, memory: cfg.memoryBytes }, 'config ok');

  const m = new Machine({
    kernelPath,
    appPath: cfg.app.path,
    appArgs: cfg.app.args,
    ncpus: cfg.cores.count,
    pinCpus: cfg.cores.cpus,
    memBytes: cfg.memoryBytes,
    batch: cfg.batch,
    idlePollUs: cfg.idlePollUs,
    wake: cfg.wake,
    haltPollUs: cfg.haltPollUs,
    schedSliceUs: cfg.schedSliceUs,
    protection: cfg.protection,
    appHeapSize: cfg.app.heapBytes,
    appSharedSize: cfg.app.sharedBytes,
    maxRunMs: cfg.app.maxRunMs,
    tcpMaxConns: cfg.net.maxConnections,
    selftest: o.selftest ?? false,
    nic: cfg.nic ? planNic(cfg.nic, cfg.cores.count, { tag: cfg.name.replace(/[^a-z0-9]/g, '').slice(0, 12) || 'dp', active: cfg.cores.min, schedSliceUs: cfg.schedSliceUs, coreCpus: cfg.cores.cpus }) : undefined,
  });
  const appOut = o.appOut ?? ((l: string) => process.stdout.write(`${l}\n`));
  m.on('log', (cpu, line) => {
    if (line.startsWith('\x01')) appOut(`[${cfg.name} core ${cpu}] ${line.slice(1)}`);
    // the guest marks what an operator must see (e.g. a SYN flood) with "warning: "
    else if (line.startsWith('warning: ')) log.warn({ cpu }, `guest: ${line.slice(9)}`);
    else log.debug({ cpu }, `guest: ${line}`);
  });
  m.on('app-exit', (cpu, status) => log.info({ cpu, status }, `app on core ${cpu} exited with status ${status}`));
  m.on('app-fault', (f) =>
    log.error(
      { cpu: f.cpu, kind: f.kind, rip: f.rip, symbol: f.symbol, addr: f.addr, error: f.errorCode, regs: f.regs, tsc: f.tsc, ...(f.note ? { note: f.note } : {}) },
      `app on core ${f.cpu} stopped: ${f.kind} at ${f.rip}${f.symbol ? ` (${f.symbol})` : ''}, address ${f.addr}${f.note ? `; ${f.note}` : ''}`,
    ),
  );
  m.on('warning', (w) => log.warn(w));

  let ctl: { close(): Promise<void> } | null = null;
  try {
    ctl = o.claim ? await startControl(cfg, m, gate, o, log) : null;
    return await runMachine(cfg, m, gate, o, log, kernelPath);
  } finally {
    await ctl?.close();
    o.claim?.release();
  }
}

/** Stop requests that may come before the machine is started. */
class StopGate {
  private m: Machine | null = null;
  private pending: string | null = null;

  request(reason: string): void {
    if (this.m) void this.m.stop(reason);
    else this.pending ??= reason;
  }

  markStarted(m: Machine): void {
    this.m = m;
    if (this.pending) void m.stop(this.pending);
  }
}

async function runMachine(cfg: DataplaneConfig, m: Machine, gate: StopGate, o: RunOptions, log: Logger, kernelPath: string): Promise<RunOutcome> {
  await m.start();
  gate.markStarted(m);
  log.info({ kernel: kernelPath, app: cfg.app.path, tscKhz: m.tscKhz }, 'memory, kernel and app loaded');
  if (m.nic) {
    const n = m.nic;
    o.claim?.update({ netns: n.netns?.name ?? null, tap: n.tapName, address: `${cfg.nic!.address}/${cfg.nic!.prefix}` });
    const where = n.netns ? ` in namespace ${n.netns.name}` : '';
    const x = n.handle.xdp;
    const v = n.handle.vhost;
    const rings = x ? (x.rings === 'guest' ? 'rings polled by the guest, host thread only kicks TX and wakes' : 'rings served by a host thread') : '';
    const on = x ? `${x.ifname} (AF_XDP, ${x.sockets} socket(s), ${x.copyMode} mode, ${x.xdpMode} XDP, ${rings}: xdp_rings ${cfg.nic!.xdpRings}, ${cfg.nic!.xdpRingsReason})` : v ? `${n.tapName} (vhost-net, ${v.devices} device(s), RX wake by ${v.wakePath === 'irqfd' ? 'irqfd' : 'a host thread'})` : n.tapName;
    log.info(
      { backend: cfg.nic!.backend, backendReason: cfg.nic!.backendReason, tap: n.tapName, interface: x?.ifname ?? null, xdp: x ?? null, vhost: v ?? null, netns: n.netns?.name ?? null, address: `${cfg.nic!.address}/${cfg.nic!.prefix}`, peer: n.peerAddress, queues: cfg.cores.count, backendSpinUs: n.handle.spinUs, kicksInKernel: m.kicksInKernel, wake: m.wake.mode, wakeReason: m.wake.reason },
      `NIC up: ${cfg.nic!.address} on ${on}${where}; backend ${cfg.nic!.backend} (${cfg.nic!.backendReason}); wake ${m.wake.mode === 'kernel' ? 'in the host kernel' : 'through user space'} (${m.wake.reason})` + (n.netns ? ` (Linux side ${n.peerAddress}; try: ip netns exec ${n.netns.name} ping ${cfg.nic!.address})` : ''),
    );
  }
  let started = 0;
  const hostCpus: number[][] = [];
  m.on('started', (cpu, _t, affinity) => {
    hostCpus[cpu] = affinity;
    if (++started === cfg.cores.count) {
      log.info({ cores: cfg.cores.count, pinned: cfg.cores.cpus !== null, hostCpus }, `${cfg.cores.count} cores started`);
      void whenAppsRunning(m, cfg.cores.count).then((ok) => {
        const prot = m.cpuReports()[0]?.protection ?? 'unknown';
        if (ok)
          log.info({ protection: prot, configured: cfg.protection, platform: m.cpuReports()[0]?.platform }, `protection: ${prot}` + (cfg.protection === 'auto' ? ' (chosen by "auto" for this platform)' : ''));
        if (ok)
          log.info(
            { socket: o.claim?.socketPath ?? null },
            `ready: ${cfg.name} runs its app on ${cfg.cores.count} core${cfg.cores.count > 1 ? 's' : ''}` +
              (cfg.cores.min < cfg.cores.count ? `, ${cfg.cores.min} of them in use (elastic: ix scale ${cfg.name} <${cfg.cores.min}..${cfg.cores.count}>)` : '') +
              (o.claim ? ` (ix stats ${cfg.name}; ix stop ${cfg.name})` : ''),
          );
      });
    }
  });

  const res: MachineResult = await m.wait();
  const reports = m.cpuReports();
  const r0 = reports[0];
  const since = o.startedWallMs ?? performance.timeOrigin;
  const st = r0 && r0.selftestIters > 0n && m.tscKhz ? Number(r0.selftestCycles) / m.tscKhz / 1000 : null;
  return {
    ...res,
    firstAppInstructionMs: m.firstAppInstructionMs(since),
    firstAppInstructionWallMs: m.firstAppInstructionMs(0),
    platform: r0?.platform ?? 'unknown',
    protection: r0?.protection ?? 'unknown',
    cores: reports.map((r) => ({
      cpu: r.cpu,
      rxFrames: Number(r.stats.rxFrames),
      txFrames: Number(r.stats.txFrames),
      events: Number(r.stats.events),
      bpolls: Number(r.bpollCalls),
      calls: Number(r.callsExecuted),
      synCookies: Number(r.stats.synCookies),
      synCookieConns: Number(r.stats.synCookieConns),
      synDrops: Number(r.stats.synDrops),
      copies: Number(r.stats.copies),
      tcpConns: Number(r.stats.tcpConns),
      mbufsUsed: Number(r.stats.mbufsUsed),
      halts: Number(r.halts),
      irqNic: Number(r.irqNic),
      irqTimer: Number(r.irqTimer),
    })),
    wake: m.wake.mode,
    wakeReason: m.wake.reason,
    selftestSeconds: st,
  };
}

/** Resolves true once every core has entered its app (the guest stamps tsc_app_entry in
 * shared memory; polled, no exits), false if the machine ends first. */
async function whenAppsRunning(m: Machine, ncpus: number): Promise<boolean> {
  let over = false;
  void m.wait().then(() => (over = true));
  for (;;) {
    const r = m.cpuReports();
    if (r.length === ncpus && r.every((c) => c.tscAppEntry !== 0n)) return !over;
    if (over) return false;
    await new Promise((res) => setTimeout(res, 2));
  }
}

/** The control socket (and the optional Prometheus endpoint) of a running dataplane. */
async function startControl(cfg: DataplaneConfig, m: Machine, gate: StopGate, o: RunOptions, log: Logger): Promise<{ close(): Promise<void> }> {
  const claim = o.claim!;
  const startedAt = performance.now();
  const sample = (): Sample => takeSample(performance.now(), m.coreStats(), m.nic?.handle.stats() ?? null, m.nic?.handle.counterSource);
  const history = new SampleHistory();
  // elastic cores: the NIC (and its redirection table) exists once the machine has started
  let scaler: CoreScaler | null = null;
  const elastic = (): CoreScaler | null => {
    if (!scaler && m.nic && cfg.cores.min < cfg.cores.count) {
      const h = m.nic.handle;
      // the TAP backend holds a moving group's frames, so connections move with their group
      const mover = h.xdp ? undefined : new FlowGroupMover({ view: () => m.guestView(), reta: h.reta, wake: (core) => { wakeCore(h.wakeCounters, core); m.wakeCoreInKernel(core); }, onSlow: (msg) => log.warn(msg) });
      scaler = new CoreScaler({ name: cfg.name, min: cfg.cores.min, max: cfg.cores.count, reta: h.reta, conns: () => m.coreStats().map((c) => Number(c.tcpConns)), mover });
    }
    return scaler;
  };
  // [cores] policy = "auto": the control plane grows and shrinks the dataplane by load
  const pol = cfg.cores.policy;
  const policy = pol
    ? runPolicy({
        knobs: pol,
        min: cfg.cores.min,
        max: cfg.cores.count,
        batch: cfg.batch,
        sample: () => m.coreStats().map((c) => ({ busyCycles: Number(c.busyCycles), idleCycles: Number(c.idleCycles), rxBatches: c.rxBatches.map(Number) })),
        active: () => elastic()?.activeCores ?? cfg.cores.min,
        scaleTo: async (n) => {
          const s = elastic();
          if (!s) throw new Error('the dataplane is not running yet');
          const ev = await s.scaleTo(n, 'policy');
          log.info({ by: 'policy', ...ev }, `cores in use: ${ev.from} -> ${ev.to} (${ev.groupsMoved} flow groups and ${ev.connsMoved} TCP connections moved in ${ev.ms.toFixed(3)} ms)`);
        },
        log: (msg) => log.debug(msg),
      })
    : null;
  // one sample a second, so that a stats request gets rates over the last second at once
  const timer = setInterval(() => {
    if (m.coreStats().length) history.add(sample());
  }, 1000);
  timer.unref();
  const statsReport = async (): Promise<StatsReport> => {
    let cur = sample();
    if (!cur.cores.length) throw new Error('the dataplane is not running (starting or stopping)');
    let base = history.base(cur.t);
    if (!base) {
      // just started: measure over half a second now
      base = cur;
      await new Promise((res) => setTimeout(res, 500));
      cur = sample();
      if (!cur.cores.length) throw new Error('the dataplane is stopping');
    }
    const r = rates(base, cur);
    return { name: cfg.name, pid: process.pid, uptimeS: (cur.t - startedAt) / 1000, ...r, counters: cur.cores, nicCounters: cur.nic ?? null, nic: m.nic ? describeNic(m.nic.handle) : null, elastic: elastic()?.report() ?? null };
  };
  const metrics = (): string => {
    const s = elastic();
    const cur = sample();
    return prometheusText(cfg.name, cur.cores) + nicPrometheus(cfg.name, m.nic ? describeNic(m.nic.handle) : null, cur.nic) + (s ? elasticPrometheus(cfg.name, s.report()) : '');
  };
  const handle = async (op: ControlOp, req: Record<string, unknown>): Promise<unknown> => {
    switch (op) {
      case 'info':
        return { ...claim.entry, uptimeS: (performance.now() - startedAt) / 1000 };
      case 'stats':
        return statsReport();
      case 'metrics':
        return metrics();
      case 'stop':
        log.info({ by: 'ix stop' }, 'stopping');
        gate.request('stopped by ix stop');
        return { stopping: true, pid: process.pid };
      case 'scale': {
        const s = elastic();
        if (!s) {
          if (cfg.cores.min === cfg.cores.count) throw new Error(`dataplane '${cfg.name}' has a fixed core count (${cfg.cores.count}); give it [cores] min and max in its config to scale it`);
          throw new Error('the dataplane is not running yet (starting): try again when `ix run` printed ready');
        }
        const ev = await s.scaleTo(req['cores'], 'ix scale');
        log.info({ by: 'ix scale', ...ev }, `cores in use: ${ev.from} -> ${ev.to} (${ev.groupsMoved} flow groups and ${ev.connsMoved} TCP connections moved in ${ev.ms.toFixed(3)} ms)`);
        return { ...ev, elastic: s.report() };
      }
    }
  };
  const server = await startControlServer(claim.socketPath, handle, (msg) => log.warn(msg));
  let http: { port: number; close(): Promise<void> } | null = null;
  try {
    if (o.metricsPort !== undefined && o.metricsPort !== null) {
      http = await startMetricsServer(o.metricsPort, metrics, statsReport);
      claim.update({ metricsPort: http.port });
      log.info({ port: http.port }, `Prometheus metrics on http://127.0.0.1:${http.port}/metrics`);
      log.info({ port: http.port }, `live page on http://127.0.0.1:${http.port}/`);
    }
  } catch (e) {
    clearInterval(timer);
    policy?.stop();
    await server.close();
    throw e;
  }
  return {
    async close() {
      clearInterval(timer);
      policy?.stop();
      await server.close();
      await http?.close();
    },
  };
}
