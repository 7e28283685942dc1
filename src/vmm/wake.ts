/**
 * How an idle dataplane core is woken (docs/wake.md): config `wake = "auto" | "kernel" | "user"`.
 *
 * - user: the guest's HLT exits KVM_RUN; the vCPU worker sleeps on the NIC's wake counter
 *   (src/nic/wait.ts) and re-enters the guest. Works on every KVM.
 * - kernel: the VM gets an in-kernel irqchip; each core enables its LAPIC (x2APIC) and halts
 *   inside KVM_RUN; the NIC backend writes one eventfd per RX queue, bound with KVM_IRQFD to
 *   an MSI route to that queue's core (IX_VECTOR_WAKE_NIC); the guest's LAPIC timer ends a
 *   halt when its next timer is due. No user-space thread is on the wake path.
 *
 * "auto" takes the kernel path when the dataplane has a NIC (without one nothing wakes a
 * core) and KVM offers IRQCHIP, IRQFD and IRQ_ROUTING; else user space. Measured to work on
 * PVM hosts (test/wake.test.ts) and expected on VT-x/AMD-V (standard KVM).
 */
import { CAP, msiAddress, MP_STATE, type CpuidEntry, type GsiRoute, type Kvm, type Vcpu, type Vm } from '../kvm/index.js';
import { VECTOR_WAKE_NIC } from '../abi/index.js';
import * as libc from '../sys/libc.js';
import type { WakeSetting } from '../config/types.js';

export type { WakeSetting } from '../config/types.js';
export type WakeMode = 'kernel' | 'user';

export interface WakeChoice {
  mode: WakeMode;
  /** why, in words for the start line and `ix check` */
  reason: string;
}

export class WakeError extends Error {
  override name = 'WakeError';
}

/** The KVM capabilities the kernel path needs, by name, with whether this host has them. */
export function kernelWakeCaps(kvm: Kvm): { name: string; ok: boolean }[] {
  return [
    { name: 'IRQCHIP', ok: kvm.checkExtension(CAP.IRQCHIP) > 0 },
    { name: 'IRQFD', ok: kvm.checkExtension(CAP.IRQFD) > 0 },
    { name: 'IRQ_ROUTING', ok: kvm.checkExtension(CAP.IRQ_ROUTING) > 0 },
  ];
}

/** What the choice depends on besides the setting. */
export interface WakeContext {
  hasNic: boolean;
}

/** Pick the wake path for a dataplane; throws WakeError if "kernel" was asked for and cannot work. */
export function chooseWake(setting: WakeSetting, kvm: Kvm, ctx: WakeContext): WakeChoice {
  if (setting === 'user') return { mode: 'user', reason: 'configured: wake = "user"' };
  const missing = kernelWakeCaps(kvm).filter((c) => !c.ok).map((c) => `KVM_CAP_${c.name}`);
  if (setting === 'kernel') {
    if (!ctx.hasNic) throw new WakeError('wake = "kernel" needs a [nic]: without one nothing wakes a halted core; remove the key or add a NIC');
    if (missing.length) throw new WakeError(`wake = "kernel": this KVM lacks ${missing.join(', ')}; use wake = "auto" or "user"`);
    return { mode: 'kernel', reason: 'configured: wake = "kernel"' };
  }
  if (!ctx.hasNic) return { mode: 'user', reason: 'auto: no NIC, so nothing to wake a core with' };
  if (missing.length) return { mode: 'user', reason: `auto: KVM lacks ${missing.join(', ')}` };
  return { mode: 'kernel', reason: 'auto: in-kernel irqchip and irqfd available' };
}

/** Bit 24 of CPUID.1:ECX (TSC-deadline LAPIC timer): KVM emulates it but leaves telling the guest to user space. */
export function withTscDeadline(cpuid: CpuidEntry[], kvm: Kvm): CpuidEntry[] {
  if (kvm.checkExtension(CAP.TSC_DEADLINE_TIMER) <= 0) return cpuid;
  return cpuid.map((e) => (e.function === 1 ? { ...e, ecx: (e.ecx | (1 << 24)) >>> 0 } : e));
}

/** The eventfds of the kernel path: one per RX queue, which the NIC backend writes. */
export interface KernelWake {
  wakeFds: number[];
  /** interrupt core `core` as a frame for its queue would (the control plane's wake, e.g. a flow-group move) */
  wakeCore(core: number): void;
  close(): void;
}

/**
 * After the vCPUs exist (the irqchip was created before them): start the APs (an in-kernel
 * LAPIC holds them in wait-for-SIPI), route GSI q to core q's wake vector as an MSI
 * (destination APIC id = vCPU id), and bind one eventfd to each route. The runaway
 * interrupt does not come this way: the vCPU worker injects it (Vcpu.injectInterrupt).
 */
export function setupKernelWake(vm: Vm, vcpus: readonly Vcpu[], haltPollUs: number | null): KernelWake {
  const n = vcpus.length;
  for (const v of vcpus.slice(1)) v.setMpState(MP_STATE.RUNNABLE);
  if (haltPollUs !== null) vm.setHaltPollNs(haltPollUs * 1000);
  const routes: GsiRoute[] = [];
  for (let q = 0; q < n; q++) routes.push({ gsi: q, type: 'msi', addressLo: msiAddress(q), data: VECTOR_WAKE_NIC });
  vm.setGsiRouting(routes);
  const fds: number[] = [];
  try {
    for (let q = 0; q < n; q++) {
      const fd = libc.makeEventfd();
      fds.push(fd);
      vm.irqfd(q, fd);
    }
  } catch (e) {
    for (const fd of fds) libc.close(fd);
    throw e;
  }
  let open = true;
  const one = libc.mapAnon(4096); // the eventfd increment, 1, in native memory for write()
  new DataView(libc.view(one, 8)).setBigUint64(0, 1n, true);
  return {
    wakeFds: fds,
    wakeCore(core: number) {
      const fd = fds[core];
      if (open && fd !== undefined) libc.write(fd, one, 8);
    },
    close() {
      if (!open) return;
      open = false;
      for (const fd of fds) libc.close(fd);
      libc.unmap(one, 4096);
    },
  };
}
