// The vCPU kick: a worker thread blocked in KVM_RUN (the guest spins forever) is made to
// return by the main thread with immediate_exit=1 + tgkill(SIGUSR2), with a SIGUSR2 handler
// installed so the signal interrupts the ioctl instead of killing the process.
// The worker imports the built binding (dist/kvm): `npm test` builds it first.
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installKickHandler, libc, removeKickHandler } from '../src/kvm/index.js';
import { builtBinding, describeKvm, tinyGuest, type TinyGuest } from './fixtures/kvm/env.js';

const COUNTER = 0x500; // u16 the guest increments on every loop iteration
const STOP = 0x502; // u8 the host sets to make the guest leave its loop
// loop: incw (0x500); cmpb $0,(0x502); je loop; out %al,$0x10; hlt
const SPIN = [0xff, 0x06, 0x00, 0x05, 0x80, 0x3e, 0x02, 0x05, 0x00, 0x74, 0xf5, 0xe6, 0x10, 0xf4];

type Msg =
  | { type: 'ready'; tid: number }
  | { type: 'entering'; round: number }
  | { type: 'result'; round: number; ms: number; immediateExit: boolean; exit?: string; code?: string; ioctl?: string; errno?: number; error?: string };

describeKvm('kicking a vCPU worker out of KVM_RUN', () => {
  let g: TinyGuest;
  let worker: Worker;
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const inbox: Msg[] = [];
  const waiters: (() => void)[] = [];
  let tid = 0;

  const counter = () => g.u8[COUNTER]! | (g.u8[COUNTER + 1]! << 8);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  async function next<T extends Msg['type']>(type: T, timeoutMs: number): Promise<Extract<Msg, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return inbox.splice(i, 1)[0] as Extract<Msg, { type: T }>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no '${type}' message from the vCPU worker within ${timeoutMs} ms`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(left)]);
    }
  }

  /** Resolves once the guest counter moves: the vCPU is executing inside KVM_RUN. */
  async function guestRunning(timeoutMs = 5000): Promise<void> {
    const c0 = counter();
    const deadline = Date.now() + timeoutMs;
    while (counter() === c0) {
      if (Date.now() > deadline) throw new Error(`the guest counter stayed at ${c0} for ${timeoutMs} ms: the vCPU is not running`);
      await sleep(5);
    }
  }

  function go(): void {
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  }

  beforeAll(async () => {
    const module = builtBinding();
    g = tinyGuest(SPIN);
    installKickHandler();
    worker = new Worker(resolve('test/fixtures/kvm/kick-worker.mjs'), {
      workerData: { module, fd: g.vcpu.fd, mmapSize: g.kvm.vcpuMmapSize(), control: ctl.buffer, rounds: 3 },
    });
    worker.on('message', (m: Msg) => {
      inbox.push(m);
      waiters.splice(0).forEach((w) => w());
    });
    worker.on('error', (e) => inbox.push({ type: 'result', round: -1, ms: 0, immediateExit: false, error: String(e) }));
    tid = (await next('ready', 10_000)).tid;
  });

  afterAll(async () => {
    // Whatever happened, make the guest and the worker finish before closing the fds.
    if (g) g.u8[STOP] = 1;
    if (worker) {
      for (let i = 0; i < 3; i++) go();
      const exited = new Promise<void>((r) => worker.once('exit', () => r()));
      const t = setInterval(() => {
        g.vcpu.setImmediateExit(true);
        try {
          libc.tgkill(process.pid, tid, 'SIGUSR2');
        } catch {
          // the thread is gone already
        }
      }, 50);
      await Promise.race([exited, sleep(5000)]);
      clearInterval(t);
    }
    removeKickHandler();
    g?.close();
  });

  it('the worker runs on its own kernel thread', () => {
    expect(tid).toBeGreaterThan(0);
    expect(tid).not.toBe(libc.gettid());
  });

  it('immediate_exit + tgkill(SIGUSR2) (vcpu.kick) makes a spinning KVM_RUN return EINTR within a second', async () => {
    go();
    await next('entering', 5000);
    await guestRunning();
    const t0 = performance.now();
    g.vcpu.kick(tid); // = setImmediateExit(true) + tgkill(pid, tid, 'SIGUSR2')
    const r = await next('result', 1000);
    expect(r).toMatchObject({ round: 0, code: 'EINTR', ioctl: 'KVM_RUN', errno: 4, immediateExit: true });
    expect(performance.now() - t0).toBeLessThan(1000);
    // Out of KVM_RUN, the guest no longer moves.
    const c = counter();
    await sleep(50);
    expect(counter()).toBe(c);
  });

  it('after clearing immediate_exit the vCPU resumes, and the signal alone also kicks it', async () => {
    go();
    await next('entering', 5000);
    await guestRunning();
    libc.tgkill(process.pid, tid, 'SIGUSR2');
    const r = await next('result', 1000);
    expect(r).toMatchObject({ round: 1, code: 'EINTR', immediateExit: false });
  });

  it('kick() refuses to send the signal when no listener would catch it', () => {
    removeKickHandler();
    try {
      expect(process.listenerCount('SIGUSR2')).toBe(0);
      expect(() => g.vcpu.kick(tid)).toThrow(/installKickHandler/);
      expect(g.vcpu.immediateExit).toBe(false);
    } finally {
      installKickHandler();
    }
  });

  it('immediate_exit set before KVM_RUN makes it return at once (no lost kick)', async () => {
    g.vcpu.setImmediateExit(true);
    const c = counter();
    go();
    const r = await next('result', 1000);
    expect(r).toMatchObject({ round: 2, code: 'EINTR', immediateExit: true });
    expect(r.ms).toBeLessThan(100);
    expect(counter()).toBe(c);
  });
});
