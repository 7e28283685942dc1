// A fake guest "core" in its own thread, for end-to-end tests and the benchmark: reflects
// every frame on its queue pairs (fake-guest.ts) in a spin loop, kicks the backend through
// its eventfd when EVENT_IDX asks for it, and counts frames per (queue, UDP source port) in
// shared memory so a test can check where RSS put each flow.
import { parentPort, workerData } from 'node:worker_threads';
import { FakeGuestQueue } from './fake-guest.js';
import { GuestMemory } from '../nic/guest-memory.js';
import * as libc from '../sys/libc.js';
import type { NicVqAddrs } from '../abi/nic.js';

export interface FakeGuestInit {
  base: number;
  size: number;
  rx: NicVqAddrs[];
  tx: NicVqAddrs[];
  bufBase: number[];
  kickFd: number;
  /** Int32Array: [0] stop, [1] ready */
  ctl: SharedArrayBuffer;
  /** Uint32Array(nq * 65536): frames seen per queue and UDP/TCP source port */
  ports: SharedArrayBuffer;
  initialised: boolean;
  wake?: { sab: SharedArrayBuffer; index: number; spinUs: number };
}

const init = workerData as FakeGuestInit;
const ctl = new Int32Array(init.ctl);
const ports = new Uint32Array(init.ports);
const mem = new GuestMemory({ base: init.base, size: init.size });
const one = libc.mapAnon(4096);
new DataView(libc.view(one, 8)).setBigUint64(0, 1n, true);
const kick = (): void => void libc.write(init.kickFd, one, 8);
const qs = init.rx.map((rx, q) => new FakeGuestQueue(mem, rx, init.tx[q]!, init.bufBase[q]!, kick));
// Count frames per (queue, source port) as the reflector sees them.
const u8 = mem.u8;
function counter(q: number, g: FakeGuestQueue): (b: number, len: number) => void {
  return (b, len) => {
    const f = g.buf(b) + 12;
    if (b >= g.rx.size || len < 12 + 38 || u8[f + 12] !== 0x08 || u8[f + 13] !== 0x00) return;
    const ihl = (u8[f + 14]! & 15) * 4;
    if (len < 12 + 14 + ihl + 2) return;
    const sport = (u8[f + 14 + ihl]! << 8) | u8[f + 14 + ihl + 1]!;
    ports[q * 65536 + sport]!++;
  };
}
const counters = qs.map((g, q) => counter(q, g));
for (const g of qs) {
  if (init.initialised) {
    g.rx.adopt();
    g.tx.adopt();
  } else g.init();
}
Atomics.store(ctl, 1, 1);
parentPort!.postMessage('ready');
const wake = init.wake ? new Int32Array(init.wake.sab) : undefined;
const spinMs = (init.wake?.spinUs ?? 0) / 1000;
let last = performance.now();
while (Atomics.load(ctl, 0) === 0) {
  let work = 0;
  for (let q = 0; q < qs.length; q++) work += qs[q]!.reflectOnce(64, counters[q]);
  if (work > 0 || !wake) {
    if (work > 0) last = performance.now();
    continue;
  }
  if (performance.now() - last < spinMs) continue;
  // halt: read the wake counter first, then arm used_event, then re-check (no lost wake-up)
  const seen = Atomics.load(wake, init.wake!.index);
  let pending = false;
  for (const g of qs) pending = g.rx.armUsedEvent() || pending;
  if (!pending) Atomics.wait(wake, init.wake!.index, seen, 50);
  last = performance.now();
}
libc.munmap(one, 4096);
