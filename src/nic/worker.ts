// Worker thread of the NIC backend: runs NicEngine.pollOnce() in a loop, spinning while
// there is work (and for `spinUs` after the last frame), then sleeping in poll(2) on the TAP
// fds that can take a frame, the guest-kick eventfd and the stop eventfd.
import { parentPort, workerData } from 'node:worker_threads';
import { GuestMemory } from './guest-memory.js';
import * as libc from './libc-compat.js';
import { NicEngine } from './engine.js';
import { FakeGuestQueue } from '../testing/fake-guest.js';
import { CTL_STATE, CTL_STOP, CTL_WAKE, CTL_WAKE_ANY, type WorkerInit } from '../abi/nic-ctl.js';

function run(init: WorkerInit): void {
  const port = parentPort!;
  if (init.cpu !== undefined) libc.pinThisThread(init.cpu);
  const ctl = new Int32Array(init.ctl);
  const one = libc.mapAnon(4096); // eventfd value 1 for write(), and a pollfd array after it
  const oneDv = new DataView(libc.view(one, 4096));
  oneDv.setBigUint64(0, 1n, true);
  const pfdBase = one + 64;
  const mem = new GuestMemory({ base: init.base, size: init.size });
  const inline = (init.inlineReflector ?? []).map((b, q) => new FakeGuestQueue(mem, init.rx[q]!, init.tx[q]!, b));
  for (const g of inline) g.init();
  const engine = new NicEngine({
    mem,
    rx: init.rx,
    tx: init.tx,
    fds: init.fds,
    rss: { key: init.rssKey, reta: init.reta },
    mtu: init.mtu,
    stats: new Float64Array(init.stats),
    batch: init.batch,
    io: init.io,
    log: (msg) => port.postMessage({ type: 'log', msg }),
    wake: (q) => {
      Atomics.add(ctl, CTL_WAKE + q, 1);
      Atomics.notify(ctl, CTL_WAKE + q);
      Atomics.add(ctl, CTL_WAKE_ANY, 1);
      Atomics.notify(ctl, CTL_WAKE_ANY);
      const fd = init.wakeFds[q];
      if (fd !== undefined && fd >= 0) libc.write(fd, one, 8);
      if (init.postWakes) port.postMessage({ type: 'wake', q });
    },
  });
  engine.attach();
  Atomics.store(ctl, CTL_STATE, 1);
  const spinMs = init.spinUs / 1000;
  port.postMessage({ type: 'ready', spinUs: init.spinUs });
  let last = performance.now();
  while (Atomics.load(ctl, CTL_STOP) === 0) {
    let work = engine.pollOnce();
    for (const g of inline) work += g.reflectOnce();
    if (work > 0) {
      last = performance.now();
      continue;
    }
    if (performance.now() - last < spinMs) continue;
    const fds = engine.sleepFds();
    if (fds === null) continue;
    const all = [init.kickFd, init.stopFd, ...fds];
    for (let i = 0; i < all.length; i++) {
      oneDv.setInt32(64 + 8 * i, all[i]!, true);
      oneDv.setInt16(64 + 8 * i + 4, libc.POLLIN, true);
      oneDv.setInt16(64 + 8 * i + 6, 0, true);
    }
    libc.poll(pfdBase, all.length, init.idleTimeoutMs);
    if (oneDv.getInt16(64 + 6, true) !== 0) libc.read(init.kickFd, one + 8, 8); // drain the kick counter
    last = performance.now();
  }
  engine.close();
  Atomics.store(ctl, CTL_STATE, 2);
}

try {
  run(workerData as WorkerInit);
} catch (e) {
  parentPort!.postMessage({ type: 'error', msg: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
}
