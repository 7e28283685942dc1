// The host half of the runaway-app watchdog (src/vmm/runaway.ts): which runs it calls
// overdue, given the stamps the guest wrote and the host's clock. Pure: no KVM, no timers.
import { describe, expect, it } from 'vitest';
import { RunawayWatchdog, runawaySamplePeriodMs } from '../src/vmm/runaway.js';

describe('runaway watchdog (host side)', () => {
  it('calls a run overdue only once it has kept the same stamp for max_run_ms', () => {
    const dog = new RunawayWatchdog(2, 100);
    expect(dog.sample([5n, 7n], 0)).toEqual([]); // first seen
    expect(dog.sample([5n, 7n], 99)).toEqual([]);
    expect(dog.sample([5n, 8n], 100)).toEqual([{ cpu: 0, stamp: 5n }]); // cpu 1 returned and re-entered
    expect(dog.sample([5n, 8n], 150)).toEqual([{ cpu: 0, stamp: 5n }]); // still overdue: asked again
    expect(dog.sample([5n, 8n], 200)).toEqual([{ cpu: 0, stamp: 5n }, { cpu: 1, stamp: 8n }]);
  });

  it('never calls the kernel (stamp 0) overdue, however long it runs', () => {
    const dog = new RunawayWatchdog(1, 10);
    expect(dog.sample([0n], 0)).toEqual([]);
    expect(dog.sample([0n], 1_000_000)).toEqual([]);
  });

  it('starts the clock again when a run ends, even if the next one is as long', () => {
    const dog = new RunawayWatchdog(1, 100);
    dog.sample([1n], 0);
    dog.sample([0n], 90); // the app returned to the kernel
    dog.sample([2n], 95);
    expect(dog.sample([2n], 180)).toEqual([]);
    expect(dog.sample([2n], 195)).toEqual([{ cpu: 0, stamp: 2n }]);
  });

  it('samples four times per limit, between 1 ms and 250 ms', () => {
    expect(runawaySamplePeriodMs(10)).toBe(2);
    expect(runawaySamplePeriodMs(200)).toBe(50);
    expect(runawaySamplePeriodMs(3_600_000)).toBe(250);
    expect(runawaySamplePeriodMs(1)).toBe(1);
  });

  it('refuses a limit or CPU count it cannot work with', () => {
    expect(() => new RunawayWatchdog(0, 100)).toThrow(/at least 1/);
    expect(() => new RunawayWatchdog(1, 0)).toThrow(/must be positive/);
  });
});
