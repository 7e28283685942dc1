/**
 * The vCPU thread of the halt/wake probe (halt-probe.ts): KVM_RUN in a loop, counting exits
 * in shared cells and stamping each "interrupt handled" report (an OUT to REPORT_PORT) with
 * CLOCK_MONOTONIC, so the main thread can time write(eventfd) -> handler without a message.
 *
 * Mode 'user' reproduces today's VMM wake path for comparison: on KVM_EXIT_HLT the thread
 * sleeps on a futex (Atomics.wait) until the main thread rings the doorbell, then injects the
 * vector with KVM_INTERRUPT and re-enters, as src/vmm/vcpu-worker.ts does with the NIC's
 * wake counters.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Vcpu, SysError } from '../kvm/index.js';
import * as libc from '../sys/libc.js';
import { PROBE, REPORT_PORT, type ProbeWorkerData } from './halt-probe-cells.js';

const d = workerData as ProbeWorkerData;
const ctl = new Int32Array(d.control);
const stamps = new BigInt64Array(d.stamps);
const vcpu = Vcpu.fromFd(d.vcpuFd, d.mmapSize, 0);
Atomics.store(ctl, PROBE.tid, libc.gettid());
Atomics.notify(ctl, PROBE.tid);

const bump = (cell: number): void => {
  Atomics.add(ctl, cell, 1);
  Atomics.notify(ctl, cell);
};

loop: while (!Atomics.load(ctl, PROBE.stop)) {
  let exit;
  try {
    exit = vcpu.run();
  } catch (e) {
    if (e instanceof SysError && e.code === 'EINTR') {
      vcpu.setImmediateExit(false);
      continue; // the kick; the loop condition decides whether to go on
    }
    Atomics.store(ctl, PROBE.failed, 1);
    parentPort!.postMessage({ error: (e as Error).message });
    break;
  }
  bump(PROBE.exits);
  switch (exit.reason) {
    case 'io':
      if (exit.port === REPORT_PORT) {
        const n = Atomics.load(ctl, PROBE.reports);
        if (n < stamps.length) stamps[n] = process.hrtime.bigint();
        bump(PROBE.reports);
      } // other ports: PIC programming without an in-kernel PIC (mode 'user'); ignored
      break;
    case 'hlt': {
      bump(PROBE.hltExits);
      if (!d.userWake) break;
      // Today's path: sleep in user space until the doorbell moves, then inject.
      const seen = Atomics.load(ctl, PROBE.doorbellSeen);
      while (Atomics.load(ctl, PROBE.doorbell) === seen) {
        if (Atomics.load(ctl, PROBE.stop)) break loop;
        Atomics.wait(ctl, PROBE.doorbell, seen, 100);
      }
      Atomics.add(ctl, PROBE.doorbellSeen, 1);
      vcpu.interrupt(d.vector);
      break;
    }
    default:
      Atomics.store(ctl, PROBE.failed, 1);
      parentPort!.postMessage({ error: `unexpected exit ${exit.reason}` });
      break loop;
  }
}
vcpu.close();
Atomics.store(ctl, PROBE.done, 1);
Atomics.notify(ctl, PROBE.done);
