// Real guests on /dev/kvm through the binding: a 16-bit real-mode program that does port
// I/O, MMIO and HLT; register, MSR and CPUID round trips; errors carrying name and errno.
// Needs /dev/kvm: skipped with a message without it, failing when CI=true.
import { afterEach, expect, it } from 'vitest';
import { CAP, Kvm, SysError, KVM_API_VERSION, libc } from '../src/kvm/index.js';
import { describeKvm, sysErrorOf, tinyGuest, type TinyGuest } from './fixtures/kvm/env.js';
import * as sys from '../src/sys/libc.js';

let g: TinyGuest | null = null;
afterEach(() => {
  g?.close();
  g = null;
});

describeKvm('KVM system fd', () => {
  it('reports the API version, mmap size, capabilities, CPUID and MSR list', () => {
    const kvm = Kvm.open();
    try {
      expect(kvm.apiVersion()).toBe(KVM_API_VERSION);
      expect(kvm.vcpuMmapSize()).toBeGreaterThanOrEqual(4096);
      expect(kvm.checkExtension(CAP.USER_MEMORY)).toBeGreaterThan(0);
      expect(kvm.checkExtension(CAP.NR_MEMSLOTS)).toBeGreaterThan(1);
      expect(kvm.checkExtension(CAP.IMMEDIATE_EXIT)).toBe(1);
      const cpuid = kvm.supportedCpuid();
      const leaf0 = cpuid.find((e) => e.function === 0);
      expect(leaf0, 'CPUID leaf 0').toBeDefined();
      // Leaf 0 vendor is EBX,EDX,ECX: "GenuineIntel" or "AuthenticAMD" (or a hypervisor's).
      const vendor = Buffer.alloc(12);
      vendor.writeUInt32LE(leaf0!.ebx, 0);
      vendor.writeUInt32LE(leaf0!.edx, 4);
      vendor.writeUInt32LE(leaf0!.ecx, 8);
      expect(vendor.toString('latin1')).toMatch(/^[\x20-\x7e]{12}$/);
      const msrs = kvm.msrIndexList();
      expect(msrs).toContain(0xc0000081); // STAR: saved/restored by every x86-64 KVM
    } finally {
      kvm.close();
    }
  });
});

describeKvm('a real-mode guest', () => {
  it('OUT then HLT: an io exit (port 0x10, out, size 1, data 0x42), then hlt', () => {
    // mov $0x42,%al; out %al,$0x10; hlt
    g = tinyGuest([0xb0, 0x42, 0xe6, 0x10, 0xf4]);
    const e1 = g.vcpu.run();
    expect(e1.reason).toBe('io');
    if (e1.reason !== 'io') return;
    expect({ direction: e1.direction, size: e1.size, port: e1.port, count: e1.count }).toEqual({ direction: 'out', size: 1, port: 0x10, count: 1 });
    expect([...e1.data]).toEqual([0x42]);
    expect(e1.dataOffset).toBeGreaterThanOrEqual(256);
    const e2 = g.vcpu.run();
    expect(e2.reason).toBe('hlt');
    const r = g.vcpu.getRegs();
    expect(r.rip).toBe(0x1005n); // after the hlt
    expect(r.rax & 0xffn).toBe(0x42n);
  });

  it('KVM_IOEVENTFD: OUTs to a registered port signal the eventfd in the kernel; the vCPU sees no io exit', () => {
    // mov $0x42,%al; out %al,$0x10; out %al,$0x10; out %al,$0x11; hlt
    g = tinyGuest([0xb0, 0x42, 0xe6, 0x10, 0xe6, 0x10, 0xe6, 0x11, 0xf4]);
    const efd = sys.makeEventfd();
    const buf = sys.mapAnon(4096);
    try {
      g.vm.ioeventfdPio(0x10, 1, efd);
      const e1 = g.vcpu.run();
      // the unregistered port 0x11 still exits to user space
      expect(e1.reason === 'io' && e1.port).toBe(0x11);
      expect(g.vcpu.run().reason).toBe('hlt');
      expect(sys.read(efd, buf, 8)).toBe(8);
      expect(new DataView(sys.view(buf, 8)).getBigUint64(0, true)).toBe(2n); // two OUTs, two signals
      expect(() => g!.vm.ioeventfdPio(0x10000, 1, efd)).toThrow(/not a 16-bit I\/O port/);
    } finally {
      sys.close(efd);
    }
  });

  it('IN: the value put in the io data area reaches the guest', () => {
    // in $0x20,%al; out %al,$0x21; hlt
    g = tinyGuest([0xe4, 0x20, 0xe6, 0x21, 0xf4]);
    const e1 = g.vcpu.run();
    if (e1.reason !== 'io') throw new Error(`expected io, got ${e1.reason}`);
    expect([e1.direction, e1.port, e1.size]).toEqual(['in', 0x20, 1]);
    e1.data[0] = 0x5a;
    const e2 = g.vcpu.run();
    if (e2.reason !== 'io') throw new Error(`expected io, got ${e2.reason}`);
    expect([e2.direction, e2.port, e2.data[0]]).toEqual(['out', 0x21, 0x5a]);
    expect(g.vcpu.run().reason).toBe('hlt');
  });

  it('a 16-bit OUT to port 0x1234 carries 2 bytes', () => {
    // mov $0x1234,%dx; mov $0xbeef,%ax; out %ax,(%dx); hlt
    g = tinyGuest([0xba, 0x34, 0x12, 0xb8, 0xef, 0xbe, 0xef, 0xf4]);
    const e = g.vcpu.run();
    if (e.reason !== 'io') throw new Error(`expected io, got ${e.reason}`);
    expect([e.port, e.size, e.data.readUInt16LE(0)]).toEqual([0x1234, 2, 0xbeef]);
  });

  it('a write outside every memory slot is an mmio exit', () => {
    // mov $0x2000,%ax; mov %ax,%ds; mov $0x99,%al; mov %al,(0x10); hlt  -> GPA 0x20010
    g = tinyGuest([0xb8, 0x00, 0x20, 0x8e, 0xd8, 0xb0, 0x99, 0xa2, 0x10, 0x00, 0xf4]);
    const e = g.vcpu.run();
    if (e.reason !== 'mmio') throw new Error(`expected mmio, got ${e.reason}`);
    expect([e.physAddr, e.len, e.isWrite, e.data[0]]).toEqual([0x20010n, 1, true, 0x99]);
    expect(g.vcpu.run().reason).toBe('hlt');
  });

  it('registers written with setRegs are what the guest sees', () => {
    // out %al,$0x10; mov %bl,%al; out %al,$0x11; hlt
    g = tinyGuest([0xe6, 0x10, 0x88, 0xd8, 0xe6, 0x11, 0xf4]);
    const r = g.vcpu.getRegs();
    r.rax = 0x17n;
    r.rbx = 0x29n;
    r.r15 = 0xfedcba9876543210n;
    g.vcpu.setRegs(r);
    expect(g.vcpu.getRegs()).toEqual(r);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const e = g.vcpu.run();
      if (e.reason === 'hlt') break;
      if (e.reason === 'io') seen.push(e.data[0]!);
    }
    expect(seen).toEqual([0x17, 0x29]);
    expect(g.vcpu.getRegs().r15).toBe(0xfedcba9876543210n);
  });

  it('sregs round-trip and guest memory is shared with the host view', () => {
    // mov (0x500),%al; out %al,$0x10; hlt
    g = tinyGuest([0xa0, 0x00, 0x05, 0xe6, 0x10, 0xf4]);
    const s = g.vcpu.getSregs();
    s.gdt = { base: 0x3000n, limit: 0x17 };
    g.vcpu.setSregs(s);
    expect(g.vcpu.getSregs().gdt).toEqual({ base: 0x3000n, limit: 0x17 });
    g.u8[0x500] = 0xa5;
    const e = g.vcpu.run();
    if (e.reason !== 'io') throw new Error(`expected io, got ${e.reason}`);
    expect(e.data[0]).toBe(0xa5);
  });

  it('MSRs: set and read back; an unsupported MSR is reported by index', () => {
    g = tinyGuest([0xf4]);
    const SYSENTER_CS = 0x174;
    g.vcpu.setMsrs([{ index: SYSENTER_CS, data: 0x10n }]);
    expect(g.vcpu.getMsrs([SYSENTER_CS])).toEqual([{ index: SYSENTER_CS, data: 0x10n }]);
    expect(g.vcpu.getMsrs([])).toEqual([]);
    expect(() => g!.vcpu.getMsrs([SYSENTER_CS, 0xdead0000])).toThrow(/KVM_GET_MSRS failed: .*handled 1 of 2 MSRs; MSR 0xdead0000/);
  });

  it('an interrupt queued with KVM_INTERRUPT runs the real-mode IVT handler', () => {
    // main: sti; hlt; out %al,$0x31; hlt    handler (IVT[0x20] = 0000:2000): mov $0x99,%al; out %al,$0x30; iret
    g = tinyGuest([0xfb, 0xf4, 0xe6, 0x31, 0xf4]);
    g.u8.set([0xb0, 0x99, 0xe6, 0x30, 0xcf], 0x2000);
    g.u8.set([0x00, 0x20, 0x00, 0x00], 0x20 * 4);
    const r = g.vcpu.getRegs();
    r.rsp = 0x8000n;
    g.vcpu.setRegs(r);
    expect(g.vcpu.run().reason).toBe('hlt');
    expect(g.vcpu.runArea.ifFlag).toBe(true);
    expect(g.vcpu.runArea.readyForInterruptInjection).toBe(true);
    g.vcpu.interrupt(0x20);
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      const e = g.vcpu.run();
      if (e.reason === 'hlt') break;
      if (e.reason !== 'io') throw new Error(`unexpected exit ${e.reason}`);
      ports.push(e.port);
    }
    expect(ports).toEqual([0x30, 0x31]); // the handler ran, then iret back after the hlt
    expect(() => g!.vcpu.interrupt(256)).toThrow(/0\.\.255/);
  });

  it('FPU/SSE state round-trips through KVM_SET_FPU/KVM_GET_FPU', () => {
    g = tinyGuest([0xf4]);
    const f = g.vcpu.getFpu();
    expect(f.fpr.length).toBe(128);
    expect(f.xmm.length).toBe(256);
    f.fcw = 0x37f;
    f.mxcsr = 0x1f80;
    for (let i = 0; i < 256; i++) f.xmm[i] = (i * 7 + 3) & 0xff;
    g.vcpu.setFpu(f);
    const back = g.vcpu.getFpu();
    // KVM_GET_FPU never reports mxcsr (the kernel does not copy it out), so only fcw/xmm are checked.
    expect(back.fcw).toBe(0x37f);
    expect(back.xmm.equals(f.xmm)).toBe(true);
    expect(() => g!.vcpu.setFpu({ ...f, xmm: Buffer.alloc(16) })).toThrow(/fpu\.xmm must be 256 bytes/);
  });

  it('CPUID from the host is accepted, and the TSC frequency is known', () => {
    g = tinyGuest([0xf4]);
    g.vcpu.setCpuid(g.kvm.supportedCpuid());
    expect(g.vcpu.getTscKhz()).toBeGreaterThan(100_000);
    expect(g.vcpu.run().reason).toBe('hlt');
  });
});

describeKvm('errors', () => {
  const kvmError = sysErrorOf;

  it('a duplicate vCPU id: KVM_CREATE_VCPU, EEXIST, with a hint', () => {
    g = tinyGuest([0xf4]);
    const e = kvmError(() => g!.vm.createVcpu(0));
    expect([e.call, e.code, e.errno]).toEqual(['KVM_CREATE_VCPU', 'EEXIST', 17]);
    expect(e.message).toMatch(/^KVM_CREATE_VCPU failed: EEXIST \(File exists\) - a vCPU with this id already exists/);
  });

  it('a vCPU id beyond the host limit: KVM_CREATE_VCPU, EINVAL', () => {
    g = tinyGuest([0xf4]);
    const e = kvmError(() => g!.vm.createVcpu(1_000_000));
    expect([e.call, e.code]).toEqual(['KVM_CREATE_VCPU', 'EINVAL']);
    expect(e.message).toMatch(/KVM_CAP_MAX_VCPUS of this host; vCPU id 1000000$/);
  });

  it('KVM_INTERRUPT with an in-kernel irqchip: ENXIO with the explanation', () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    try {
      vm.createIrqchip();
      const v = vm.createVcpu(0);
      try {
        const e = kvmError(() => v.interrupt(0x20));
        expect([e.call, e.code]).toEqual(['KVM_INTERRUPT', 'ENXIO']);
        expect(e.message).toMatch(/userspace irqchip/);
      } finally {
        v.close();
      }
    } finally {
      vm.close();
      kvm.close();
    }
  });

  it('an invalid CR0 (PG without PE): KVM_SET_SREGS, EINVAL', () => {
    g = tinyGuest([0xf4]);
    const s = g.vcpu.getSregs();
    s.cr0 = 0x80000000n;
    const e = kvmError(() => g!.vcpu.setSregs(s));
    expect([e.call, e.code]).toEqual(['KVM_SET_SREGS', 'EINVAL']);
    expect(e.message).toMatch(/^KVM_SET_SREGS failed: EINVAL \(Invalid argument\) - /);
  });

  it('overlapping memory slots: KVM_SET_USER_MEMORY_REGION, EEXIST', () => {
    g = tinyGuest([0xf4]);
    const e = kvmError(() => g!.vm.setUserMemoryRegion({ slot: 1, flags: 0, guestPhysAddr: 0x1000n, memorySize: 0x1000n, userspaceAddr: BigInt(g!.mem) }));
    expect([e.call, e.code]).toEqual(['KVM_SET_USER_MEMORY_REGION', 'EEXIST']);
    expect(e.message).toMatch(/overlaps/);
  });

  it('a misaligned region is refused before the ioctl, naming the field', () => {
    g = tinyGuest([0xf4]);
    const e = kvmError(() => g!.vm.setUserMemoryRegion({ slot: 2, flags: 0, guestPhysAddr: 0x100800n, memorySize: 0x1000n, userspaceAddr: BigInt(g!.mem) }));
    expect(e.message).toMatch(/guestPhysAddr 0x100800 is not 4 KiB aligned/);
  });

  it('a missing device: open, ENOENT, says how to get KVM', () => {
    const e = kvmError(() => Kvm.open('/dev/ix-no-such-kvm'));
    expect([e.call, e.code]).toEqual(['open', 'ENOENT']);
    expect(e.message).toMatch(/modprobe/);
    expect(e.message).toMatch(/\/dev\/ix-no-such-kvm/);
  });

  it('a device that is not KVM: ENOTTY from the ioctl', () => {
    const k = Kvm.open('/dev/null');
    try {
      const e = kvmError(() => k.apiVersion());
      expect([e.call, e.code]).toEqual(['KVM_GET_API_VERSION', 'ENOTTY']);
    } finally {
      k.close();
    }
  });

  it('use after close: EBADF naming the ioctl, not a reused fd', () => {
    g = tinyGuest([0xf4]);
    const v = g.vcpu;
    v.close();
    const e = kvmError(() => v.getRegs());
    expect([e.call, e.code]).toEqual(['KVM_GET_REGS', 'EBADF']);
    expect(e.message).toMatch(/vCPU 0 was closed/);
  });

  it('mmap failure is a SysError with the size', () => {
    expect(() => libc.mapAnon(2 ** 50, { shared: true, noreserve: true })).toThrow(/mmap\(1125899906842624 bytes, anonymous\) failed: ENOMEM/);
  });
});
