/**
 * A dataplane guest: one KVM VM with its memory, kernel, app and one worker thread per vCPU.
 * The main thread owns the lifecycle, drains the guest's log rings and turns worker messages
 * into events (DESIGN.md §3, §4, §9).
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { takeVcpuWorkers } from './worker-pool.js';
import { performance } from 'node:perf_hooks';
import { Kvm, type Vm, type Vcpu } from '../kvm/index.js';
import * as libc from '../sys/libc.js';
import { BootInfo, CoreStats, CpuStatus, FAULT_KINDS, PLATFORM_NAMES, BOOT_SELFTEST_LOOP, BOOT_SELFTEST_SHORT } from './abi.js';
import { BOOTINFO_GPA, LOG_RINGS_GPA, LOG_RING_SIZE, PGD_GPA, prepareGuest } from './boot.js';
import { ElfImage } from './elf.js';
import { LogDrain } from './logdrain.js';
import type { NicPlan } from '../nic/plan.js';
import { attachDataplaneNic, NIC_NOTIFY_PORT, NIC_RING_RESERVE, type AttachedNic } from './nic.js';
import {
  CTRL_CELLS, CTRL_LOG_SEQ, CTRL_STOP, CTRL_TID, EXIT_CELLS, EXIT_HALT, EXIT_HYPERCALL, EXIT_KICK, EXIT_TOTAL, type FaultReport, type WorkerMessage,
} from './messages.js';

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
  protection: 'ring3' | 'none';
  appStackSize?: number;
  appHeapSize?: number;
  appSharedSize?: number;
  /** the NIC, if the dataplane has one */
  nic?: NicPlan;
  /** run the boot self-test loop (proves native execution): 1e9 iterations, or 1e8 for 'short' */
  selftest?: boolean | 'short';
}

export interface AppFault {
  cpu: number;
  kind: string;
  vector: number;
  rip: string;
  symbol: string | null;
  addr: string;
  errorCode: string;
  regs: Record<string, string>;
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

export interface CpuReport {
  cpu: number;
  platform: string;
  state: number;
  tscKernelEntry: bigint;
  tscNative: bigint;
  tscAppEntry: bigint;
  selftestCycles: bigint;
  selftestIters: bigint;
  bpollCalls: bigint;
  callsExecuted: bigint;
  /** dataplane counters (ix/stats.h); zero without a NIC */
  rxFrames: bigint;
  txFrames: bigint;
  events: bigint;
  tcpConns: bigint;
}

/** One core's dataplane counters (guest/include/ix/stats.h), as read from shared memory. */
/** How often KVM_RUN returned to a vCPU's worker, by reason (`other`: the rest, e.g. EINTR). */
export interface VcpuExitCounts {
  total: number;
  hypercall: number;
  kick: number;
  halt: number;
}

export interface CoreStatsSample {
  cpu: number;
  rxFrames: bigint;
  txFrames: bigint;
  rxBytes: bigint;
  txBytes: bigint;
  loops: bigint;
  /** loop iterations by frames received: 0, 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+ */
  rxBatches: bigint[];
  bpolls: bigint;
  calls: bigint;
  events: bigint;
  drops: bigint;
  /** gauge */
  tcpConns: bigint;
  busyCycles: bigint;
  idleCycles: bigint;
  halts: bigint;
  tsc: bigint;
  /** host side: returns from KVM_RUN on this vCPU (src/vmm/messages.ts EXIT_*) */
  exits: VcpuExitCounts;
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
  private workers: Worker[] = [];
  private memAddr: libc.Addr = 0;
  private mem!: DataView;
  private drain!: LogDrain;
  private drainTimer: NodeJS.Timeout | null = null;
  private readonly control: Int32Array;
  private readonly exits: Float64Array;
  private readonly outcomes: CpuOutcome[];
  private readonly halted: boolean[];
  private finished: Promise<MachineResult>;
  private finish!: (r: MachineResult) => void;
  private done = false;
  private warned = new Set<string>();
  private finalReports: CpuReport[] = [];
  /** wall-clock ms (performance.timeOrigin based) of each vCPU's first KVM_RUN */
  readonly firstRunWallMs: number[] = [];
  tscKhz = 0;

  constructor(readonly opts: MachineOptions) {
    super();
    this.kernel = ElfImage.load(opts.kernelPath);
    this.app = ElfImage.load(opts.appPath);
    this.control = new Int32Array(new SharedArrayBuffer(opts.ncpus * CTRL_CELLS * 4));
    this.exits = new Float64Array(new SharedArrayBuffer(opts.ncpus * EXIT_CELLS * 8));
    this.outcomes = Array.from({ length: opts.ncpus }, () => ({ state: 'running' }) as CpuOutcome);
    this.halted = new Array<boolean>(opts.ncpus).fill(false);
    this.finished = new Promise((res) => (this.finish = res));
  }

  /** the attached NIC (after start) */
  nic: AttachedNic | null = null;
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
    this.memAddr = libc.mapAnon(o.memBytes, { shared: true, noreserve: true });
    this.mem = new DataView(libc.view(this.memAddr, o.memBytes));
    const u8 = new Uint8Array(this.mem.buffer, this.mem.byteOffset, this.mem.byteLength);
    this.vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(o.memBytes), userspaceAddr: BigInt(this.memAddr) });

    const cpuid = this.kvm.supportedCpuid();
    for (let i = 0; i < o.ncpus; i++) {
      const v = this.vm.createVcpu(i);
      this.vcpus.push(v);
      v.setCpuid(cpuid);
    }
    this.tscKhz = this.vcpus[0]!.getTscKhz();
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
      reserveBytes: o.nic ? NIC_RING_RESERVE : 0,
    });
    if (o.nic) {
      this.nic = await attachDataplaneNic(o.nic, { base: this.memAddr, size: o.memBytes, view: this.mem }, plan.reserved, o.ncpus, (m) =>
        this.emit('warning', `nic: ${m}`),
      );
      // The guest's kick (`outl` to the notify port) goes straight to the backend's eventfd
      // in the host kernel. Without ioeventfd support the vCPU worker forwards it instead.
      try {
        this.vm.ioeventfdPio(NIC_NOTIFY_PORT, 4, this.nic.handle.kickFd);
        this.kicksInKernel = true;
      } catch (e) {
        this.emit('warning', `nic: guest kicks go through user space (KVM_IOEVENTFD failed: ${(e as Error).message})`);
      }
    }
    this.vcpus.forEach((v, i) => this.initialState(v, i));
    this.drain = new LogDrain(this.mem, LOG_RINGS_GPA, LOG_RING_SIZE, o.ncpus, (cpu, line) => this.emit('log', cpu, line));
    this.drainTimer = setInterval(() => this.drain.drain(), 10);

    const workers = takeVcpuWorkers(o.ncpus);
    this.vcpus.forEach((v, i) => {
      const w = workers[i]!;
      w.postMessage({
        type: 'go',
        data: {
          cpu: i,
          vmFd: this.vm!.fd,
          vcpuFd: v.fd,
          vcpuMmapSize: this.kvm!.vcpuMmapSize(),
          memBase: this.memAddr,
          memSize: o.memBytes,
          pinCpu: o.pinCpus ? o.pinCpus[i]! : null,
          control: this.control.buffer,
          exits: this.exits.buffer as SharedArrayBuffer,
          nic: this.nic
            ? { wakeCounters: this.nic.handle.wakeCounters.buffer as SharedArrayBuffer, rx: this.nic.rx[i]!, kickFd: this.nic.handle.kickFd, notifyPort: this.nic.notifyPort }
            : null,
        },
      });
      w.on('message', (m: WorkerMessage) => this.onMessage(m));
      w.on('error', (e: Error) => this.crash(i, `vCPU worker failed: ${e.message}`));
      this.workers.push(w);
    });
  }

  private initialState(v: Vcpu, cpu: number): void {
    // 64-bit mode, paging on with the host-built direct map; see PVM.md §4 for why CR4 is
    // only PAE (the PVM CPUID has no PCID) and why CR3 bit 12 must be clear.
    const s = v.getSregs();
    const code = { base: 0n, limit: 0xffffffff, selector: 0x10, type: 11, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0 };
    const data = { base: 0n, limit: 0xffffffff, selector: 0x18, type: 3, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 };
    s.cs = { ...s.cs, ...code };
    s.ds = { ...s.ds, ...data };
    s.es = { ...s.es, ...data };
    s.fs = { ...s.fs, ...data };
    s.gs = { ...s.gs, ...data };
    s.ss = { ...s.ss, ...data };
    s.tr = { ...s.tr, base: 0n, limit: 0x67, selector: 0, type: 11, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0 };
    s.ldt = { ...s.ldt, base: 0n, limit: 0xffff, selector: 0, type: 2, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0 };
    s.cr0 = 0x80050033n;
    s.cr4 = 0x20n;
    s.cr3 = BigInt(PGD_GPA);
    s.efer = 0xd01n;
    v.setSregs(s);
    const r = v.getRegs();
    for (const k of Object.keys(r) as (keyof typeof r)[]) r[k] = 0n;
    r.rip = this.kernel.entry;
    r.rdi = BigInt(BOOTINFO_GPA);
    r.rsi = BigInt(cpu);
    r.rflags = 2n;
    v.setRegs(r);
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
        const f = this.describeFault(m.cpu, m.fault);
        this.outcomes[m.cpu] = { state: 'faulted', fault: f };
        this.emit('app-fault', f);
        this.check();
        break;
      }
      case 'log-kick':
        this.drain.drainOne(m.cpu);
        Atomics.add(this.control, m.cpu * CTRL_CELLS + CTRL_LOG_SEQ, 1);
        Atomics.notify(this.control, m.cpu * CTRL_CELLS + CTRL_LOG_SEQ);
        break;
      case 'halted':
        this.halted[m.cpu] = true;
        this.check();
        break;
      case 'stopped':
        break;
      case 'panic':
        this.drain.drain(true);
        this.crash(m.cpu, `kernel panic: ${this.symbolizeText(m.message)}`);
        break;
      case 'crash': {
        this.drain.drain(true);
        const rip = m.regs?.rip;
        const sym = rip ? this.symbolize(BigInt(rip)) : null;
        const regs = m.regs ? ' ' + Object.entries(m.regs).map(([k, v]) => `${k}=${v}`).join(' ') : '';
        this.crash(m.cpu, `${m.reason}${sym ? ` at ${sym}` : ''}${regs}`);
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

  private symbolize(addr: bigint): string | null {
    return this.app.symbolize(addr) ?? this.kernel.symbolize(addr);
  }

  private symbolizeText(msg: string): string {
    return msg.replace(/rip ([0-9a-f]+)/, (all, h: string) => {
      const s = this.symbolize(BigInt(`0x${h}`));
      return s ? `${all} (${s})` : all;
    });
  }

  private describeFault(cpu: number, f: FaultReport): AppFault {
    const rip = f.regs.rip ?? '0x0';
    return {
      cpu,
      kind: FAULT_KINDS[f.kind] ?? `fault kind ${f.kind}`,
      vector: f.vector,
      rip,
      symbol: this.app.symbolize(BigInt(rip)),
      addr: f.addr,
      errorCode: f.errorCode,
      regs: f.regs,
    };
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
    if (faulted) this.end(1, `no app left: ${faulted} of ${this.opts.ncpus} cores stopped their app after a fault`);
    else if (bad) this.end(1, `no app left: ${bad} of ${this.opts.ncpus} apps exited with a non-zero status`);
    else this.end(0, 'every app exited with status 0');
  }

  private end(exitCode: number, reason: string): void {
    if (this.done) return;
    this.done = true;
    void this.teardown().then(() => this.finish({ exitCode, reason, cpus: [...this.outcomes] }));
  }

  /** Per-CPU status the guest wrote into boot info. */
  cpuReports(): CpuReport[] {
    if (!this.memAddr) return this.finalReports;
    const out: CpuReport[] = [];
    for (let cpu = 0; cpu < this.opts.ncpus; cpu++) {
      const b = BOOTINFO_GPA + BootInfo.cpu + cpu * CpuStatus.size;
      const g64 = (o: number) => this.mem.getBigUint64(b + o, true);
      const sb = BOOTINFO_GPA + BootInfo.stats + cpu * CoreStats.size;
      const s64 = (o: number) => this.mem.getBigUint64(sb + o, true);
      out.push({
        cpu,
        platform: PLATFORM_NAMES[this.mem.getUint32(b + CpuStatus.platform, true)] ?? 'unknown',
        state: this.mem.getUint32(b + CpuStatus.state, true),
        tscKernelEntry: g64(CpuStatus.tscKernelEntry),
        tscNative: g64(CpuStatus.tscNative),
        tscAppEntry: g64(CpuStatus.tscAppEntry),
        selftestCycles: g64(CpuStatus.selftestCycles),
        selftestIters: g64(CpuStatus.selftestIters),
        bpollCalls: g64(CpuStatus.bpollCalls),
        callsExecuted: g64(CpuStatus.callsExecuted),
        rxFrames: s64(CoreStats.rxFrames),
        txFrames: s64(CoreStats.txFrames),
        events: s64(CoreStats.events),
        tcpConns: s64(CoreStats.tcpConns),
      });
    }
    return out;
  }

  /** Per-core dataplane counters the guest keeps in boot info (no exits: a plain read of
   * shared memory; a counter may be mid-update, which only matters within one sample).
   * Empty once the machine is torn down. */
  coreStats(): CoreStatsSample[] {
    if (!this.memAddr) return [];
    const out: CoreStatsSample[] = [];
    for (let cpu = 0; cpu < this.opts.ncpus; cpu++) {
      const b = BOOTINFO_GPA + BootInfo.stats + cpu * CoreStats.size;
      const g = (o: number) => this.mem.getBigUint64(b + o, true);
      out.push({
        cpu,
        rxFrames: g(CoreStats.rxFrames),
        txFrames: g(CoreStats.txFrames),
        rxBytes: g(CoreStats.rxBytes),
        txBytes: g(CoreStats.txBytes),
        loops: g(CoreStats.loops),
        rxBatches: Array.from({ length: (CoreStats.bpolls - CoreStats.rxBatches) / 8 }, (_, i) => g(CoreStats.rxBatches + 8 * i)),
        bpolls: g(CoreStats.bpolls),
        calls: g(CoreStats.calls),
        events: g(CoreStats.events),
        drops: g(CoreStats.drops),
        tcpConns: g(CoreStats.tcpConns),
        busyCycles: g(CoreStats.busyCycles),
        idleCycles: g(CoreStats.idleCycles),
        halts: g(CoreStats.halts),
        tsc: g(CoreStats.tsc),
        exits: {
          total: this.exits[cpu * EXIT_CELLS + EXIT_TOTAL]!,
          hypercall: this.exits[cpu * EXIT_CELLS + EXIT_HYPERCALL]!,
          kick: this.exits[cpu * EXIT_CELLS + EXIT_KICK]!,
          halt: this.exits[cpu * EXIT_CELLS + EXIT_HALT]!,
        },
      });
    }
    return out;
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
    for (let i = 0; i < this.opts.ncpus; i++) {
      Atomics.store(this.control, i * CTRL_CELLS + CTRL_STOP, 1);
      Atomics.notify(this.control, i * CTRL_CELLS + CTRL_STOP);
    }
    // A worker inside KVM_RUN leaves it on a signal (EINTR) with immediate_exit set.
    process.on('SIGUSR2', noop);
    for (let i = 0; i < this.vcpus.length; i++) {
      this.vcpus[i]!.setImmediateExit(true);
      const tid = Atomics.load(this.control, i * CTRL_CELLS + CTRL_TID);
      if (tid > 0) {
        try {
          libc.tgkill(process.pid, tid, 'SIGUSR2');
        } catch {
          // the worker already left KVM_RUN and exited
        }
      }
    }
    await Promise.all(
      this.workers.map(
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
    if (this.nic) {
      await this.nic.close().catch((e: Error) => this.emit('warning', `nic: stopping the backend failed: ${e.message}`));
    }
    for (const v of this.vcpus) v.close();
    this.vm?.close();
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
