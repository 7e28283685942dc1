/**
 * Interrupt plumbing of a VM with an in-kernel irqchip: the argument structures of
 * KVM_IRQFD, KVM_IRQ_LINE, KVM_SET_GSI_ROUTING and KVM_ENABLE_CAP, encoded from plain objects
 * with their values range-checked (a bad value fails here, naming the field, not as an
 * EINVAL from the kernel).
 *
 * The model, x86 with KVM_CREATE_IRQCHIP: a GSI (global system interrupt number) is an input
 * of the VM's routing table. By default GSIs 0-15 are wired to the two 8259 PICs and to the
 * IOAPIC pins of the same number, and 16-23 to the IOAPIC only. KVM_SET_GSI_ROUTING replaces
 * the whole table; an MSI entry turns a GSI into a message straight to a LAPIC (destination
 * in the address, vector in the data), which is the route a device's interrupt takes on real
 * hardware and the only one KVM can inject from an irqfd without a worker thread.
 */
import { kvmError } from './errors.js';
import { ARRAYS, IRQFD_FLAG, IRQ_ROUTING, LAYOUT } from './layout.js';

const EINVAL = 22;
const U32_MAX = 0xffffffff;

/** One entry of the GSI routing table. */
export type GsiRoute =
  | { gsi: number; type: 'msi'; addressLo: number; addressHi?: number; data: number }
  | { gsi: number; type: 'irqchip'; irqchip: number; pin: number };

/** The MSI address of a fixed-delivery message to the LAPIC with this (x)APIC id, physical mode. */
export function msiAddress(apicId: number): number {
  if (!Number.isInteger(apicId) || apicId < 0 || apicId > 255) throw new RangeError(`APIC id ${apicId} must be 0..255 (xAPIC MSI destination)`);
  return 0xfee00000 + apicId * 2 ** 12;
}

function u32(call: string, what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw kvmError(call, EINVAL, `${what} ${v} must be a 32-bit unsigned integer`);
  return v;
}

/** struct kvm_irqfd: bind (or with deassign, unbind) eventfd `fd` to `gsi`. */
export function encodeIrqfd(gsi: number, fd: number, deassign: boolean): Buffer {
  const f = LAYOUT.kvm_irqfd.fields;
  const b = Buffer.alloc(LAYOUT.kvm_irqfd.size);
  if (!Number.isInteger(fd) || fd < 0) throw kvmError('KVM_IRQFD', 9, `fd ${fd} is not a file descriptor`);
  b.writeUInt32LE(fd, f.fd);
  b.writeUInt32LE(u32('KVM_IRQFD', 'gsi', gsi), f.gsi);
  b.writeUInt32LE(deassign ? IRQFD_FLAG.deassign : 0, f.flags);
  return b;
}

/** struct kvm_irq_level: drive input `irq` (a GSI) high (1) or low (0). */
export function encodeIrqLevel(irq: number, level: 0 | 1): Buffer {
  const f = LAYOUT.kvm_irq_level.fields;
  const b = Buffer.alloc(LAYOUT.kvm_irq_level.size);
  b.writeUInt32LE(u32('KVM_IRQ_LINE', 'irq', irq), f.irq);
  b.writeUInt32LE(level, f.level);
  return b;
}

/** struct kvm_enable_cap with up to four 64-bit arguments. */
export function encodeEnableCap(cap: number, args: readonly bigint[]): Buffer {
  const n = ARRAYS['kvm_enable_cap.args'];
  if (args.length > n) throw kvmError('KVM_ENABLE_CAP', EINVAL, `capability ${cap}: at most ${n} arguments, got ${args.length}`);
  const f = LAYOUT.kvm_enable_cap.fields;
  const b = Buffer.alloc(LAYOUT.kvm_enable_cap.size);
  b.writeUInt32LE(u32('KVM_ENABLE_CAP', 'cap', cap), f.cap);
  args.forEach((a, i) => {
    if (typeof a !== 'bigint' || a < 0n || a >= 2n ** 64n) throw kvmError('KVM_ENABLE_CAP', EINVAL, `capability ${cap}: args[${i}] must be a BigInt in 0..2^64-1`);
    b.writeBigUInt64LE(a, f.args + 8 * i);
  });
  return b;
}

/** struct kvm_irq_routing followed by its entries. */
export function encodeGsiRouting(routes: readonly GsiRoute[]): Buffer {
  const hdr = LAYOUT.kvm_irq_routing;
  const ent = LAYOUT.kvm_irq_routing_entry;
  const b = Buffer.alloc(hdr.size + routes.length * ent.size);
  b.writeUInt32LE(routes.length, hdr.fields.nr);
  routes.forEach((r, i) => {
    const at = hdr.fields.entries + i * ent.size;
    const e = ent.fields;
    const call = 'KVM_SET_GSI_ROUTING';
    b.writeUInt32LE(u32(call, `routes[${i}].gsi`, r.gsi), at + e.gsi);
    if (r.type === 'msi') {
      b.writeUInt32LE(IRQ_ROUTING.msi, at + e.type);
      b.writeUInt32LE(u32(call, `routes[${i}].addressLo`, r.addressLo), at + e['u.msi.address_lo']);
      b.writeUInt32LE(u32(call, `routes[${i}].addressHi`, r.addressHi ?? 0), at + e['u.msi.address_hi']);
      b.writeUInt32LE(u32(call, `routes[${i}].data`, r.data), at + e['u.msi.data']);
    } else if (r.type === 'irqchip') {
      b.writeUInt32LE(IRQ_ROUTING.irqchip, at + e.type);
      b.writeUInt32LE(u32(call, `routes[${i}].irqchip`, r.irqchip), at + e['u.irqchip.irqchip']);
      b.writeUInt32LE(u32(call, `routes[${i}].pin`, r.pin), at + e['u.irqchip.pin']);
    } else {
      throw kvmError(call, EINVAL, `routes[${i}].type must be 'msi' or 'irqchip'`);
    }
  });
  return b;
}
