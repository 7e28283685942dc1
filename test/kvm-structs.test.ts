// Encoding/decoding of the register structures and the exit decoder, without /dev/kvm:
// byte-level checks against the layout table, and rejection of out-of-range values.
import { describe, expect, it } from 'vitest';
import { CAP, EXIT, ExitDecoder, IRQFD_FLAG, IRQ_ROUTING, LAYOUT, REG_NAMES, RunArea, StructValueError, encodeEnableCap, encodeGsiRouting, encodeIrqLevel, encodeIrqfd, msiAddress, type Regs } from '../src/kvm/index.js';
import {
  decodeCpuid2, decodeRegs, decodeSregs, encodeCpuid2, encodeMsrs, decodeMsrs, encodeRegs, encodeSregs,
} from '../src/kvm/structs.js';

const dv = (n: number) => new DataView(new ArrayBuffer(n));

describe('kvm_regs', () => {
  it('round-trips every register at its offset', () => {
    const d = dv(LAYOUT.kvm_regs.size);
    const r = {} as Regs;
    REG_NAMES.forEach((n, i) => (r[n] = 0x1111_0000_0000_0000n * BigInt(i % 15 + 1) + BigInt(i)));
    encodeRegs(d, r);
    for (const n of REG_NAMES) expect(d.getBigUint64(LAYOUT.kvm_regs.fields[n], true), n).toBe(r[n]);
    expect(decodeRegs(d)).toEqual(r);
  });

  it('rejects numbers and out-of-range values with the register name', () => {
    const d = dv(LAYOUT.kvm_regs.size);
    const r = decodeRegs(d);
    expect(() => encodeRegs(d, { ...r, rip: 0x1000 as unknown as bigint })).toThrow(/regs\.rip .*n suffix/);
    expect(() => encodeRegs(d, { ...r, rax: -1n })).toThrow(StructValueError);
    expect(() => encodeRegs(d, { ...r, rbx: 2n ** 64n })).toThrow(/regs\.rbx/);
  });
});

describe('kvm_sregs', () => {
  it('round-trips segments, tables, control registers and the interrupt bitmap', () => {
    const d = dv(LAYOUT.kvm_sregs.size);
    const s = decodeSregs(d);
    s.cs = { base: 0xffff0000n, limit: 0xffff, selector: 0xf000, type: 11, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0, unusable: 0 };
    s.tr = { ...s.tr, base: 0x1234n, limit: 0x67, type: 11, present: 1, unusable: 1 };
    s.gdt = { base: 0x5000n, limit: 0x27 };
    s.idt = { base: 0x6000n, limit: 0xfff };
    s.cr0 = 0x80050033n;
    s.cr3 = 0x2000n;
    s.cr4 = 0x20n;
    s.efer = 0xd01n;
    s.interrupt_bitmap = [1n, 0n, 2n ** 63n, 5n];
    encodeSregs(d, s);
    const F = LAYOUT.kvm_sregs.fields;
    const SEG = LAYOUT.kvm_segment.fields;
    expect(d.getUint16(F.cs + SEG.selector, true)).toBe(0xf000);
    expect(d.getUint8(F.tr + SEG.unusable)).toBe(1);
    expect(d.getUint16(F.idt + LAYOUT.kvm_dtable.fields.limit, true)).toBe(0xfff);
    expect(d.getBigUint64(F.efer, true)).toBe(0xd01n);
    expect(decodeSregs(d)).toEqual(s);
  });

  it('rejects a segment field that does not fit its C type', () => {
    const d = dv(LAYOUT.kvm_sregs.size);
    const s = decodeSregs(d);
    expect(() => encodeSregs(d, { ...s, ss: { ...s.ss, selector: 0x10000 } })).toThrow(/sregs\.ss\.selector .*0\.\.2\^16-1/);
    expect(() => encodeSregs(d, { ...s, gdt: { base: 0n, limit: -1 } })).toThrow(/sregs\.gdt\.limit/);
    expect(() => encodeSregs(d, { ...s, interrupt_bitmap: [0n, 0n, 0n, 0n, 0n] })).toThrow(/interrupt_bitmap/);
  });
});

describe('kvm_cpuid2 and kvm_msrs', () => {
  it('round-trips CPUID entries', () => {
    const entries = [
      { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 },
      { function: 7, index: 1, flags: 1, eax: 1, ebx: 2, ecx: 3, edx: 0xffffffff },
    ];
    const b = encodeCpuid2(entries);
    expect(b.length).toBe(LAYOUT.kvm_cpuid2.size + 2 * LAYOUT.kvm_cpuid_entry2.size);
    expect(decodeCpuid2(b)).toEqual(entries);
  });

  it('refuses a nent larger than the buffer', () => {
    const b = encodeCpuid2([]);
    b.writeUInt32LE(3, LAYOUT.kvm_cpuid2.fields.nent);
    expect(() => decodeCpuid2(b)).toThrow(/nent 3 exceeds/);
  });

  it('round-trips MSR entries', () => {
    const e = [{ index: 0xc0000080, data: 0xd01n }, { index: 0x10, data: 2n ** 64n - 1n }];
    const b = encodeMsrs(e, true);
    expect(b.readUInt32LE(LAYOUT.kvm_msrs.fields.nmsrs)).toBe(2);
    expect(decodeMsrs(b, 2)).toEqual(e);
  });
});

describe('kvm_run exit decoding', () => {
  const F = LAYOUT.kvm_run.fields;
  const area = () => new RunArea(new ArrayBuffer(3 * 4096));

  it('decodes an IO exit lazily and reuses the exit object', () => {
    const r = area();
    const d = new ExitDecoder(r);
    r.dv.setUint32(F.exit_reason, EXIT.IO, true);
    r.dv.setUint8(F['io.direction'], 1);
    r.dv.setUint8(F['io.size'], 2);
    r.dv.setUint16(F['io.port'], 0x3f8, true);
    r.dv.setUint32(F['io.count'], 3, true);
    r.dv.setBigUint64(F['io.data_offset'], 4096n, true);
    r.bytes.set([1, 2, 3, 4, 5, 6], 4096);
    const e = d.decode();
    expect(e.reason).toBe('io');
    if (e.reason !== 'io') return;
    expect(e.toJSON()).toEqual({ reason: 'io', direction: 'out', size: 2, port: 0x3f8, count: 3, dataOffset: 4096, data: [1, 2, 3, 4, 5, 6] });
    r.dv.setUint16(F['io.port'], 0x10, true);
    expect(e.port).toBe(0x10); // lazily read from the mapping
    expect(d.decode()).toBe(e);
  });

  it('refuses IO data outside the mapping', () => {
    const r = area();
    r.dv.setUint32(F.exit_reason, EXIT.IO, true);
    r.dv.setUint8(F['io.size'], 4);
    r.dv.setUint32(F['io.count'], 2, true);
    r.dv.setBigUint64(F['io.data_offset'], BigInt(3 * 4096 - 4), true);
    const e = new ExitDecoder(r).decode();
    expect(() => (e.reason === 'io' ? e.data : null)).toThrow(/outside the 12288-byte mapping/);
    r.dv.setBigUint64(F['io.data_offset'], 2n ** 63n, true);
    expect(() => (e.reason === 'io' ? e.data : null)).toThrow(/outside/);
  });

  it('decodes mmio, internal error, fail entry, system event and unknown exits', () => {
    const r = area();
    const d = new ExitDecoder(r);
    r.dv.setUint32(F.exit_reason, EXIT.MMIO, true);
    r.dv.setBigUint64(F['mmio.phys_addr'], 0xfee00000n, true);
    r.dv.setUint32(F['mmio.len'], 4, true);
    r.dv.setUint8(F['mmio.is_write'], 1);
    r.bytes.set([9, 8, 7, 6], F['mmio.data']);
    expect(d.decode().toJSON()).toEqual({ reason: 'mmio', physAddr: 0xfee00000n, len: 4, isWrite: true, data: [9, 8, 7, 6] });

    r.dv.setUint32(F.exit_reason, EXIT.INTERNAL_ERROR, true);
    r.dv.setUint32(F['internal.suberror'], 1, true);
    r.dv.setUint32(F['internal.ndata'], 1000, true); // clamped to the array length
    r.dv.setBigUint64(F['internal.data'], 0xabcn, true);
    const ie = d.decode();
    expect(ie.reason).toBe('internal_error');
    if (ie.reason === 'internal_error') {
      expect(ie.suberror).toBe(1);
      expect(ie.data.length).toBe(16);
      expect(ie.data[0]).toBe(0xabcn);
    }

    r.dv.setUint32(F.exit_reason, EXIT.FAIL_ENTRY, true);
    r.dv.setBigUint64(F['fail_entry.hardware_entry_failure_reason'], 0x80000021n, true);
    r.dv.setUint32(F['fail_entry.cpu'], 1, true);
    expect(d.decode().toJSON()).toEqual({ reason: 'fail_entry', hardwareEntryFailureReason: 0x80000021n, cpu: 1 });

    r.dv.setUint32(F.exit_reason, EXIT.SYSTEM_EVENT, true);
    r.dv.setUint32(F['system_event.type'], 2, true);
    r.dv.setUint32(F['system_event.ndata'], 1, true);
    r.dv.setBigUint64(F['system_event.data'], 0xdefn, true);
    expect(d.decode().toJSON()).toEqual({ reason: 'system_event', type: 2, data: [0xdefn] });

    for (const [code, reason] of [[EXIT.HLT, 'hlt'], [EXIT.SHUTDOWN, 'shutdown'], [EXIT.INTR, 'intr'], [EXIT.IRQ_WINDOW_OPEN, 'irq_window_open']] as const) {
      r.dv.setUint32(F.exit_reason, code, true);
      expect(d.decode().reason).toBe(reason);
    }
    r.dv.setUint32(F.exit_reason, 29, true); // KVM_EXIT_X86_RDMSR: not decoded
    expect(d.decode().toJSON()).toMatchObject({ reason: 'unknown', code: 29 });
  });

  it('immediate_exit and the interrupt-window bytes sit at their offsets', () => {
    const r = area();
    r.immediateExit = true;
    expect(r.dv.getUint8(F.immediate_exit)).toBe(1);
    r.requestInterruptWindow = true;
    expect(r.dv.getUint8(F.request_interrupt_window)).toBe(1);
    r.dv.setUint8(F.ready_for_interrupt_injection, 1);
    expect(r.readyForInterruptInjection).toBe(true);
    expect(() => new RunArea(new ArrayBuffer(100))).toThrow(/smaller than struct kvm_run/);
  });
});

describe('interrupt plumbing encoders (src/kvm/irq.ts)', () => {
  it('kvm_irqfd, kvm_irq_level, kvm_enable_cap and an MSI routing table land at the checked offsets', () => {
    const fd = encodeIrqfd(24, 7, true);
    expect([fd.readUInt32LE(LAYOUT.kvm_irqfd.fields.fd), fd.readUInt32LE(LAYOUT.kvm_irqfd.fields.gsi), fd.readUInt32LE(LAYOUT.kvm_irqfd.fields.flags)]).toEqual([7, 24, IRQFD_FLAG.deassign]);
    const lv = encodeIrqLevel(5, 1);
    expect([lv.readUInt32LE(0), lv.readUInt32LE(LAYOUT.kvm_irq_level.fields.level)]).toEqual([5, 1]);
    const cap = encodeEnableCap(CAP.HALT_POLL, [200000n]);
    expect(cap.readBigUInt64LE(LAYOUT.kvm_enable_cap.fields.args)).toBe(200000n);
    const rt = encodeGsiRouting([{ gsi: 24, type: 'msi', addressLo: msiAddress(1), data: 0x30 }]);
    const e = LAYOUT.kvm_irq_routing.fields.entries;
    expect(rt.length).toBe(LAYOUT.kvm_irq_routing.size + LAYOUT.kvm_irq_routing_entry.size);
    expect(rt.readUInt32LE(e + LAYOUT.kvm_irq_routing_entry.fields.type)).toBe(IRQ_ROUTING.msi);
    expect(rt.readUInt32LE(e + LAYOUT.kvm_irq_routing_entry.fields['u.msi.address_lo'])).toBe(0xfee01000);
    expect(rt.readUInt32LE(e + LAYOUT.kvm_irq_routing_entry.fields['u.msi.data'])).toBe(0x30);
  });

  it('out-of-range values fail naming the field', () => {
    expect(() => encodeIrqfd(-1, 3, false)).toThrow(/KVM_IRQFD.*gsi -1/);
    expect(() => encodeEnableCap(CAP.HALT_POLL, [1n, 2n, 3n, 4n, 5n])).toThrow(/at most 4 arguments/);
    expect(() => encodeGsiRouting([{ gsi: 1, type: 'msi', addressLo: 2 ** 32, data: 0 }])).toThrow(/routes\[0\]\.addressLo/);
    expect(() => msiAddress(256)).toThrow(/APIC id/);
  });
});
