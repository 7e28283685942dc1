/**
 * A dataplane guest: one KVM VM with its memory, kernel, app and one worker thread per vCPU.
 * The main thread owns the lifecycle, drains the guest's log rings and turns worker messages
 * into events (docs/architecture.md). Set-up details live beside it: initial vCPU state
 * (vcpu-init.ts), boot loading (boot.ts), fault symbolisation (symbols.ts), statistics
 * decoding (guest-stats.ts).
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { takeVcpuWorkers } from './worker-pool.js';
import { performance } from 'node:perf_hooks';
import { KICK_SIGNAL, Kvm, type Vm, type Vcpu } from '../kvm/index.js';
import * as libc from '../sys/libc.js';
import { BOOT_SELFTEST_LOOP, BOOT_SELFTEST_SHORT, BootInfo, WAKE, CPU_STATE, CpuStatus, readField1, VCPU_CTRL, VCPU_EXIT_CELLS, type ProtectionMode } from '../abi/index.js';
import { BOOTINFO_GPA, LOG_RINGS_GPA, LOG_RING_SIZE, prepareGuest, xskWindow } from './boot.js';
import { readCoreStats, readCpuReports, type CoreStatsSample, type CpuReport } from './guest-stats.js';
import { Symbolizer, VCPU_CRASH_KIND, type AppFault } from './symbols.js';
import { setInitialState } from './vcpu-init.js';
import { ElfImage } from './elf.js';
import { LogDrain } from './logdrain.js';
import type { NicPlan } from '../nic/plan.js';
import { attachDataplaneNic, mapXskRings, NIC_NOTIFY_PORT, NIC_RING_RESERVE, unmapXskRings, type AttachedNic } from './nic.js';
import type { WorkerMessage } from './messages.js';
import { IRQCHIP_EXPERIMENT, createExperimentIrqchip, startExperimentTicks } from './irqchip-experiment.js';
import { RunawayWatchdog, runawaySamplePeriodMs } from './runaway.js';
import { chooseWake, setupKernelWake, withTscDeadline, type KernelWake, type WakeChoice, type WakeSetting } from './wake.js';

export type { AppFault } from './symbols.js';
export type { CoreStatsSample, CpuReport } from './guest-stats.js';

export interface MachineOptions {
  kernelPath: string;
  appPath: string;
  appArgs: string[];
  ncpus: number;
  /** host CPU per vCPU, or null to let the host scheduler place them */
  pinCpus: number[] | null;
  memBytes: number;
  batch: number;
  idlePollUs: number;
  /** the configured boundary; the guest resolves 'auto' and refuses what its platform cannot enforce */
  protection: ProtectionMode;
  appStackSize?: number;
  appHeapSize?: number;
  appSharedSize?: number;
  /** TCP connections per dataplane core (config `[net] max_connections`; absent: the guest's default) */
  tcpMaxConns?: number;
  /** the NIC, if the dataplane has one */
  nic?: NicPlan;
  /** run the boot self-test loop (proves native execution): 1e9 iterations, or 1e8 for 'short' */
  selftest?: boolean | 'short';
  /** [app] max_run_ms: stop an app that runs this long without returning (0 or absent: never) */
  maxRunMs?: number;
  /** how an idle core is woken (config `wake`, docs/wake.md; absent: "auto") */
  wake?: WakeSetting;
  /** host-kernel halt polling in µs (config `halt_poll_us`; absent: the KVM module's default) */
  haltPollUs?: number | null;
  /** scheduler slice of the vCPU threads in µs (config `sched_slice_us`; 0 or absent: the kernel's) */
  schedSliceUs?: number;
}

export type CpuOutcome =
  | { state: 'running' }
  | { state: 'exited'; status: number }
  | { state: 'faulted'; fault: AppFault }
  | { state: 'crashed'; reason: string };

export interface MachineResult {
  /** 0 if every app exited 0 */
  exitCode: number;
  reason: string;
  cpus: CpuOutcome[];
}

export class MachineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MachineError';
  }
}

const DEFAULT_STACK = 256 * 1024;
const DEFAULT_HEAP = 4 * 1024 * 1024;

export declare interface Machine {
  on(e: 'log', l: (cpu: number, line: string) => void): this;
  on(e: 'app-exit', l: (cpu: number, status: number) => void): this;
  on(e: 'app-fault', l: (f: AppFault) => void): this;
  on(e: 'warning', l: (message: string) => void): this;
  on(e: 'started', l: (cpu: number, firstRunWallMs: number, hostCpus: number[]) => void): this;
}

export class Machine extends EventEmitter {
  readonly kernel: ElfImage;
  readonly app: ElfImage;
  private kvm: Kvm | null = null;
  private vm: Vm | null = null;
  private vcpus: Vcpu[] = [];
  private stopExperiment: (() => void) | null = null;
  private kernelWake: KernelWake | null = null;
  /** the wake path chosen at start (docs/wake.md) */
  wake: WakeChoice = { mode: 'user', reason: 'not started' };
  private workers: Worker[] = [];
  private readonly workersGone = new Set<Worker>();
  private memAddr: libc.Addr = 0;
  private mem!: DataView;
  private drain!: LogDrain;
  private drainTimer: NodeJS.Timeout | null = null;
  private runawayTimer: NodeJS.Timeout | null = null;
  private readonly control: Int32Array;
  private readonly exits: Float64Array;
  private readonly outcomes: CpuOutcome[];
  private readonly halted: boolean[];
  private finished: Promise<MachineResult>;
  private finish!: (r: MachineResult) => void;
  private done = false;
  private warned = new Set<string>();
  private finalReports: CpuReport[] = [];
  private readonly symbols: Symbolizer;
  /** wall-clock ms (performance.timeOrigin based) of each vCPU's first KVM_RUN */
  readonly firstRunWallMs: number[] = [];
  tscKhz = 0;

  constructor(readonly opts: MachineOptions) {
    super();
    this.kernel = ElfImage.load(opts.kernelPath);
    this.app = ElfImage.load(opts.appPath);
    this.symbols = new Symbolizer(this.kernel, this.app);
    this.control = new Int32Array(new SharedArrayBuffer(opts.ncpus * VCPU_CTRL.cells * 4));
    this.exits = new Float64Array(new SharedArrayBuffer(opts.ncpus * VCPU_EXIT_CELLS * 8));
    this.outcomes = Array.from({ length: opts.ncpus }, () => ({ state: 'running' }) as CpuOutcome);
    this.halted = new Array<boolean>(opts.ncpus).fill(false);
    this.finished = new Promise((res) => (this.finish = res));
  }

  /** the attached NIC (after start) */
  nic: AttachedNic | null = null;
  /** KVM memory slots of the AF_XDP rings (xdp_rings "guest") */
  private xskSlots: number[] = [];
  /** guest kicks signal the NIC backend in the host kernel (KVM_IOEVENTFD), not through the vCPU worker */
  kicksInKernel = false;

  /** Create the VM, load everything, attach the NIC and start every vCPU. */
  async start(): Promise<void> {
    try {
      await this.setup();
    } catch (e) {
      this.done = true;
      await this.teardown();
      throw e;
    }
  }

  private async setup(): Promise<void> {
    const o = this.opts;
    this.kvm = Kvm.open();
    this.vm = this.kvm.createVm();
    this.wake = chooseWake(o.wake ?? 'auto', this.kvm, { hasNic: o.nic !== undefined });
    if (this.wake.mode === 'kernel') {
      try {
        this.vm.createIrqchip(); // before the vCPUs: they get an in-kernel LAPIC
      } catch (e) {
        if (o.wake === 'kernel') throw e;
        this.wake = { mode: 'user', reason: `auto: KVM_CREATE_IRQCHIP failed (${(e as Error).message})` };
      }
    }
    // Experiment only (docs/wake.md): an in-kernel irqchip changes where an idle HLT waits.
    else if (IRQCHIP_EXPERIMENT) createExperimentIrqchip(this.vm);
    this.memAddr = libc.mapAnon(o.memBytes, { shared: true, noreserve: true });
    this.mem = new DataView(libc.view(this.memAddr, o.memBytes));
    const u8 = new Uint8Array(this.mem.buffer, this.mem.byteOffset, this.mem.byteLength);
    this.vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(o.memBytes), userspaceAddr: BigInt(this.memAddr) });

    const supported = this.kvm.supportedCpuid();
    const cpuid = this.wake.mode === 'kernel' ? withTscDeadline(supported, this.kvm) : supported;
    for (let i = 0; i < o.ncpus; i++) {
      const v = this.vm.createVcpu(i);
      this.vcpus.push(v);
      v.setCpuid(cpuid);
    }
    if (this.wake.mode === 'kernel') this.kernelWake = setupKernelWake(this.vm, this.vcpus, o.haltPollUs ?? null);
    else if (IRQCHIP_EXPERIMENT) this.stopExperiment = startExperimentTicks(this.vm, this.vcpus);
    this.tscKhz = this.vcpus[0]!.getTscKhz();
    // xdp_rings "guest": the AF_XDP rings become memory slots in a window above RAM (docs/nic.md)
    const xskWin = o.nic?.xdp?.rings === 'guest' ? xskWindow(o.memBytes) : undefined;
    const plan = prepareGuest(this.mem, u8, this.kernel, this.app, {
      memBytes: o.memBytes,
      ncpus: o.ncpus,
      tscKhz: this.tscKhz,
      batch: o.batch,
      idlePollUs: o.idlePollUs,
      protection: o.protection,
      flags: o.selftest === 'short' ? BOOT_SELFTEST_SHORT : o.selftest ? BOOT_SELFTEST_LOOP : 0,
      appArgs: [this.app.path.split('/').pop() ?? 'app', ...o.appArgs],
      appStackSize: o.appStackSize ?? DEFAULT_STACK,
      appHeapSize: o.appHeapSize ?? DEFAULT_HEAP,
      appSharedSize: o.appSharedSize ?? 0,
      maxRunMs: o.maxRunMs ?? 0,
      tcpMaxConns: o.tcpMaxConns ?? 0,
      wake: WAKE[this.wake.mode],
      reserveBytes: o.nic ? NIC_RING_RESERVE : 0,
      ...(xskWin ? { extraWindow: xskWin } : {}),
    });
    if (o.nic) {
      this.nic = await attachDataplaneNic(
        o.nic,
        { base: this.memAddr, size: o.memBytes, view: this.mem },
        plan.reserved,
        o.ncpus,
        (m) => this.emit('warning', `nic: ${m}`),
        this.kernelWake?.wakeFds,
        xskWin,
      );
      this.xskSlots = mapXskRings(this.vm, this.nic, this.mem);
      // The guest's kick (`outl` to the notify port) goes straight to the backend's eventfd
      // in the host kernel. Without ioeventfd support the vCPU worker forwards it instead.
      try {
        this.vm.ioeventfdPio(NIC_NOTIFY_PORT, 4, this.nic.handle.kickFd);
        this.kicksInKernel = true;
      } catch (e) {
        this.emit('warning', `nic: guest kicks go through user space (KVM_IOEVENTFD failed: ${(e as Error).message})`);
      }
    }
    this.vcpus.forEach((v, i) => setInitialState(v, this.kernel.entry, i));
    this.drain = new LogDrain(this.mem, LOG_RINGS_GPA, LOG_RING_SIZE, o.ncpus, (cpu, line) => this.emit('log', cpu, line));
    this.drainTimer = setInterval(() => this.drain.drain(), 10);
    if (o.maxRunMs) this.startRunawayWatchdog(o.maxRunMs);

    const workers = takeVcpuWorkers(o.ncpus);
    this.vcpus.forEach((v, i) => {
      const w = workers[i]!;
      w.postMessage({
        type: 'go',
        data: {
          cpu: i,
          vmFd: this.vm!.fd,
          kernelWake: this.kernelWake !== null,
          vcpuFd: v.fd,
          vcpuMmapSize: this.kvm!.vcpuMmapSize(),
          memBase: this.memAddr,
          memSize: o.memBytes,
          pinCpu: o.pinCpus ? o.pinCpus[i]! : null,
          sliceUs: o.schedSliceUs ?? 0,
          control: this.control.buffer,
          exits: this.exits.buffer as SharedArrayBuffer,
          nic: this.nic
            ? {
                wakeCounters: this.nic.handle.wakeCounters.buffer as SharedArrayBuffer, rx: this.nic.rx[i]!, kickFd: this.nic.handle.kickFd, notifyPort: this.nic.notifyPort,
                ...(this.nic.handle.xsk ? { xskRx: this.nic.handle.xsk.rx[i]! } : {}),
              }
            : null,
        },
      });
      w.on('message', (m: WorkerMessage) => this.onMessage(m));
      w.on('error', (e: Error) => this.crash(i, `vCPU worker failed: ${e.message}`));
      w.once('exit', () => this.workersGone.add(w)); // a crashed vCPU's worker ends before teardown
      this.workers.push(w);
    });
  }

  private onMessage(m: WorkerMessage): void {
    switch (m.type) {
      case 'started':
        this.firstRunWallMs[m.cpu] = m.firstRunWallMs;
        this.emit('started', m.cpu, m.firstRunWallMs, m.affinity);
        break;
      case 'app-exit':
        this.drain.drainOne(m.cpu, true);
        this.outcomes[m.cpu] = { state: 'exited', status: m.status };
        this.emit('app-exit', m.cpu, m.status);
        this.check();
        break;
      case 'app-fault': {
        this.drain.drainOne(m.cpu, true);
        const f = this.symbols.describeFault(m.cpu, m.fault);
        this.outcomes[m.cpu] = { state: 'faulted', fault: f };
        this.emit('app-fault', f);
        this.check();
        break;
      }
      case 'log-kick':
        this.drain.drainOne(m.cpu);
        Atomics.add(this.control, m.cpu * VCPU_CTRL.cells + VCPU_CTRL.logSeq, 1);
        Atomics.notify(this.control, m.cpu * VCPU_CTRL.cells + VCPU_CTRL.logSeq);
        break;
      case 'halted':
        this.halted[m.cpu] = true;
        this.check();
        break;
      case 'stopped':
        break;
      case 'panic':
        this.drain.drain(true);
        this.crash(m.cpu, `kernel panic: ${this.symbols.annotate(m.message)}`);
        break;
      case 'refused':
        // every CPU refuses alike: the first one ends the run, with the guest's reason
        this.end(1, m.message);
        break;
      case 'crash': {
        this.drain.drain(true);
        const report = this.cpuReports()[m.cpu];
        if (m.shutdown && report?.protection === 'pvm-host-switch' && report.state === CPU_STATE.running) {
          // Under this boundary an app can crash its own vCPU (a frame pushed to an unmapped
          // stack ends in a triple fault): its core is lost, the others go on.
          const f = this.symbols.describeCrash(m.cpu, m.regs, report.protection);
          this.outcomes[m.cpu] = { state: 'faulted', fault: f };
          this.halted[m.cpu] = true;
          this.emit('app-fault', f);
          this.check();
          break;
        }
        this.crash(m.cpu, this.symbols.crash(m.reason, m.regs));
        break;
      }
      case 'bad-exit':
        if (!this.warned.has(m.what)) {
          this.warned.add(m.what);
          this.emit('warning', `cpu${m.cpu}: ${m.what}`);
        }
        break;
    }
  }

  /**
   * Sample every CPU's app_since stamp (runaway.ts) and kick the vCPU of an app that has
   * run max_run_ms without returning; its worker injects the runaway interrupt.
   */
  private startRunawayWatchdog(maxRunMs: number): void {
    const dog = new RunawayWatchdog(this.opts.ncpus, maxRunMs);
    process.on(KICK_SIGNAL, noop); // the kick must interrupt KVM_RUN, not end the process
    this.runawayTimer = setInterval(() => {
      if (this.done || !this.memAddr) return;
      // two loads per CPU from its status; 0 = the kernel runs (or, under "none", no stamps)
      const stamps = Array.from({ length: this.opts.ncpus }, (_, cpu) => {
        const at = BOOTINFO_GPA + BootInfo.at.cpu + cpu * CpuStatus.size;
        return readField1(CpuStatus, this.mem, at, 'state') === CPU_STATE.running ? readField1(CpuStatus, this.mem, at, 'appSince') : 0n;
      });
      for (const run of dog.sample(stamps, performance.now())) {
        const base = run.cpu * VCPU_CTRL.cells;
        Atomics.store(this.control, base + VCPU_CTRL.runawayStamp, Number(run.stamp & 0xffffffffn) | 0);
        Atomics.store(this.control, base + VCPU_CTRL.runaway, 1);
        const tid = Atomics.load(this.control, base + VCPU_CTRL.tid);
        if (tid <= 0) continue;
        try {
          this.vcpus[run.cpu]?.kick(tid);
        } catch {
          // the worker already left (its vCPU crashed): nothing to stop
        }
      }
    }, runawaySamplePeriodMs(maxRunMs));
  }

  private crash(cpu: number, reason: string): void {
    if (this.outcomes[cpu]?.state === 'running') this.outcomes[cpu] = { state: 'crashed', reason };
    this.end(1, `cpu${cpu}: ${reason}`);
  }

  /** All apps gone and their cores idle: the run is over. */
  private check(): void {
    if (this.done) return;
    if (this.outcomes.some((o) => o.state === 'running') || this.halted.some((h) => !h)) return;
    const faulted = this.outcomes.filter((o) => o.state === 'faulted').length;
    const bad = this.outcomes.filter((o) => o.state === 'exited' && o.status !== 0).length;
    const crashed = this.outcomes.filter((o) => o.state === 'faulted' && o.fault.kind === VCPU_CRASH_KIND).length;
    const lost = crashed ? ` (${crashed} by crashing its vCPU, which protection "pvm-host-switch" cannot prevent)` : '';
    if (faulted) this.end(1, `no app left: ${faulted} of ${this.opts.ncpus} cores stopped their app after a fault${lost}`);
    else if (bad) this.end(1, `no app left: ${bad} of ${this.opts.ncpus} apps exited with a non-zero status`);
    else this.end(0, 'every app exited with status 0');
  }

  private end(exitCode: number, reason: string): void {
    if (this.done) return;
    this.done = true;
    void this.teardown().then(() => this.finish({ exitCode, reason, cpus: [...this.outcomes] }));
  }

  /** Per-CPU status the guest wrote into boot info (the last one read once torn down). */
  cpuReports(): CpuReport[] {
    return this.memAddr ? readCpuReports(this.mem, this.opts.ncpus) : this.finalReports;
  }

  /** Per-core dataplane counters the guest keeps in boot info (no exits). Empty once the
   * machine is torn down. */
  coreStats(): CoreStatsSample[] {
    return this.memAddr ? readCoreStats(this.mem, this.exits, this.opts.ncpus) : [];
  }

  /** Guest memory from guest-physical 0 while the machine runs (the elastic cores' control
   * cells live in its boot info page), null once it is torn down. */
  guestView(): DataView | null {
    return this.memAddr ? this.mem : null;
  }

  /** Interrupt a core halted in the host kernel (wake = "kernel"), as a frame for its queue
   * would; with the user-space path the NIC wake counter does this instead. */
  wakeCoreInKernel(core: number): void {
    this.kernelWake?.wakeCore(core);
  }

  /** Resolves when the run is over (all apps gone, a crash, or stop()). */
  wait(): Promise<MachineResult> {
    return this.finished;
  }

  /** Stop every vCPU now. */
  stop(reason = 'stopped by request'): Promise<MachineResult> {
    // a clean stop of a dataplane whose apps are still serving is a success
    const ok = this.outcomes.every((o) => o.state === 'running' || (o.state === 'exited' && o.status === 0));
    this.end(ok ? 0 : 1, reason);
    return this.finished;
  }

  private async teardown(): Promise<void> {
    if (this.runawayTimer) {
      clearInterval(this.runawayTimer);
      this.runawayTimer = null;
      process.off(KICK_SIGNAL, noop);
    }
    this.stopExperiment?.();
    this.stopExperiment = null;
    for (let i = 0; i < this.opts.ncpus; i++) {
      Atomics.store(this.control, i * VCPU_CTRL.cells + VCPU_CTRL.stop, 1);
      Atomics.notify(this.control, i * VCPU_CTRL.cells + VCPU_CTRL.stop);
    }
    // A worker inside KVM_RUN leaves it on a signal (EINTR) with immediate_exit set.
    process.on('SIGUSR2', noop);
    for (let i = 0; i < this.vcpus.length; i++) {
      this.vcpus[i]!.setImmediateExit(true);
      const tid = Atomics.load(this.control, i * VCPU_CTRL.cells + VCPU_CTRL.tid);
      if (tid > 0) {
        try {
          libc.tgkill(process.pid, tid, 'SIGUSR2');
        } catch {
          // the worker already left KVM_RUN and exited
        }
      }
    }
    await Promise.all(
      this.workers.filter((w) => !this.workersGone.has(w)).map(
        (w) =>
          new Promise<void>((res) => {
            const t = setTimeout(() => void w.terminate().then(() => res()), 2000);
            w.once('exit', () => {
              clearTimeout(t);
              res();
            });
          }),
      ),
    );
    process.off('SIGUSR2', noop);
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.drain?.drain(true);
    if (this.vm && this.xskSlots.length > 0) {
      try {
        unmapXskRings(this.vm, this.xskSlots);
      } catch (e) {
        this.emit('warning', `nic: removing the AF_XDP ring memory slots failed: ${(e as Error).message}`);
      }
    }
    if (this.nic) {
      await this.nic.close().catch((e: Error) => this.emit('warning', `nic: stopping the backend failed: ${e.message}`));
    }
    for (const v of this.vcpus) v.close();
    this.vm?.close();
    this.kernelWake?.close(); // after the backend stopped writing them and the VM let go of its irqfds
    this.kernelWake = null;
    this.kvm?.close();
    this.vcpus = [];
    this.vm = null;
    this.kvm = null;
    if (this.memAddr) {
      this.finalReports = this.cpuReports();
      libc.unmap(this.memAddr, this.opts.memBytes);
    }
    this.memAddr = 0;
  }

  /** Milliseconds since `sinceWallMs` until the first app instruction on cpu 0, derived from
   * the host time of the first KVM_RUN plus the guest's TSC from kernel entry to app entry. */
  firstAppInstructionMs(sinceWallMs: number): number | null {
    const r = this.cpuReports()[0];
    const t = this.firstRunWallMs[0];
    if (!r || t === undefined || !r.tscAppEntry || !this.tscKhz) return null;
    return t - sinceWallMs + Number(r.tscAppEntry - r.tscKernelEntry) / this.tscKhz;
  }
}

function noop(): void {}
export { performance };
