// sched_slice_us end to end: a dataplane started with it has its vCPU thread and its NIC
// thread on that scheduler slice (sched_setattr sched_runtime, read back from
// /proc/<pid>/task/<tid>/sched), and one started without it leaves every thread on the
// kernel's slice. The slice's effect on throughput is a benchmark question (docs/nic.md).
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { startDataplane } from './dataplane-proc.js';

const run = requireNetKvm('the sched_slice_us test');

const { dir, cleanup } = tempDir('ix-slice-');
afterAll(cleanup);

function config(name: string, slice: string): string {
  return writeConfig(
    dir,
    name,
    `name = "${name}"\ncores = 1\nmemory = "128M"\n${slice}[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "16M"\n` +
      `[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\n`,
  );
}

/**
 * se.slice (ns) of the process's own threads; null where the kernel does not show it (before
 * 6.12). KVM's helper thread (kvm-nx-lpage-recovery) is left out: the kernel creates it in the
 * process from the vCPU thread, so it inherits that thread's slice.
 */
function slices(pid: number): (number | null)[] {
  const out: (number | null)[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').startsWith('kvm-')) continue;
      const m = /^se\.slice\s+:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${t}/sched`, 'utf8'));
      out.push(m ? Number(m[1]) : null);
    } catch {
      // the thread exited meanwhile
    }
  }
  return out;
}

describe.runIf(run)('sched_slice_us', () => {
  it('puts the vCPU and NIC threads on the slice asked for, and leaves the kernel its own without it', async () => {
    const kernelSlice = slices(process.pid)[0] ?? null;
    for (const [name, slice, want] of [
      ['slice100', 'sched_slice_us = 100\n', 2],
      ['slice0', '', 0],
    ] as const) {
      const dp = await startDataplane(config(name, slice), /echo: serving/);
      try {
        const s = slices(dp.proc.pid!);
        if (kernelSlice === null) continue; // nothing to read back on this kernel; ix run still started
        // the vCPU thread and the NIC worker (and nothing else of the process) at 100 µs
        expect(s.filter((x) => x === 100_000).length).toBe(want);
      } finally {
        const { code } = await dp.stop();
        expect(code).toBe(0);
      }
    }
  });
});
