/**
 * IX_EXPERIMENT_IRQCHIP=1 (docs/wake.md): run a real guest with an in-kernel irqchip to see
 * where its idle HLT waits in PVM native mode and whether an irqfd wakes it. Not a feature:
 * the default VMM never calls this.
 *
 * The ix kernel programs no interrupt controller, so the VMM does it from outside: the
 * master 8259 gets vectors 0x20-0x27 (which the kernel's IDT treats as wake-ups), auto-EOI
 * (the kernel sends no EOI) and only IR5 unmasked; the BSP's LAPIC, software-disabled since
 * reset, passes the PIC's output through (LVT0 = ExtINT). An eventfd bound to GSI 5 is then
 * written every `tickMs`: a halted core 0 that wakes and counts another halt proves the
 * path. Only core 0 receives ExtINT: use a 1-core config.
 */
import { IRQCHIP, LAYOUT, MP_STATE, type Vcpu, type Vm } from '../kvm/index.js';
import * as libc from '../sys/libc.js';

export const IRQCHIP_EXPERIMENT = process.env.IX_EXPERIMENT_IRQCHIP === '1';
const GSI = 5;

/** Before the vCPUs are created. */
export function createExperimentIrqchip(vm: Vm): void {
  vm.createIrqchip();
  const f = LAYOUT.kvm_irqchip.fields;
  const pic = vm.getIrqchip(IRQCHIP.picMaster);
  pic.writeUInt8(0x20, f['chip.pic.irq_base']);
  pic.writeUInt8(0xff & ~(1 << GSI), f['chip.pic.imr']);
  pic.writeUInt8(1, f['chip.pic.auto_eoi']);
  pic.writeUInt8(0, f['chip.pic.init_state']);
  vm.setIrqchip(pic);
}

/** After the vCPUs exist: start the APs and the periodic irqfd tick; returns the stop function. */
export function startExperimentTicks(vm: Vm, vcpus: readonly Vcpu[], tickMs = 1): () => void {
  for (const v of vcpus.slice(1)) v.setMpState(MP_STATE.RUNNABLE); // no INIT/SIPI from the guest
  const efd = libc.makeEventfd();
  vm.irqfd(GSI, efd);
  const one = libc.mapAnon(4096);
  new BigUint64Array(libc.view(one, 8))[0] = 1n;
  const t = setInterval(() => libc.write(efd, one, 8), tickMs);
  return () => {
    clearInterval(t);
    libc.close(efd);
    libc.unmap(one, 4096);
  };
}
