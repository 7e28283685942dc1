/**
 * `ix run`: start a dataplane from a validated config and run it in the foreground until
 * every app is gone, the guest fails, or SIGINT/SIGTERM (DESIGN.md §1).
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { DataplaneConfig } from '../config/index.js';
import { Machine, type MachineResult } from '../vmm/machine.js';
import { KERNEL_ELF } from './paths.js';
import type { Logger } from './logger.js';

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
}

export interface RunOutcome extends MachineResult {
  /** ms from the command's start (or startedWallMs) to the first app instruction on core 0 */
  firstAppInstructionMs: number | null;
  /** the same instant as a wall-clock time (performance.timeOrigin-based ms) */
  firstAppInstructionWallMs: number | null;
  platform: string;
  selftestSeconds: number | null;
  /** per-core counters at the end of the run */
  cores: { cpu: number; rxFrames: number; txFrames: number; events: number; bpolls: number; calls: number }[];
}

export async function runDataplane(cfg: DataplaneConfig, o: RunOptions): Promise<RunOutcome> {
  const log = o.log;
  const kernelPath = o.kernelPath ?? KERNEL_ELF;
  if (!existsSync(kernelPath)) throw new RunError(`guest kernel not found at ${kernelPath}: run \`npm run build\` first`);
  if (cfg.protection === 'none')
    throw new RunError('protection = "none" (the app linked into ring 0) is not implemented yet; use protection = "ring3"');
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
    protection: cfg.protection,
    appHeapSize: cfg.app.heapBytes,
    selftest: o.selftest ?? false,
    nic: cfg.nic
      ? {
          tap: cfg.nic.tap,
          namespace: cfg.nic.namespace,
          mac: cfg.nic.mac,
          address: cfg.nic.address,
          prefix: cfg.nic.prefix,
          gateway: cfg.nic.gateway,
          rssTableSize: cfg.nic.rssTableSize,
          tag: cfg.name.replace(/[^a-z0-9]/g, '').slice(0, 12) || 'dp',
        }
      : undefined,
  });
  const appOut = o.appOut ?? ((l: string) => process.stdout.write(`${l}\n`));
  m.on('log', (cpu, line) => {
    if (line.startsWith('\x01')) appOut(`[${cfg.name} core ${cpu}] ${line.slice(1)}`);
    else log.debug({ cpu }, `guest: ${line}`);
  });
  m.on('app-exit', (cpu, status) => log.info({ cpu, status }, `app on core ${cpu} exited with status ${status}`));
  m.on('app-fault', (f) =>
    log.error(
      { cpu: f.cpu, kind: f.kind, rip: f.rip, symbol: f.symbol, addr: f.addr, error: f.errorCode, regs: f.regs },
      `app on core ${f.cpu} stopped: ${f.kind} at ${f.rip}${f.symbol ? ` (${f.symbol})` : ''}, address ${f.addr}`,
    ),
  );
  m.on('warning', (w) => log.warn(w));

  await m.start();
  log.info({ kernel: kernelPath, app: cfg.app.path, tscKhz: m.tscKhz }, 'memory, kernel and app loaded');
  if (m.nic) {
    const n = m.nic;
    const where = n.netns ? ` in namespace ${n.netns.name}` : '';
    log.info(
      { tap: n.tapName, netns: n.netns?.name ?? null, address: `${cfg.nic!.address}/${cfg.nic!.prefix}`, peer: n.peerAddress, queues: cfg.cores.count },
      `NIC up: ${cfg.nic!.address} on ${n.tapName}${where}` + (n.netns ? ` (Linux side ${n.peerAddress}; try: ip netns exec ${n.netns.name} ping ${cfg.nic!.address})` : ''),
    );
  }
  let started = 0;
  const hostCpus: number[][] = [];
  m.on('started', (cpu, _t, affinity) => {
    hostCpus[cpu] = affinity;
    if (++started === cfg.cores.count)
      log.info({ cores: cfg.cores.count, pinned: cfg.cores.cpus !== null, hostCpus }, `${cfg.cores.count} cores started`);
  });

  const onSignal = (sig: NodeJS.Signals) => {
    log.info({ signal: sig }, 'stopping');
    void m.stop(`stopped by ${sig}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let res: MachineResult;
  try {
    res = await m.wait();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const reports = m.cpuReports();
  const r0 = reports[0];
  const since = o.startedWallMs ?? performance.timeOrigin;
  const st = r0 && r0.selftestIters > 0n && m.tscKhz ? Number(r0.selftestCycles) / m.tscKhz / 1000 : null;
  return {
    ...res,
    firstAppInstructionMs: m.firstAppInstructionMs(since),
    firstAppInstructionWallMs: m.firstAppInstructionMs(0),
    platform: r0?.platform ?? 'unknown',
    cores: reports.map((r) => ({
      cpu: r.cpu,
      rxFrames: Number(r.rxFrames),
      txFrames: Number(r.txFrames),
      events: Number(r.events),
      bpolls: Number(r.bpollCalls),
      calls: Number(r.callsExecuted),
    })),
    selftestSeconds: st,
  };
}
