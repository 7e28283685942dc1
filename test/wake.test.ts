// Waking a halted dataplane core (docs/wake.md), on both paths: "kernel" (in-kernel LAPIC,
// the NIC backend's irqfd, the core's own LAPIC timer) and "user" (the halt exits to the
// vCPU worker, which sleeps on the NIC's wake counter). For each: sparse echo traffic that
// makes the core halt before every request, every byte checked; an idle core that halts,
// keeps taking its timer, and costs the host almost no CPU. The choice itself ("auto") is
// unit-tested without KVM. Under CI=true nothing skips.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, ix, logRecords, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane } from './dataplane-proc.js';
import { chooseWake, WakeError } from '../src/vmm/wake.js';
import { CAP, type Kvm } from '../src/kvm/index.js';

describe('choosing the wake path', () => {
  const kvm = (missing: number[] = []) => ({ checkExtension: (cap: number) => (missing.includes(cap) ? 0 : 1) }) as unknown as Kvm;
  const ctx = { hasNic: true };
  it('"auto" takes the kernel path where KVM has IRQCHIP, IRQFD and IRQ_ROUTING and there is a NIC', () => {
    expect(chooseWake('auto', kvm(), ctx).mode).toBe('kernel');
    expect(chooseWake('auto', kvm([CAP.IRQFD]), ctx)).toEqual({ mode: 'user', reason: 'auto: KVM lacks KVM_CAP_IRQFD' });
    expect(chooseWake('auto', kvm(), { ...ctx, hasNic: false }).mode).toBe('user');
  });
  it('"kernel" where it cannot work is an error that says what to change; "user" is always user', () => {
    expect(() => chooseWake('kernel', kvm([CAP.IRQCHIP]), ctx)).toThrow(/lacks KVM_CAP_IRQCHIP; use wake = "auto" or "user"/);
    expect(() => chooseWake('kernel', kvm(), { ...ctx, hasNic: false })).toThrow(WakeError);
    expect(chooseWake('user', kvm(), ctx)).toEqual({ mode: 'user', reason: 'configured: wake = "user"' });
  });
});

const run = requireNetKvm('wake tests');

const { dir, cleanup } = tempDir('ix-wake-');
afterAll(cleanup);
const CLIENT = resolve('test/fixtures/e2e/echo_client.py'); // its `sparse` series is also the client of `npm run bench -- wake`
/** request/response pairs, one every GAP_MS: each one finds the core halted */
const COUNT = Number(process.env.IX_WAKE_COUNT ?? 1500);
const GAP_MS = 2;
const IDLE_S = 3;
/** share of one CPU the whole idle `ix run` may use (the nested run under TCG allows more) */
const IDLE_CPU_MAX = Number(process.env.IX_WAKE_IDLE_CPU_MAX ?? 0.3);

/** CPU seconds (user + system) the process has used so far, from /proc */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

type Counters = { halts: number; haltExits: number }[];
function counters(name: string): Counters {
  const r = ix(['stats', name, '--json'], 20_000);
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { counters: Counters }).counters;
}

// [app] max_run_ms with the in-kernel LAPIC: KVM_INTERRUPT is refused there, so the vCPU
// worker injects the runaway interrupt as a vCPU event (docs/protection.md, docs/wake.md)
describe.runIf(run)('a runaway app with wake = "kernel"', () => {
  it('is stopped and reported; the other core goes on; the run ends once both cores are idle', () => {
    const name = 'wakespin';
    const r = ix(['run', writeConfig(dir, name, `name = "${name}"\ncores = 2\nwake = "kernel"\n[app]\npath = "${appElf('fault')}"\nargs = ["spin", "core=0"]\nmax_run_ms = 100\n[nic]\nnamespace = true\naddress = "10.10.0.2/24"\n`)]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/"wake":"kernel"/);
    expect(r.stdout).toMatch(/core 1\] core 1: not the faulting core/);
    const faults = logRecords(r.stderr).filter((x) => x.kind !== undefined && x.rip !== undefined);
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatchObject({ cpu: 0, kind: 'runaway app' });
    expect(String(faults[0]!.symbol)).toMatch(/^spin(\+0x[0-9a-f]+)?$/);
    expect(r.stderr).toMatch(new RegExp(`^ix: ${name}: no app left: 1 of 2 cores stopped their app after a fault$`, 'm'));
  });
});

describe.runIf(run).each(['kernel', 'user'] as const)('wake = "%s"', (mode) => {
  it(`a halted core is woken by every one of ${COUNT} sparse requests, nothing lost; idle, it halts on its timer and costs ~no host CPU`, async () => {
    const name = `wake${mode}`;
    const cfg = writeConfig(
      dir,
      name,
      `name = "${name}"\ncores = 1\nmemory = "128M"\nidle_poll_us = 0\nwake = "${mode}"\n[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "16M"\n` +
        `[nic]\nnamespace = true\naddress = "10.10.0.2/24"\n`,
    );
    const dp = await startDataplane(cfg, /echo: serving/);
    let echo: { count: number; ok: number; bytes: number; bad: unknown; rtt_us: Record<string, number> };
    let before: Counters, after: Counters, cpu: number;
    try {
      const up = dp.records.find((r) => String(r.msg).startsWith('NIC up'));
      expect(up?.wake, JSON.stringify(up)).toBe(mode);

      const r = dp.exec('python3', [CLIENT, dp.address, '7', 'sparse', String(COUNT), String(GAP_MS)], 120_000);
      expect(r.status, r.stderr).toBe(0);
      echo = JSON.parse(r.stdout) as typeof echo;
      console.log(`wake=${mode}: ${COUNT} sparse echoes, RTT µs ${JSON.stringify(echo.rtt_us)}`);
      expect(echo.bad).toBeNull();
      expect(echo.ok).toBe(COUNT);

      // idle: no traffic at all for a few seconds
      before = counters(name);
      const c0 = cpuSeconds(dp.proc.pid!);
      await new Promise((res) => setTimeout(res, IDLE_S * 1000));
      cpu = (cpuSeconds(dp.proc.pid!) - c0) / IDLE_S;
      after = counters(name);
    } finally {
      const { code, summary } = await dp.stop();
      expect(code).toBe(0);
      expect(netnsExists(dp.netns)).toBe(false);
      var core = (summary!.cores as { halts: number; irqNic: number; irqTimer: number }[])[0]!;
      expect(summary!.wake).toBe(mode);
    }
    console.log(`wake=${mode}: idle ${IDLE_S} s: ${after[0]!.halts - before[0]!.halts} halts, ${after[0]!.haltExits - before[0]!.haltExits} halt exits, ix used ${(cpu * 100).toFixed(1)}% of a CPU; run: ${JSON.stringify(core)}`);
    // every request found the core halted (or about to): at least a quarter of them woke it
    expect(core.halts).toBeGreaterThan(COUNT / 4);
    // idle, the core still halts and wakes for its timers (at most 10 ms apart): >= 20/s
    expect(after[0]!.halts - before[0]!.halts).toBeGreaterThan(20 * IDLE_S);
    // a core that polled instead of halting would cost a whole CPU
    expect(cpu).toBeLessThan(IDLE_CPU_MAX);
    if (mode === 'kernel') {
      expect(core.irqNic).toBeGreaterThan(COUNT / 4); // woken by the backend's irqfd
      expect(core.irqTimer).toBeGreaterThan(20 * IDLE_S); // and by its own LAPIC timer
      expect(after[0]!.haltExits).toBe(0); // no halt ever reached user space
    } else {
      expect(core.irqNic + core.irqTimer).toBe(0);
      expect(after[0]!.haltExits - before[0]!.haltExits).toBeGreaterThan(20 * IDLE_S);
    }
  });
});
