// startNicBackend without root: datagram socket pairs stand in for the TAP queue fds, so the
// worker thread, its sleep/kick/wake cycle and stop() are exercised everywhere; bad
// configurations are refused on the caller's stack before any thread starts.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeGuestQueue, startFakeGuest } from '../src/testing/fake-guest.js';
import { GuestMemory, GuestMemoryError } from '../src/nic/guest-memory.js';
import { FakeGuestRam } from '../src/testing/fake-guest-ram.js';
import { datagramPair } from '../src/testing/datagram-pair.js';
import * as libc from '../src/sys/libc.js';
import { NIC_WAKE_ANY, NicBackendError, startNicBackend } from '../src/nic/backend.js';
import { allocNicRings } from '../src/nic/rings.js';
import { RssConfigError } from '../src/nic/toeplitz.js';
import { VirtqueueLayoutError } from '../src/nic/virtqueue.js';
import { nicIdleWait, nicKick } from '../src/nic/wait.js';
import { spawn } from 'node:child_process';
import { attachNic } from '../src/nic/attach.js';
import { testNicPlan } from '../src/testing/nic-plan.js';
import { NicInfo, readNicInfo } from '../src/abi/nic.js';

const MiB = 1 << 20;
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function udp(sport: number, n: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + n);
  const dv = new DataView(f.buffer);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  f[23] = 17;
  dv.setUint32(26, 0x0a000001);
  dv.setUint32(30, 0x0a000002);
  dv.setUint16(34, sport);
  dv.setUint16(36, 7);
  for (let i = 0; i < n; i++) f[42 + i] = (i + sport) & 255;
  return f;
}

describe('startNicBackend', () => {
  it('refuses bad configurations before starting anything', async () => {
    const ram = new FakeGuestRam(4 * MiB);
    cleanups.push(() => ram.free());
    const [a, b] = datagramPair();
    cleanups.push(() => void (libc.close(a), libc.close(b)));
    const rings = allocNicRings(1 * MiB, 1, 64);
    const plan = testNicPlan({ nqueues: 1, queueSize: 64 });
    const base = { memory: ram.spec, rings, tapFds: [a] };
    await expect(startNicBackend(plan, { ...base, rings: { rx: [{ ...rings.rx[0]!, size: 48 }], tx: rings.tx } })).rejects.toThrow(
      VirtqueueLayoutError,
    );
    await expect(
      startNicBackend(plan, { ...base, rings: { rx: [{ ...rings.rx[0]!, used: BigInt(4 * MiB - 8) }], tx: rings.tx } }),
    ).rejects.toThrow(/outside guest memory/);
    await expect(startNicBackend(testNicPlan({ reta: [0, 1] }), base)).rejects.toThrow(RssConfigError);
    await expect(startNicBackend(plan, { ...base, tapFds: [a, b] })).rejects.toThrow(NicBackendError);
    await expect(startNicBackend(plan, { memory: ram.spec, rings })).rejects.toThrow(/tapFds or tapName/);
    // a failure inside the worker (here: pinning to a CPU that does not exist) rejects the start
    const msgs: string[] = [];
    await expect(startNicBackend(testNicPlan({ cpu: 1000 }), { ...base, log: (m) => msgs.push(m) })).rejects.toThrow(/NIC worker failed: .*sched_setaffinity/);
    expect(msgs.join()).toMatch(/sched_setaffinity/);
    await expect(startNicBackend(plan, { ...base, memory: { base: 0n, size: 4096 } })).rejects.toThrow(GuestMemoryError);
    await expect(startNicBackend(plan, { ...base, memory: { base: ram.spec.base, size: 2 ** 32 + 4096 } })).rejects.toThrow(/at most 4 GiB/);
  });

  it.each(['koffi', 'burst'] as const)('serves a halting fake guest from its worker thread and stops cleanly (io %s)', async (io) => {
    const ram = new FakeGuestRam(16 * MiB);
    cleanups.push(() => ram.free());
    const rings = allocNicRings(1 * MiB, 2, 128);
    const mem = new GuestMemory(ram.spec);
    const bufBase = [4 * MiB, 6 * MiB];
    for (let q = 0; q < 2; q++) new FakeGuestQueue(mem, rings.rx[q]!, rings.tx[q]!, bufBase[q]!).init();
    const pairs = [datagramPair(), datagramPair()];
    cleanups.push(() => pairs.flat().forEach((fd) => libc.close(fd)));
    const kickFd = libc.makeEventfd();
    cleanups.push(() => void libc.close(kickFd));
    const logs: string[] = [];
    const nic = await startNicBackend(testNicPlan({ nqueues: 2, queueSize: 128, io, cpu: 0 }), {
      memory: ram.spec,
      rings,
      tapFds: pairs.map((p) => p[0]),
      kickFd,
      log: (m) => logs.push(m),
    });
    cleanups.push(() => nic.stop());
    const guest = await startFakeGuest({
      memory: ram.spec,
      rx: rings.rx,
      tx: rings.tx,
      bufBase,
      kickFd,
      initialised: true,
      wake: { counters: nic.wakeCounters, index: NIC_WAKE_ANY, spinUs: 0 },
    });
    cleanups.push(() => guest.stop());
    const scratch = libc.mapAnon(65536);
    cleanups.push(() => void libc.munmap(scratch, 65536));
    const u8 = new Uint8Array(libc.view(scratch, 65536));
    // one frame at a time, with pauses so that both sides go to sleep in between
    let got = 0;
    for (let i = 0; i < 40; i++) {
      const q = i % 2;
      const f = udp(5000 + i, 32);
      u8.fill(0, 0, 12);
      u8.set(f, 12);
      expect(libc.write(pairs[q]![1], scratch, 12 + f.length)).toBe(12 + f.length);
      const deadline = Date.now() + 2000;
      let n = -1;
      for (let pq = 0; n < 0 && Date.now() < deadline; pq = 1 - pq) {
        n = libc.read(pairs[pq]![1], scratch, 65536);
        if (n < 0) await new Promise((r) => setTimeout(r, 1));
      }
      expect(n).toBe(12 + f.length);
      expect(Array.from(u8.subarray(12 + 42, n))).toEqual(Array.from(f.subarray(42)));
      expect(new DataView(u8.buffer, 12).getUint16(36)).toBe(5000 + i); // ports swapped back
      got++;
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 30)); // let the backend sleep (spin 20 us)
    }
    expect(got).toBe(40);
    const st = nic.stats();
    expect(st[0]!.tx_frames + st[1]!.tx_frames).toBe(40);
    expect(st[0]!.wakeups + st[1]!.wakeups).toBeGreaterThan(0);
    expect(logs).toEqual([]);
    await guest.stop();
    await nic.stop();
    await nic.stop(); // idempotent
    expect(ram.guardDamage()).toBe(0);
  });
});

describe('nicIdleWait / nicKick (the vCPU worker side of a halted core)', () => {
  it('returns at once if a frame is pending, times out when idle, and wakes on a frame', async () => {
    const ram = new FakeGuestRam(16 * MiB);
    cleanups.push(() => ram.free());
    const rings = allocNicRings(1 * MiB, 1, 64);
    const mem = new GuestMemory(ram.spec);
    const g = new FakeGuestQueue(mem, rings.rx[0]!, rings.tx[0]!, 4 * MiB);
    g.init();
    const [dev, peer] = datagramPair();
    cleanups.push(() => void (libc.close(dev), libc.close(peer)));
    // a long idle timeout: only the kick (or a frame) can get the backend out of poll(2)
    const nic = await startNicBackend(testNicPlan({ queueSize: 64, idleTimeoutMs: 10_000 }), { memory: ram.spec, rings, tapFds: [dev] });
    cleanups.push(() => nic.stop());
    const rx = rings.rx[0]!;

    // idle: the guest armed used_event, nothing arrives
    expect(g.rx.armUsedEvent()).toBe(false);
    let t = performance.now();
    expect(nicIdleWait(nic.wakeCounters, mem.dv, rx, 0, 30)).toBe('timeout');
    expect(performance.now() - t).toBeGreaterThanOrEqual(25);

    // a frame arrives 50 ms into the wait, from another process: the backend wakes us
    const f = new Uint8Array(12 + 60);
    f[12 + 12] = 0x08;
    const child = spawn(
      process.execPath,
      ['-e', `setTimeout(() => require('fs').writeSync(3, Buffer.from(${JSON.stringify(Array.from(f))})), 50)`],
      { stdio: ['ignore', 'ignore', 'inherit', peer] },
    );
    const exited = new Promise((r) => child.once('exit', r));
    t = performance.now();
    expect(nicIdleWait(nic.wakeCounters, mem.dv, rx, 0, 5000)).toBe('woken');
    const waited = performance.now() - t;
    expect(waited).toBeGreaterThan(20);
    expect(waited).toBeLessThan(4000);
    await exited;

    // the guest has not consumed it yet: a new idle attempt must not sleep
    expect(g.rx.armUsedEvent()).toBe(true);
    expect(nicIdleWait(nic.wakeCounters, mem.dv, rx, 0, 5000)).toBe('pending');
    expect(g.rx.takeUsed()).not.toBeNull();

    // kicks: the guest posts TX while the backend sleeps; nicKick wakes it out of poll(2)
    await new Promise((r) => setTimeout(r, 20)); // backend spin (20 us) is long over
    g.sendBuf(5, 12 + 60);
    g.tx.flush();
    nicKick(nic.kickFd);
    const deadline = Date.now() + 2000;
    while (nic.stats()[0]!.tx_frames === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    expect(nic.stats()[0]!.tx_frames).toBe(1);
  });
});

describe('attachNic', () => {
  it('places zeroed rings, writes ix_nic_info and serves a guest set up from it', async () => {
    const ram = new FakeGuestRam(16 * MiB);
    cleanups.push(() => ram.free());
    const mem = new GuestMemory(ram.spec);
    mem.u8.fill(0x77, 2 * MiB, 3 * MiB); // garbage where the rings will go
    const [dev, peer] = datagramPair();
    cleanups.push(() => void (libc.close(dev), libc.close(peer)));
    const boot = new DataView(new ArrayBuffer(4096));
    const plan = testNicPlan({ nqueues: 1, queueSize: 128 });
    expect([Array.from(plan.mac), plan.addr, plan.netmask, plan.gateway]).toEqual([[2, 0, 0, 0, 0, 9], 0x0a000002, 0xffffff00, 0x0a000001]);
    const { handle: nic, info } = await attachNic(plan, {
      memory: ram.spec,
      ringArea: { start: 2 * MiB, end: 3 * MiB },
      notifyPort: 0x5e0,
      bootInfo: { view: boot, offset: 512 },
      tapFds: [dev],
    });
    cleanups.push(() => nic.stop());
    const back = readNicInfo(boot, 512);
    expect(back.present).toBe(true);
    expect(back.rx).toEqual(info.rx);
    expect(Number(back.rx[0]!.desc)).toBeGreaterThanOrEqual(2 * MiB);
    expect(Number(back.tx[0]!.used)).toBeLessThan(3 * MiB);
    expect(boot.getUint32(512 + NicInfo.at.retaSize, true)).toBe(128);
    // a guest driver set up only from the boot info description
    const g = new FakeGuestQueue(mem, back.rx[0]!, back.tx[0]!, 4 * MiB);
    g.init();
    const scratch = libc.mapAnon(4096);
    cleanups.push(() => void libc.munmap(scratch, 4096));
    const u8 = new Uint8Array(libc.view(scratch, 4096));
    u8.fill(0, 0, 100);
    u8[12 + 12] = 0x08;
    expect(libc.write(peer, scratch, 100)).toBe(100);
    const deadline = Date.now() + 2000;
    let got = 0;
    while (got === 0 && Date.now() < deadline) {
      got = g.reflectOnce();
      if (got === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(got).toBe(1);
  });
});
