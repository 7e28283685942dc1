/**
 * Attaching the dataplane's NIC (docs/nic.md): the VMM's side of src/nic/attach.ts.
 * The plan (src/nic/plan.ts, built from the config) says what; this says where in the VM:
 * the reserved guest-physical range, the boot info page and the kick port.
 */
import { AttachNicError, attachNic, type AttachedNic as NicAttached } from '../nic/attach.js';
import type { NicPlan } from '../nic/plan.js';
import { BootInfo } from '../abi/index.js';
import { bootInfoView } from './boot.js';
import type { Vm } from '../kvm/index.js';

/** the attached NIC and the port its kicks arrive on */
export type AttachedNic = NicAttached & { notifyPort: number };

export const NIC_NOTIFY_PORT = 0x1e8;
/** guest-physical bytes reserved for the rings (16 queue pairs of 256 entries fit easily) */
export const NIC_RING_RESERVE = 1 << 20;

export async function attachDataplaneNic(
  plan: NicPlan,
  mem: { base: number; size: number; view: DataView },
  ringArea: { start: number; end: number },
  nqueues: number,
  log: (msg: string) => void,
  /** per RX queue: an eventfd the backend writes when it wakes that queue (irqfd; docs/wake.md) */
  wakeFds?: number[],
  /** xdp_rings "guest": the window above RAM (mapped by the boot page table) for the AF_XDP ring slots */
  xskWindow?: { start: number; size: number },
): Promise<AttachedNic> {
  if (plan.nqueues !== nqueues)
    throw new AttachNicError(`the NIC plan has ${plan.nqueues} queue pairs but the VM ${nqueues} vCPUs; plan the NIC with the dataplane's core count`);
  const nic = await attachNic(plan, {
    memory: { base: mem.base, size: mem.size },
    ringArea,
    notifyPort: NIC_NOTIFY_PORT,
    bootInfo: { view: bootInfoView(mem.view), offset: BootInfo.at.nic },
    backend: { log, ...(wakeFds ? { wakeFds } : {}) },
    ...(xskWindow ? { xskWindow } : {}),
  });
  return { ...nic, notifyPort: NIC_NOTIFY_PORT };
}

/** The first KVM memory slot of the AF_XDP rings (slot 0 is guest RAM). */
export const XSK_FIRST_SLOT = 1;

/**
 * xdp_rings "guest": add every ring mmap as a memory slot at the address the guest was told,
 * and point the boot info at struct ix_xsk_info. Returns the slots added (to delete at stop).
 */
export function mapXskRings(vm: Vm, nic: AttachedNic, mem: DataView): number[] {
  const x = nic.handle.xsk;
  if (!x) return [];
  const added: number[] = [];
  try {
    x.slots.forEach((s, i) => {
      const slot = XSK_FIRST_SLOT + i;
      vm.setUserMemoryRegion({ slot, flags: 0, guestPhysAddr: BigInt(s.gpa), memorySize: BigInt(s.size), userspaceAddr: BigInt(s.hostAddr) });
      added.push(slot);
    });
  } catch (e) {
    unmapXskRings(vm, added);
    throw new AttachNicError(`KVM did not accept the AF_XDP rings as guest memory (${(e as Error).message}); use [nic] xdp_rings = "host" on this host`);
  }
  bootInfoView(mem).setBigUint64(BootInfo.fields.xskInfoPhys.at, BigInt(x.infoGpa), true);
  return added;
}

/** Delete the ring slots before the sockets (and their mmaps) go away. */
export function unmapXskRings(vm: Vm, slots: number[]): void {
  for (const slot of slots) vm.setUserMemoryRegion({ slot, flags: 0, guestPhysAddr: 0n, memorySize: 0n, userspaceAddr: 0n });
  slots.length = 0;
}
