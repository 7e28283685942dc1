/**
 * Does this host's KVM let an idle vCPU sleep inside the host kernel, and wake it from an
 * eventfd? (docs/wake.md). A tiny 16-bit real-mode guest programs an interrupt controller,
 * points an IVT entry at a handler, and loops `incw halts; sti; hlt`. Its handler reports
 * with an OUT to REPORT_PORT, the only exit user space sees when everything stays in-kernel.
 *
 * Modes (the route an interrupt takes from the host to the halted vCPU):
 *   'user'  no in-kernel irqchip: HLT returns KVM_EXIT_HLT, the vCPU thread sleeps on a
 *           futex, the main thread rings it, the thread injects with KVM_INTERRUPT: the path
 *           src/vmm uses today, for comparison.
 *   'pic'   KVM_CREATE_IRQCHIP; the guest programs the in-kernel 8259 (vectors 0x20-0x27,
 *           IR5 unmasked); an eventfd bound with KVM_IRQFD to GSI 5. The BSP's LAPIC is
 *           software-disabled after reset and passes PIC interrupts through (LVT0 = ExtINT).
 *   'msi'   KVM_CREATE_IRQCHIP, a GSI routed as an MSI to LAPIC 0 vector 0x30 (the route a
 *           NIC queue interrupt takes); the guest enables its LAPIC in x2APIC mode with WRMSR,
 *           which real mode allows. KVM injects MSI irqfds directly from the eventfd wake-up;
 *           PIC/IOAPIC routes go through a kernel worker thread first.
 *
 * On PVM hosts this guest runs in the host's instruction emulator (it never switches to PVM
 * native mode), which is enough to see where HLT sleeps; a native-mode guest may differ.
 * Everything is bounded by timeouts and the vCPU thread is always kicked out and joined.
 */
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { CAP, Kvm, installKickHandler, msiAddress, type Vcpu, type Vm } from '../kvm/index.js';
import * as libc from '../sys/libc.js';
import { workerScriptUrl } from '../sys/worker-url.js';
import { PROBE, type ProbeWorkerData } from './halt-probe-cells.js';

export type WakeRoute = 'user' | 'pic' | 'msi';

export interface HaltProbeOptions {
  route: WakeRoute;
  /** wake-ups to time (default 50) */
  samples?: number;
  /** KVM_CAP_HALT_POLL for the VM; absent = the kvm.halt_poll_ns module default */
  haltPollNs?: number;
  /** how long the guest stays halted before each wake-up (default 2 ms) */
  idleMs?: number;
  /** how long to watch the idle guest before the first wake-up (default 200 ms) */
  watchMs?: number;
}

export interface HaltProbeResult {
  route: WakeRoute;
  haltPollNs: number | null;
  /** KVM_EXIT_HLT exits user space saw from the start until the end of the watch */
  hltExitsWhileIdle: number;
  /** 'S' (sleeping) or 'R' (running) etc.: the vCPU thread's state at the end of watchMs */
  threadStateWhileIdle: string;
  /** the vCPU thread's CPU time during watchMs */
  idleCpuMs: number;
  /** HLT kept the vCPU inside KVM_RUN, asleep: no HLT exit and no CPU time */
  haltBlocksInKernel: boolean;
  /** wake-ups that reached the guest handler, of `samples` */
  delivered: number;
  samples: number;
  /** trigger (write to the eventfd, or the doorbell) -> handler's OUT exit in the vCPU thread, µs */
  wakeUs: { min: number; median: number; p90: number; max: number } | null;
  /** the vCPU thread's CPU time over the timed wake-ups, ms */
  loopCpuMs: number;
  loopMs: number;
  /** KVM_GET_MP_STATE after the thread was kicked out of a halt (HALTED when asleep in-kernel) */
  mpStateAfterKick: number | null;
  error: string | null;
}

// Guest code at 0x1000 (16-bit real mode, CS base 0); the handler at 0x1100.
const HALT_COUNT = 0x500; // u16: incremented before each hlt
const CODE = 0x1000;
const HANDLER = 0x1100;
const LOOP_HLT = [
  0xff, 0x06, 0x00, 0x05, //       loop: incw (0x500)
  0xfb, //                         sti
  0xf4, //                         hlt
  0xeb, 0xf8, //                   jmp loop
];
const PIC_GUEST = [
  0xb0, 0x11, 0xe6, 0x20, // ICW1: edge-triggered, cascaded, ICW4 follows
  0xb0, 0x20, 0xe6, 0x21, // ICW2: IR0-7 -> vectors 0x20-0x27
  0xb0, 0x04, 0xe6, 0x21, // ICW3: slave on IR2
  0xb0, 0x01, 0xe6, 0x21, // ICW4: 8086 mode, normal EOI
  0xb0, 0xdf, 0xe6, 0x21, // OCW1: mask all but IR5
  0xc7, 0x06, 0x94, 0x00, 0x00, 0x11, // movw $0x1100, IVT[0x25].offset
  0xc7, 0x06, 0x96, 0x00, 0x00, 0x00, // movw $0, IVT[0x25].segment
  ...LOOP_HLT,
];
const PIC_HANDLER = [
  0xff, 0x06, 0x02, 0x05, // incw (0x502)
  0xe6, 0x12, //             out %al,$0x12  (REPORT_PORT)
  0xb0, 0x20, 0xe6, 0x20, // non-specific EOI to the master PIC
  0xcf, //                   iret
];
const MSI_GUEST = [
  0x66, 0xb9, 0x1b, 0x00, 0x00, 0x00, 0x0f, 0x32, // rdmsr IA32_APIC_BASE
  0x66, 0x0d, 0x00, 0x0c, 0x00, 0x00, 0x0f, 0x30, // |= EN | EXTD (x2APIC); wrmsr
  0x66, 0xb9, 0x0f, 0x08, 0x00, 0x00, //           mov $0x80f,%ecx  (x2APIC SVR)
  0x66, 0xb8, 0xff, 0x01, 0x00, 0x00, //           mov $0x1ff,%eax  (software enable, spurious 0xff)
  0x66, 0x31, 0xd2, 0x0f, 0x30, //                 xor %edx,%edx; wrmsr
  0xc7, 0x06, 0xc0, 0x00, 0x00, 0x11, //           movw $0x1100, IVT[0x30].offset
  0xc7, 0x06, 0xc2, 0x00, 0x00, 0x00, //           movw $0, IVT[0x30].segment
  ...LOOP_HLT,
];
const MSI_HANDLER = [
  0xff, 0x06, 0x02, 0x05, //                        incw (0x502)
  0xe6, 0x12, //                                    out %al,$0x12  (REPORT_PORT)
  0x66, 0xb9, 0x0b, 0x08, 0x00, 0x00, //            mov $0x80b,%ecx (x2APIC EOI)
  0x66, 0x31, 0xc0, 0x66, 0x31, 0xd2, 0x0f, 0x30, // xor %eax,%eax; xor %edx,%edx; wrmsr
  0xcf, //                                          iret
];
const PIC_GSI = 5;
const PIC_VECTOR = 0x25;
const MSI_GSI = 24; // above the 24 default IOAPIC/PIC GSIs
const MSI_VECTOR = 0x30;
const MEM = 0x10000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** utime+stime of a thread of this process, in ms (from its schedstat: ns on a CPU). */
function threadCpuMs(tid: number): number {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

function threadState(tid: number): string {
  try {
    const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return '?';
  }
}

/** Resolves when ctl[cell] >= want, or false after timeoutMs. */
async function until(ctl: Int32Array, cell: number, want: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = Atomics.load(ctl, cell);
    if (v >= want) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(1); // polling: the timings are stamped by the vCPU thread, not here
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

interface Guest {
  kvm: Kvm;
  vm: Vm;
  vcpu: Vcpu;
  mem: number;
  u8: Uint8Array;
  efd: number;
}

function buildGuest(route: WakeRoute, haltPollNs: number | undefined): Guest {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  if (route !== 'user') vm.createIrqchip(); // before the vCPU
  if (haltPollNs !== undefined) vm.setHaltPollNs(haltPollNs);
  const mem = libc.mapAnon(MEM, { shared: true });
  const u8 = new Uint8Array(libc.view(mem, MEM));
  u8.set(route === 'msi' ? MSI_GUEST : PIC_GUEST, CODE);
  u8.set(route === 'msi' ? MSI_HANDLER : PIC_HANDLER, HANDLER);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(MEM), userspaceAddr: BigInt(mem) });
  const vcpu = vm.createVcpu(0);
  if (route === 'msi') vcpu.setCpuid(kvm.supportedCpuid()); // x2APIC must be in the guest's CPUID
  const s = vcpu.getSregs();
  s.cs = { ...s.cs, base: 0n, selector: 0 };
  vcpu.setSregs(s);
  const r = vcpu.getRegs();
  r.rip = BigInt(CODE);
  r.rflags = 2n;
  vcpu.setRegs(r);
  const efd = libc.makeEventfd();
  if (route === 'pic') vm.irqfd(PIC_GSI, efd);
  if (route === 'msi') {
    vm.setGsiRouting([{ gsi: MSI_GSI, type: 'msi', addressLo: msiAddress(0), data: MSI_VECTOR }]);
    vm.irqfd(MSI_GSI, efd);
  }
  return { kvm, vm, vcpu, mem, u8, efd };
}

/** Run the probe once. Needs the main thread (the kick uses a SIGUSR2 listener). */
export async function probeHaltWake(o: HaltProbeOptions): Promise<HaltProbeResult> {
  const samples = o.samples ?? 50;
  const idleMs = o.idleMs ?? 2;
  const watchMs = o.watchMs ?? 200;
  const res: HaltProbeResult = {
    route: o.route, haltPollNs: o.haltPollNs ?? null, hltExitsWhileIdle: 0, threadStateWhileIdle: '?', idleCpuMs: NaN,
    haltBlocksInKernel: false, delivered: 0, samples, wakeUs: null, loopCpuMs: NaN, loopMs: NaN, mpStateAfterKick: null, error: null,
  };
  installKickHandler();
  const g = buildGuest(o.route, o.haltPollNs);
  const ctl = new Int32Array(new SharedArrayBuffer(PROBE.count * 4));
  const stamps = new BigInt64Array(new SharedArrayBuffer(8 * samples));
  const scratch = libc.mapAnon(4096);
  const data: ProbeWorkerData = {
    vcpuFd: g.vcpu.fd, mmapSize: g.kvm.vcpuMmapSize(), control: ctl.buffer as SharedArrayBuffer, stamps: stamps.buffer as SharedArrayBuffer,
    userWake: o.route === 'user', vector: PIC_VECTOR,
  };
  const worker = new Worker(workerScriptUrl(import.meta.url, 'halt-probe-worker.js'), { workerData: data });
  const exited = new Promise<boolean>((r) => worker.once('exit', () => r(true)));
  worker.on('message', (m: { error?: string }) => (res.error ??= m.error ?? null));
  worker.on('error', (e: Error) => (res.error ??= `vCPU thread: ${e.message}`));
  const halts = () => g.u8[HALT_COUNT]! | (g.u8[HALT_COUNT + 1]! << 8);
  let tid = 0;
  try {
    if (!(await until(ctl, PROBE.tid, 1, 10_000))) throw new Error('the probe vCPU thread did not start within 10 s');
    tid = Atomics.load(ctl, PROBE.tid);
    // (a) Where does an idle `sti; hlt` wait?
    const t0 = Date.now();
    while (halts() < 1 && Date.now() - t0 < 5000 && !Atomics.load(ctl, PROBE.failed)) await sleep(2);
    if (halts() < 1) throw new Error(`the probe guest did not reach its HLT within 5 s${res.error ? `: ${res.error}` : ''}`);
    const cpu0 = threadCpuMs(tid);
    await sleep(watchMs);
    res.threadStateWhileIdle = threadState(tid);
    res.idleCpuMs = threadCpuMs(tid) - cpu0;
    res.hltExitsWhileIdle = Atomics.load(ctl, PROBE.hltExits);
    // asleep in KVM_RUN: no exits and (almost) no CPU; 5% of the window allows for halt polling
    res.haltBlocksInKernel = res.hltExitsWhileIdle === 0 && res.idleCpuMs < watchMs * 0.05 && halts() === 1;

    // (b) Wake it, `samples` times, and time trigger -> handler.
    const lat: number[] = [];
    const one = new BigUint64Array(libc.view(scratch, 8));
    one[0] = 1n;
    const loopCpu0 = threadCpuMs(tid);
    const loop0 = performance.now();
    for (let i = 0; i < samples; i++) {
      // the guest counts a halt before each hlt: i wake-ups done means halt number i+1 pending
      const d0 = Date.now();
      while (halts() < i + 1 && Date.now() - d0 < 1000) await sleep(0.2);
      await sleep(idleMs);
      const before = Atomics.load(ctl, PROBE.reports);
      const t = process.hrtime.bigint();
      if (o.route === 'user') {
        Atomics.add(ctl, PROBE.doorbell, 1);
        Atomics.notify(ctl, PROBE.doorbell);
      } else if (libc.write(g.efd, scratch, 8) !== 8) {
        throw new Error(`write(eventfd) failed: errno ${libc.errno()}`);
      }
      if (!(await until(ctl, PROBE.reports, before + 1, 1000))) break; // not delivered
      lat.push(Number(stamps[before]! - t) / 1000);
    }
    res.loopMs = performance.now() - loop0;
    res.loopCpuMs = threadCpuMs(tid) - loopCpu0;
    res.delivered = lat.length;
    if (lat.length > 0) {
      lat.sort((a, b) => a - b);
      const r = (x: number) => Math.round(x * 10) / 10;
      res.wakeUs = { min: r(lat[0]!), median: r(percentile(lat, 0.5)), p90: r(percentile(lat, 0.9)), max: r(lat[lat.length - 1]!) };
    }
  } catch (e) {
    res.error ??= (e as Error).message;
  } finally {
    // Stop the thread whatever happened: stop flag, then kick until it is out of KVM_RUN.
    Atomics.store(ctl, PROBE.stop, 1);
    Atomics.notify(ctl, PROBE.doorbell);
    for (let i = 0; i < 100 && !Atomics.load(ctl, PROBE.done) && tid > 0; i++) {
      try {
        g.vcpu.kick(tid);
      } catch {
        break; // the thread is gone
      }
      await until(ctl, PROBE.done, 1, 50);
    }
    const ended = await Promise.race([exited, sleep(5000).then(() => false)]);
    if (!ended) {
      res.error ??= 'the probe vCPU thread did not end within 5 s of the kick';
    } else {
      try {
        g.vcpu.setImmediateExit(false);
        res.mpStateAfterKick = g.vcpu.getMpState();
      } catch {
        // informational only
      }
      g.vcpu.close();
      g.vm.close();
      g.kvm.close();
      libc.unmap(g.mem, MEM);
    }
    libc.close(g.efd);
    libc.unmap(scratch, 4096);
  }
  return res;
}

/** What KVM_CHECK_EXTENSION says about the interrupt features (0 = absent). */
export function irqCapabilities(): Record<'irqchip' | 'irqfd' | 'splitIrqchip' | 'irqRouting' | 'haltPoll' | 'tscDeadlineTimer', number> {
  const kvm = Kvm.open();
  try {
    return {
      irqchip: kvm.checkExtension(CAP.IRQCHIP),
      irqfd: kvm.checkExtension(CAP.IRQFD),
      splitIrqchip: kvm.checkExtension(CAP.SPLIT_IRQCHIP),
      irqRouting: kvm.checkExtension(CAP.IRQ_ROUTING),
      haltPoll: kvm.checkExtension(CAP.HALT_POLL),
      tscDeadlineTimer: kvm.checkExtension(CAP.TSC_DEADLINE_TIMER),
    };
  } finally {
    kvm.close();
  }
}
