// Every size, offset and constant src/kvm uses, compared with <linux/kvm.h> through a C
// program (test/fixtures/kvm/kvm-layout.c) that prints them with sizeof/offsetof (test/layout-probe.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import { ARRAYS, CAP, EXIT, EXIT_IO, IOCTL, KVMIO, KVM_API_VERSION, LAYOUT, MEM_FLAG, IOEVENTFD_FLAG, IRQFD_FLAG, IRQ_ROUTING, IRQCHIP, MP_STATE, ioc } from '../src/kvm/index.js';
import { describeStructLayouts, probeLayout, type CLayout } from './layout-probe.js';

let c: CLayout;
beforeAll(() => {
  c = probeLayout('test/fixtures/kvm/kvm-layout.c');
});

describeStructLayouts('<linux/kvm.h>', LAYOUT, () => c);

describe('fixed arrays', () => {
  it('fixed array lengths match', () => {
    expect(ARRAYS).toEqual(c.arrays);
  });
});

describe('ioctl numbers', () => {
  it('_IOC encodes like the kernel macro', () => {
    // _IOWR(0xAE, 0x05, 8) is KVM_GET_SUPPORTED_CPUID: dir 3 in the top bits must stay unsigned.
    expect(ioc(3, 0xae, 0x05, 8)).toBe(0xc008ae05);
    expect(() => ioc(1, 0xae, 1, 1 << 14)).toThrow(/14 bits/);
  });

  it('KVMIO and the API version match', () => {
    expect(KVMIO).toBe(c.constants.KVMIO);
    expect(KVM_API_VERSION).toBe(c.constants.KVM_API_VERSION);
  });

  for (const [name, value] of Object.entries(IOCTL)) {
    it(`${name} = 0x${value.toString(16)} as in <linux/kvm.h>`, () => {
      expect(c.constants[name], `${name} missing from the C program`).toBeDefined();
      expect(value).toBe(c.constants[name]);
    });
  }
});

describe('constants', () => {
  it('exit reasons', () => {
    for (const [k, v] of Object.entries(EXIT)) expect(v, k).toBe(c.constants[`KVM_EXIT_${k}`]);
    expect(EXIT_IO.in).toBe(c.constants.KVM_EXIT_IO_IN);
    expect(EXIT_IO.out).toBe(c.constants.KVM_EXIT_IO_OUT);
  });

  it('capabilities and memory flags', () => {
    for (const [k, v] of Object.entries(CAP)) expect(v, k).toBe(c.constants[`KVM_CAP_${k}`]);
    expect(MEM_FLAG.logDirtyPages).toBe(c.constants.KVM_MEM_LOG_DIRTY_PAGES);
    expect(MEM_FLAG.readonly).toBe(c.constants.KVM_MEM_READONLY);
    expect(IOEVENTFD_FLAG.datamatch).toBe(c.constants.KVM_IOEVENTFD_FLAG_DATAMATCH);
    expect(IOEVENTFD_FLAG.pio).toBe(c.constants.KVM_IOEVENTFD_FLAG_PIO);
  });

  it('irqfd flags, routing entry types, irqchip ids and mp states', () => {
    expect(IRQFD_FLAG.deassign).toBe(c.constants.KVM_IRQFD_FLAG_DEASSIGN);
    expect(IRQ_ROUTING.irqchip).toBe(c.constants.KVM_IRQ_ROUTING_IRQCHIP);
    expect(IRQ_ROUTING.msi).toBe(c.constants.KVM_IRQ_ROUTING_MSI);
    expect(IRQCHIP.picMaster).toBe(c.constants.KVM_IRQCHIP_PIC_MASTER);
    expect(IRQCHIP.picSlave).toBe(c.constants.KVM_IRQCHIP_PIC_SLAVE);
    expect(IRQCHIP.ioapic).toBe(c.constants.KVM_IRQCHIP_IOAPIC);
    for (const [k, v] of Object.entries(MP_STATE)) expect(v, k).toBe(c.constants[`KVM_MP_STATE_${k}`]);
  });
});
