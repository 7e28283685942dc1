// The in-kernel irqchip on this host (docs/wake.md): capabilities, the binding's errors, and
// the halt/wake probe (src/vmm/halt-probe.ts): with KVM_CREATE_IRQCHIP an idle `sti; hlt`
// sleeps inside KVM_RUN and an eventfd bound with KVM_IRQFD wakes it and delivers the
// interrupt, through the 8259 PIC and through an MSI route. Timings are printed, never
// asserted (they go to docs/wake.md). The probe's vCPU thread loads dist/: build first.
import { existsSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { CAP, IRQCHIP, Kvm, LAYOUT, MP_STATE, removeKickHandler } from '../src/kvm/index.js';
import * as sys from '../src/sys/libc.js';
import { irqCapabilities, probeHaltWake, type HaltProbeResult, type WakeRoute } from '../src/vmm/halt-probe.js';
import { builtBinding, describeKvm, sysErrorOf, tinyGuest, type TinyGuest } from './fixtures/kvm/env.js';

const platform = existsSync('/sys/module/kvm_pvm') ? 'pvm' : existsSync('/sys/module/kvm_intel') ? 'intel' : existsSync('/sys/module/kvm_amd') ? 'amd' : 'unknown';

/**
 * What each platform is expected to do, one row per platform. PVM (the development hosts) was
 * measured; VT-x/AMD-V is standard KVM, where a HLT with an in-kernel LAPIC always sleeps in
 * kvm_vcpu_halt(). The nested run (docs/nested-ci.md) runs this file on the AMD-V row.
 */
const EXPECTED: Record<string, { haltBlocks: boolean; irqfdWakes: boolean }> = {
  pvm: { haltBlocks: true, irqfdWakes: true },
  intel: { haltBlocks: true, irqfdWakes: true },
  amd: { haltBlocks: true, irqfdWakes: true },
  unknown: { haltBlocks: true, irqfdWakes: true },
};
const want = EXPECTED[platform]!;

let g: TinyGuest | null = null;
afterEach(() => {
  g?.close();
  g = null;
});

const sysErr = sysErrorOf;

function show(r: HaltProbeResult): void {
  const w = r.wakeUs;
  console.info(
    `[${platform}] route ${r.route}${r.haltPollNs !== null ? ` halt-poll ${r.haltPollNs} ns` : ''}: hlt exits ${r.hltExitsWhileIdle}, ` +
      `thread '${r.threadStateWhileIdle}' ${r.idleCpuMs.toFixed(2)} ms CPU in ${200} ms idle; ${r.delivered}/${r.samples} wakes` +
      (w ? `, µs min ${w.min} median ${w.median} p90 ${w.p90} max ${w.max}` : '') +
      `; vCPU thread ${r.loopCpuMs.toFixed(1)} ms CPU over ${r.loopMs.toFixed(0)} ms`,
  );
}

describeKvm('in-kernel irqchip: capabilities and binding errors', () => {
  it('KVM_CHECK_EXTENSION reports IRQCHIP, IRQFD, SPLIT_IRQCHIP, IRQ_ROUTING, HALT_POLL, TSC_DEADLINE_TIMER', () => {
    const caps = irqCapabilities();
    for (const [k, v] of Object.entries(caps)) expect(v, `KVM_CAP for ${k} on platform ${platform}`).toBeGreaterThan(0);
  });

  it('irqfd and irqLine without an irqchip fail with the hint to create one', () => {
    g = tinyGuest([0xf4]);
    const efd = sys.makeEventfd();
    try {
      const e = sysErr(() => g!.vm.irqfd(5, efd));
      expect({ call: e.call, code: e.code }).toEqual({ call: 'KVM_IRQFD', code: 'EINVAL' });
      expect(e.message).toMatch(/createIrqchip\(\) first.*eventfd \d+ to GSI 5/);
      const l = sysErr(() => g!.vm.irqLine(5, 1));
      expect({ call: l.call, code: l.code }).toEqual({ call: 'KVM_IRQ_LINE', code: 'ENXIO' });
    } finally {
      sys.close(efd);
    }
  });

  it('KVM_CREATE_IRQCHIP after a vCPU is EINVAL, twice is EEXIST; KVM_INTERRUPT is then refused', () => {
    g = tinyGuest([0xf4]);
    expect(sysErr(() => g!.vm.createIrqchip()).code).toBe('EINVAL'); // tinyGuest made vCPU 0
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    try {
      vm.createIrqchip();
      expect(sysErr(() => vm.createIrqchip()).message).toMatch(/EEXIST.*already has an in-kernel irqchip/);
      const v = vm.createVcpu(0);
      try {
        expect(sysErr(() => v.interrupt(0x20)).code).toBe('ENXIO');
        expect(v.getMpState()).toBe(MP_STATE.RUNNABLE);
      } finally {
        v.close();
      }
    } finally {
      vm.close();
      kvm.close();
    }
  });

  it('irqfd binds once per eventfd, unbinds with deassign; irqLine and halt polling are accepted', () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    const efd = sys.makeEventfd();
    try {
      vm.createIrqchip();
      vm.irqfd(5, efd);
      const busy = sysErr(() => vm.irqfd(6, efd));
      expect(busy.code).toBe('EBUSY');
      vm.irqfd(5, efd, { deassign: true });
      vm.irqfd(6, efd); // free again
      vm.irqLine(4, 1);
      vm.irqLine(4, 0);
      vm.setGsiRouting([{ gsi: 24, type: 'msi', addressLo: 0xfee00000, data: 0x30 }]);
      expect(vm.checkExtension(CAP.HALT_POLL)).toBeGreaterThan(0);
      vm.setHaltPollNs(0);
      vm.setHaltPollNs(200_000);
    } finally {
      sys.close(efd);
      vm.close();
      kvm.close();
    }
  });
});

describeKvm('in-kernel irqchip: PIC state and AP start (what IX_EXPERIMENT_IRQCHIP relies on)', () => {
  it('KVM_GET/SET_IRQCHIP round-trips the master PIC; an AP waits for SIPI until set RUNNABLE', () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    try {
      vm.createIrqchip();
      const f = LAYOUT.kvm_irqchip.fields;
      const pic = vm.getIrqchip(IRQCHIP.picMaster);
      pic.writeUInt8(0x20, f['chip.pic.irq_base']);
      pic.writeUInt8(0xdf, f['chip.pic.imr']);
      pic.writeUInt8(1, f['chip.pic.auto_eoi']);
      vm.setIrqchip(pic);
      const back = vm.getIrqchip(IRQCHIP.picMaster);
      expect([back[f['chip.pic.irq_base']], back[f['chip.pic.imr']], back[f['chip.pic.auto_eoi']]]).toEqual([0x20, 0xdf, 1]);
      expect(() => vm.setIrqchip(Buffer.alloc(8))).toThrow(/520 bytes/);
      const bsp = vm.createVcpu(0);
      const ap = vm.createVcpu(1);
      try {
        expect(bsp.getMpState()).toBe(MP_STATE.RUNNABLE);
        expect(ap.getMpState(), 'an AP with an in-kernel LAPIC waits for INIT/SIPI').toBe(MP_STATE.UNINITIALIZED);
        ap.setMpState(MP_STATE.RUNNABLE);
        expect(ap.getMpState()).toBe(MP_STATE.RUNNABLE);
      } finally {
        ap.close();
        bsp.close();
      }
    } finally {
      vm.close();
      kvm.close();
    }
  });
});

describeKvm('halting inside the host kernel and waking by irqfd (src/vmm/halt-probe.ts)', () => {
  const samples = 30;

  it('the probe worker is built', () => {
    builtBinding(); // the vCPU thread runs dist/vmm/halt-probe-worker.js
    expect(existsSync('dist/vmm/halt-probe-worker.js'), 'run npm run build:ts').toBe(true);
  });

  it('without an irqchip, HLT returns KVM_EXIT_HLT to user space (today\'s path) and a KVM_INTERRUPT wakes the guest', async () => {
    const r = await probeHaltWake({ route: 'user', samples });
    show(r);
    expect(r.error).toBeNull();
    expect(r.hltExitsWhileIdle).toBeGreaterThan(0);
    expect(r.haltBlocksInKernel).toBe(false);
    expect(r.delivered).toBe(samples);
  });

  for (const route of ['pic', 'msi'] as WakeRoute[]) {
    it(`with an irqchip (${route} route), HLT sleeps inside KVM_RUN on ${platform}: ${want.haltBlocks}; an irqfd wakes it: ${want.irqfdWakes}`, async () => {
      const r = await probeHaltWake({ route, samples });
      show(r);
      expect(r.error).toBeNull();
      expect(r.haltBlocksInKernel, `platform ${platform}: hlt exits ${r.hltExitsWhileIdle}, thread state ${r.threadStateWhileIdle}, ${r.idleCpuMs} ms CPU`).toBe(want.haltBlocks);
      if (want.haltBlocks) {
        expect(r.hltExitsWhileIdle).toBe(0);
        expect(r.mpStateAfterKick, 'KVM_GET_MP_STATE after kicking the halted vCPU').toBe(MP_STATE.HALTED);
      }
      expect(r.delivered === samples, `${r.delivered}/${samples} irqfd wakes reached the guest's handler`).toBe(want.irqfdWakes);
    });
  }

  it('with KVM_CAP_HALT_POLL set (2 ms) the MSI irqfd still wakes every halt', async () => {
    const r = await probeHaltWake({ route: 'msi', samples, haltPollNs: 2_000_000, idleMs: 1 });
    show(r);
    expect(r.error).toBeNull();
    expect(r.delivered).toBe(samples);
    removeKickHandler();
  });
});
