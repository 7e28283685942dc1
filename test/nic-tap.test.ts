// End to end over a real multi-queue TAP inside a namespace this test creates: the backend
// worker serves two queue pairs of a fake guest (a reflector in its own thread); UDP flows
// sent from the namespace land on the queue their Toeplitz hash names and come back intact;
// stopping the backend, or SIGKILL of a process holding the TAP, leaves no device behind.
//
// Needs root (namespaces, /dev/net/tun). Skips elsewhere, but FAILS under CI=true.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestMemory } from '../src/nic/guest-memory.js';
import { FakeGuestRam } from '../src/testing/fake-guest-ram.js';
import * as libc from '../src/sys/libc.js';
import { NIC_WAKE_ANY, startNicBackend, type NicHandle } from '../src/nic/backend.js';
import { buildNicTools, type PingResult } from '../src/testing/nic-tools.js';
import { Netns, netnsUnavailable } from '../src/nic/netns.js';
import { FakeGuestQueue, startFakeGuest, type FakeGuestHandle } from '../src/testing/fake-guest.js';
import { allocNicRings } from '../src/nic/rings.js';
import { testNicPlan } from '../src/testing/nic-plan.js';
import { MS_RSS_KEY, Toeplitz, defaultReta } from '../src/nic/toeplitz.js';

const run = promisify(execFile);
const why = netnsUnavailable();
const mustRun = process.env['CI'] === 'true';
if (why && !mustRun) console.warn(`nic-tap tests skipped: ${why}`);
const suite = why && !mustRun ? describe.skip : describe;

const MiB = 1 << 20;
const TAP = 'ixnic0';
const HOST_IP = '10.77.0.1';
const GUEST_IP = '10.77.0.2';
const GUEST_MAC = '02:00:00:00:00:02';
const ipnum = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);

suite('NIC backend over a multi-queue TAP in a namespace', () => {
  let ns: Netns;
  let ram: FakeGuestRam;
  let nic: NicHandle | undefined;
  let guest: FakeGuestHandle | undefined;
  let kickFd = -1;
  let tools: ReturnType<typeof buildNicTools>;
  let rssKey: Uint8Array;
  const reta = defaultReta(2, 128);
  const onWakeCalls = [0, 0];

  beforeAll(async () => {
    if (why) throw new Error(`CI=true but the NIC TAP tests cannot run: ${why}`);
    tools = buildNicTools();
    ns = new Netns('nic');
    ns.exec('sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    ram = new FakeGuestRam(16 * MiB);
    const rings = allocNicRings(1 * MiB, 2, 256);
    const bufBase = [4 * MiB, 6 * MiB];
    // the driver side is initialised before the backend attaches, as a real guest would at boot
    const mem = new GuestMemory(ram.spec);
    for (let q = 0; q < 2; q++) new FakeGuestQueue(mem, rings.rx[q]!, rings.tx[q]!, bufBase[q]!).init();
    kickFd = libc.makeEventfd();
    const plan = testNicPlan({ nqueues: 2, queueSize: 256, reta, spinUs: 20, tap: { name: TAP, netns: { kind: 'existing', name: ns.name } } });
    // a random key, as every run gets: steering below is checked against this key
    rssKey = plan.rss.key;
    expect(Array.from(rssKey)).not.toEqual(Array.from(MS_RSS_KEY));
    nic = await startNicBackend(plan, {
      memory: ram.spec,
      rings,
      kickFd,
      onWake: (q) => onWakeCalls[q]!++,
    });
    // the fake guest core halts as soon as it is idle (no polling budget), so every frame
    // goes through the whole notification path: guest arms used_event -> backend wakes it,
    // backend arms avail_event -> guest kicks the eventfd
    guest = await startFakeGuest({
      memory: ram.spec,
      rx: rings.rx,
      tx: rings.tx,
      bufBase,
      kickFd,
      initialised: true,
      wake: { counters: nic.wakeCounters, index: NIC_WAKE_ANY, spinUs: 0 },
    });
    ns.ip('link', 'set', TAP, 'up');
    ns.ip('addr', 'add', `${HOST_IP}/24`, 'dev', TAP);
    ns.ip('neigh', 'replace', GUEST_IP, 'lladdr', GUEST_MAC, 'dev', TAP, 'nud', 'permanent');
  });

  afterAll(async () => {
    await nic?.stop();
    await guest?.stop();
    if (kickFd >= 0) libc.close(kickFd);
    ram?.free();
    ns?.remove();
  });

  it('steers each flow to the queue its Toeplitz hash names and reflects every frame intact', async () => {
    const nports = 8;
    const count = 4000;
    const tz = new Toeplitz(rssKey);
    const queueOf = (port: number) => reta[tz.hashTuple(ipnum(HOST_IP), ipnum(GUEST_IP), port, 7) % reta.length]!;
    // The key is random: find a window of nports consecutive source ports that uses both
    // queues. Slide by one port (not by nports): with 2 queues the queue is one hash bit, the
    // XOR of the key bits the port's set bits select, so when the key's bits for the low
    // port bits are zero (1 key in 8) only windows that carry into a higher port bit differ.
    // Starting low covers every carry boundary; only a key whose 16 port bits are all zero
    // (1 in 65536) cannot spread flows by source port, and the test says so.
    let base = 1024;
    const spreads = (b: number) => new Set(Array.from({ length: nports }, (_, i) => queueOf(b + i))).size === 2;
    while (base + nports <= 65536 && !spreads(base)) base++;
    if (base + nports > 65536) throw new Error(`this run's random RSS key (${Buffer.from(rssKey).toString('hex')}) sends every source port of the flow to one queue; rerun`);
    const { stdout } = await run(
      'ip',
      ['netns', 'exec', ns.name, tools.nicping, HOST_IP, GUEST_IP, '7', String(base), String(nports), String(count), '8', '200', '5000', '60000'],
      { timeout: 90_000 },
    );
    const r = JSON.parse(stdout) as PingResult;
    expect(r.corrupt).toBe(0);
    expect(r.lost).toBe(0);
    expect(r.received).toBe(count);
    const used = new Set<number>();
    for (let i = 0; i < nports; i++) {
      const port = base + i;
      const q = queueOf(port);
      used.add(q);
      expect([port, guest!.framesFrom(q, port)]).toEqual([port, count / nports]);
      expect([port, guest!.framesFrom(1 - q, port)]).toEqual([port, 0]);
    }
    expect(used.size).toBe(2); // both queues carried traffic at the same time
    const st = nic!.stats();
    expect(st[0]!.rx_frames + st[1]!.rx_frames).toBeGreaterThanOrEqual(count);
    expect(st[0]!.tx_frames + st[1]!.tx_frames).toBeGreaterThanOrEqual(count);
    expect(st[0]!.tx_frames).toBeGreaterThan(0);
    expect(st[1]!.tx_frames).toBeGreaterThan(0);
    // the halting guest was woken through the shared counters and the onWake callback
    expect(st[0]!.wakeups + st[1]!.wakeups).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 50)); // let queued wake messages arrive
    expect(onWakeCalls[0]! + onWakeCalls[1]!).toBe(st[0]!.wakeups + st[1]!.wakeups);
    expect(ram.guardDamage()).toBe(0);
  });

  it('removes the TAP device when the backend stops', async () => {
    expect(ns.hasLink(TAP)).toBe(true);
    await nic!.stop();
    nic = undefined;
    expect(ns.hasLink(TAP)).toBe(false);
  });

  it('leaves no TAP behind after SIGKILL of the process holding it', async () => {
    const code = `
      const { openTap } = await import(${JSON.stringify(new URL('../dist/nic/tap.js', import.meta.url).href)});
      openTap({ name: 'ixkill0', queues: 2, netns: ${JSON.stringify(ns.name)} });
      console.log('ready');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (c) => reject(new Error(`TAP holder exited early (code ${c})`)));
      });
      expect(ns.hasLink('ixkill0')).toBe(true);
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGKILL');
      await gone;
      let present = true;
      for (let i = 0; i < 50 && present; i++) {
        present = ns.hasLink('ixkill0');
        if (present) await new Promise((r) => setTimeout(r, 100));
      }
      expect(present).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
