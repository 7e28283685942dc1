/**
 * `npm run bench -- wake`: how a halted vCPU is woken, per route (src/vmm/halt-probe.ts):
 * today's user-space path (KVM_EXIT_HLT, futex, KVM_INTERRUPT) against an in-kernel irqchip
 * woken by an irqfd through the PIC or an MSI route, and the MSI route with halt polling.
 * Trigger -> guest handler, µs, over `samples` wake-ups with the guest halted `idleMs` each.
 * idleMs 0 still waits one timer turn (~1 ms) of the main thread. The probe guest is real mode, which PVM hosts run emulated (docs/wake.md).
 */
import { probeHaltWake, type HaltProbeResult, type WakeRoute } from '../vmm/halt-probe.js';
import { removeKickHandler } from '../kvm/index.js';

export interface WakeBenchRow extends HaltProbeResult {
  idleMs: number;
}

const CASES: { route: WakeRoute; haltPollNs?: number }[] = [
  { route: 'user' },
  { route: 'pic', haltPollNs: 0 },
  { route: 'msi', haltPollNs: 0 },
  { route: 'msi', haltPollNs: 200_000 },
];

export async function runWakeBench(samples = 200, idleMsList = [2, 0]): Promise<WakeBenchRow[]> {
  const rows: WakeBenchRow[] = [];
  try {
    for (const idleMs of idleMsList) {
      for (const c of CASES) rows.push({ idleMs, ...(await probeHaltWake({ ...c, samples, idleMs })) });
    }
  } finally {
    removeKickHandler();
  }
  return rows;
}

export function printWakeBench(rows: WakeBenchRow[]): void {
  console.log('wake a halted vCPU: trigger -> guest handler (µs); CPU = vCPU thread time over the loop');
  console.log('idle ms  route  halt-poll ns  HLT in kernel  delivered   min  median   p90     max  CPU ms / loop ms');
  for (const r of rows) {
    const w = r.wakeUs;
    console.log(
      `${String(r.idleMs).padStart(7)}  ${r.route.padEnd(5)}  ${String(r.haltPollNs ?? '-').padStart(12)}  ${String(r.haltBlocksInKernel).padStart(13)}  ` +
        `${`${r.delivered}/${r.samples}`.padStart(9)}  ${w ? `${String(w.min).padStart(5)} ${String(w.median).padStart(7)} ${String(w.p90).padStart(5)} ${String(w.max).padStart(7)}` : '     -       -     -       -'}  ` +
        `${r.loopCpuMs.toFixed(1)} / ${r.loopMs.toFixed(0)}${r.error ? `  error: ${r.error}` : ''}`,
    );
  }
}
