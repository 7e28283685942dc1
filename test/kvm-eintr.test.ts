// Setup ioctls interrupted by a signal. KVM_CREATE_VM registers an MMU notifier, and the
// kernel's mm_take_all_locks() returns -EINTR whenever a signal is pending: an operator's
// SIGTERM that lands while `ix run` creates its VM once made the run fail with
// "KVM_CREATE_VM failed: EINTR" instead of stopping cleanly once up. createVm() now runs
// with signals blocked on its thread (other setup ioctls are issued again on EINTR); this
// test creates VMs while another process signals this one as fast as it can, and expects
// every creation to succeed (without the fix, the first few fail).
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Kvm } from '../src/kvm/index.js';
const retryEintr = (c: () => number, t = 64) => { let r = c(); for (let i = 1; i < t && r === -4; i++) r = c(); return r; };
import { describeKvm } from './fixtures/kvm/env.js';

it('retryEintr repeats only EINTR, and gives up after the bound', () => {
  let n = 0;
  expect(retryEintr(() => (++n < 3 ? -4 : 7))).toBe(7);
  expect(n).toBe(3);
  n = 0;
  expect(retryEintr(() => (++n, -22))).toBe(-22); // EINVAL: no retry
  expect(n).toBe(1);
  n = 0;
  expect(retryEintr(() => (++n, -4), 5)).toBe(-4);
  expect(n).toBe(5);
});

describeKvm('KVM setup under a signal storm', () => {
  const noop = () => {};
  beforeAll(() => {
    process.on('SIGURG', noop); // any signal with a JS listener: node's handler runs, the ioctl sees it pending
  });
  afterAll(() => {
    process.off('SIGURG', noop);
  });

  it('creates 300 VMs while SIGURG arrives continuously: none fails with EINTR', async () => {
    const storm = spawn('bash', ['-c', `while kill -URG ${process.pid} 2>/dev/null; do :; done`], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100)); // let the storm start
      const kvm = Kvm.open();
      try {
        for (let i = 0; i < 300; i++) kvm.createVm().close();
      } finally {
        kvm.close();
      }
    } finally {
      storm.kill('SIGKILL');
    }
  }, 60_000);
});
