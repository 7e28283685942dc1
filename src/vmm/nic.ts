/**
 * Attaching the dataplane's NIC (docs/nic.md): the VMM's side of src/nic/attach.ts.
 * The plan (src/nic/plan.ts, built from the config) says what; this says where in the VM:
 * the reserved guest-physical range, the boot info page and the kick port.
 */
import { AttachNicError, attachNic, type AttachedNic as NicAttached } from '../nic/attach.js';
import type { NicPlan } from '../nic/plan.js';
import { BootInfo } from '../abi/index.js';
import { bootInfoView } from './boot.js';

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
): Promise<AttachedNic> {
  if (plan.nqueues !== nqueues)
    throw new AttachNicError(`the NIC plan has ${plan.nqueues} queue pairs but the VM ${nqueues} vCPUs; plan the NIC with the dataplane's core count`);
  const nic = await attachNic(plan, {
    memory: { base: mem.base, size: mem.size },
    ringArea,
    notifyPort: NIC_NOTIFY_PORT,
    bootInfo: { view: bootInfoView(mem.view), offset: BootInfo.at.nic },
    backend: { log, ...(wakeFds ? { wakeFds } : {}) },
  });
  return { ...nic, notifyPort: NIC_NOTIFY_PORT };
}
