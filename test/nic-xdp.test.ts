// The XDP backend without a VM: the XDP program's decisions (interpreted from its own
// instructions), the [nic] backend keys, and the XdpEngine between a fake guest (the driver
// side of the virtio queues, in guarded fake RAM) and fake AF_XDP rings standing in for the
// kernel, with well-behaved, hostile and random guests. As root, the kernel's verifier
// accepts the program (ix check's probe).
import { describe, expect, it } from 'vitest';
import { parseConfig, ConfigError } from '../src/config/index.js';
import { evaluate } from '../src/config/doctor.js';
import { GuestMemory } from '../src/nic/guest-memory.js';
import { planNic } from '../src/nic/plan.js';
import { prepareNicRings } from '../src/nic/rings.js';
import { NCOUNTERS, readStats } from '../src/nic/stats.js';
import { MS_RSS_KEY, RssSteering } from '../src/nic/toeplitz.js';
import { VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../src/nic/virtqueue.js';
import { XdpEngine, XDP_RX_MIN_BUFFER } from '../src/nic/xdp/engine.js';
import { dataplaneXdpProgram, interpret } from '../src/nic/xdp/program.js';
import { probeXdp } from '../src/nic/xdp/probe.js';
import { xdpModeFromEnv } from '../src/nic/xdp/port.js';
import { XSK_CHUNK } from '../src/nic/xdp/xsk.js';
import { FakeGuestQueue, FAKE_BUF_SIZE } from '../src/testing/fake-guest.js';
import { FakeGuestRam } from '../src/testing/fake-guest-ram.js';
import { FakeXskSocket } from '../src/testing/fake-xsk.js';
import { testNicPlan } from '../src/testing/nic-plan.js';
import { inCI } from './kvm-env.js';

const ip = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);

function frame(o: { type: number; len?: number; dst?: string; arpTarget?: string; sport?: number; dport?: number }): Uint8Array {
  const f = new Uint8Array(o.len ?? 60);
  const dv = new DataView(f.buffer);
  f.set([2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 1], 0);
  dv.setUint16(12, o.type);
  if (o.type === 0x0800 && f.length >= 34) {
    f[14] = 0x45;
    dv.setUint16(16, f.length - 14);
    f[23] = 17;
    dv.setUint32(26, ip('10.0.0.1'));
    dv.setUint32(30, ip(o.dst ?? '10.0.0.2'));
    if (f.length >= 42) {
      dv.setUint16(34, o.sport ?? 1000);
      dv.setUint16(36, o.dport ?? 7);
      dv.setUint16(38, f.length - 34);
    }
  }
  if (o.type === 0x0806 && f.length >= 42) dv.setUint32(38, ip(o.arpTarget ?? '10.0.0.2'));
  return f;
}

describe('the XDP program', () => {
  for (const addr of ['10.0.0.2', '192.168.200.17']) {
    it(`redirects IPv4 to ${addr} and ARP about it, passes everything else`, () => {
      const p = dataplaneXdpProgram(ip(addr), 7);
      expect(interpret(p, frame({ type: 0x0800, dst: addr }))).toBe('redirect');
      expect(interpret(p, frame({ type: 0x0806, arpTarget: addr }))).toBe('redirect');
      expect(interpret(p, frame({ type: 0x0800, dst: '10.0.0.1' }))).toBe('pass');
      expect(interpret(p, frame({ type: 0x0800, dst: '10.0.0.3' }))).toBe('pass');
      expect(interpret(p, frame({ type: 0x0806, arpTarget: '10.0.0.1' }))).toBe('pass');
      expect(interpret(p, frame({ type: 0x86dd }))).toBe('pass');
      // too short to hold an ARP body: passed without reading past the end
      expect(interpret(p, frame({ type: 0x0800, dst: addr, len: 41 }))).toBe('pass');
      expect(interpret(p, frame({ type: 0x0800, dst: addr, len: 42 }))).toBe('redirect');
      expect(interpret(p, new Uint8Array(14))).toBe('pass');
    });
  }
});

describe('XDP attach mode', () => {
  it('is generic unless IX_EXPERIMENT_XDP_NATIVE=1', () => {
    expect(xdpModeFromEnv({})).toBe('generic');
    expect(xdpModeFromEnv({ IX_EXPERIMENT_XDP_NATIVE: '0' })).toBe('generic');
    expect(xdpModeFromEnv({ IX_EXPERIMENT_XDP_NATIVE: '1' })).toBe('native');
  });
});

describe('[nic] backend and interface', () => {
  const base = 'name = "x"\n[app]\npath = "a.elf"\n[nic]\naddress = "10.0.0.2/24"\n';
  const problems = (extra: string): string[] => {
    try {
      parseConfig(base + extra);
      return [];
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return e.issues.map((i) => `${i.path}: ${i.problem}`);
    }
  };
  it('auto picks xdp with an interface and tap without, and says why', () => {
    const x = parseConfig(base + 'interface = "eth1"\n').nic!;
    expect([x.backend, x.interface, x.macGiven]).toEqual(['xdp', 'eth1', false]);
    expect(x.backendReason).toMatch(/^auto: interface = "eth1"/);
    const t = parseConfig(base + 'namespace = true\n').nic!;
    expect([t.backend, t.interface]).toEqual(['tap', null]);
    expect(t.backendReason).toMatch(/^auto: no interface/);
    expect(parseConfig(base + 'backend = "xdp"\ninterface = "eth1"\nmac = "02:00:00:00:00:05"\n').nic!.macGiven).toBe(true);
    // the plan: no TAP, the interface, and whether to take its MAC
    const plan = planNic(x, 2, { tag: 't' });
    expect([plan.tap, plan.xdp]).toEqual([null, { ifname: 'eth1', useInterfaceMac: true, rings: 'guest' }]);
    expect(planNic(t, 1, { tag: 't' }).xdp).toBeNull();
  });
  it('xdp_rings: auto is "guest" with one core and "host" with more; "guest" with more cores and other backends are refused', () => {
    const one = parseConfig(base + 'interface = "eth1"\n').nic!;
    expect([one.xdpRings, one.xdpRingsReason]).toEqual(['guest', expect.stringMatching(/^auto: one core/)]);
    const two = parseConfig(base.replace('name = "x"\n', 'name = "x"\ncores = 2\n') + 'interface = "eth1"\n');
    expect([two.cores.count, two.nic!.xdpRings, two.nic!.xdpRingsReason]).toEqual([2, 'host', expect.stringMatching(/^auto: 2 cores need the host's RSS steering/)]);
    expect(planNic(two.nic!, 2, { tag: 't' }).xdp!.rings).toBe('host');
    const host = parseConfig(base + 'interface = "eth1"\nxdp_rings = "host"\n').nic!;
    expect([host.xdpRings, host.xdpRingsReason]).toEqual(['host', 'xdp_rings = "host" in the config']);
    expect(parseConfig(base + 'namespace = true\n').nic!.xdpRings).toBeNull();
    expect(problems('interface = "eth1"\nxdp_rings = "kernel"\n')).toEqual(['nic.xdp_rings: not one of them']);
    expect(problems('namespace = true\nxdp_rings = "guest"\n')).toEqual(['nic.xdp_rings: not used by backend "auto"']);
    expect(problems('backend = "tap"\ntap = "t0"\nxdp_rings = "host"\n')).toEqual(['nic.xdp_rings: not used by backend "tap"']);
    expect(() => parseConfig(base.replace('name = "x"\n', 'name = "x"\ncores = 2\n') + 'interface = "eth1"\nxdp_rings = "guest"\n')).toThrow(/xdp_rings = "guest" serves one core for now.*use cores = 1, or xdp_rings = "host"/s);
  });
  it('refuses what does not fit the backend', () => {
    expect(problems('backend = "xdp"\n')).toEqual([expect.stringMatching(/^nic.interface: missing: backend "xdp" needs/)]);
    expect(problems('backend = "xdp"\ninterface = "eth1"\ntap = "t0"\n')).toEqual([expect.stringMatching(/^nic.tap: not used by backend "xdp"/)]);
    expect(problems('interface = "eth1"\nnamespace = true\n')).toEqual([expect.stringMatching(/^nic.namespace: not used by backend "xdp"/)]);
    expect(problems('backend = "tap"\ninterface = "eth1"\n')).toEqual([expect.stringMatching(/^nic.interface: not used by backend "tap"/)]);
    expect(problems('backend = "vhost"\nnamespace = true\n')).toEqual([]); // test/nic-vhost.test.ts
    expect(problems('backend = "dpdk"\nnamespace = true\n')).toEqual(['nic.backend: not a backend']);
    expect(problems('interface = "bad/name"\n')[0]).toMatch(/^nic.interface: not a valid interface name/);
  });
});

describe('ix check judges AF_XDP', () => {
  const facts = (xdp: { socket: string; program: string }) => ({
    node: { version: '20.20.2' },
    kvm: { path: '/dev/kvm', exists: true, mode: 'crw-rw----', owner: 'root:kvm', openRw: 'ok' as string | null },
    kvmApi: { version: 12, state: 'ok' as const, error: null },
    platform: { pvm: false, intel: true, amd: false },
    tun: { path: '/dev/net/tun', exists: true, mode: 'crw-rw-rw-', owner: 'root:root', openRw: 'ok' as string | null },
    netns: { root: true, ipTool: true, usable: true, error: null },
    cpus: { available: 4, online: 4 },
    guestBuild: { path: '/x/kernel.elf', exists: true },
    xdp,
    config: { path: '/x/dp.toml', error: null, hostFit: [], nicBackend: 'xdp (auto: interface = "eth1" ...)' },
  });
  it('ok when sockets open and the program loads; a warning and a failing xdp config otherwise', () => {
    const good = evaluate(facts({ socket: 'ok', program: 'ok' }));
    expect(good.checks.find((c) => c.id === 'xdp')?.status).toBe('ok');
    expect(good.checks.find((c) => c.id === 'config')?.detail).toMatch(/NIC backend xdp/);
    const bad = evaluate(facts({ socket: 'EAFNOSUPPORT (Address family not supported by protocol)', program: 'ok' }));
    expect(bad.checks.find((c) => c.id === 'xdp')?.status).toBe('warn');
    expect(bad.checks.find((c) => c.id === 'config')?.status).toBe('fail');
    expect(bad.ok).toBe(false);
  });
});

const root = process.getuid?.() === 0;
if (!root && inCI) throw new Error('the XDP verifier test needs root and CI=true');
describe.runIf(root)('the kernel', () => {
  it('accepts the program (verifier) and opens AF_XDP sockets', () => {
    expect(probeXdp()).toEqual({ socket: 'ok', program: 'ok' });
  });
});

// ---- the engine between a fake guest and fake AF_XDP rings ----

const MEM = 4 << 20;
const QSIZE = 64;
const BUF0 = 0x100000;
const BOUNCE = { start: 0x200000, slotsPerQueue: 16 };
const RING = 64;

function rig(nq: number) {
  const ram = new FakeGuestRam(MEM);
  const mem = new GuestMemory(ram.spec);
  // a fixed key: with a random one the queue of each test frame is a coin the test cannot
  // control (a few keys in a thousand send nearly all of them to one queue)
  const plan = testNicPlan({ nqueues: nq, queueSize: QSIZE, rssKey: Buffer.from(MS_RSS_KEY).toString('hex') });
  const rings = prepareNicRings(mem, 0x10000, 0x80000, nq, QSIZE);
  const guests = Array.from({ length: nq }, (_, q) => new FakeGuestQueue(mem, rings.rx[q]!, rings.tx[q]!, BUF0 + q * QSIZE * FAKE_BUF_SIZE));
  for (const g of guests) g.init();
  const kernel = Array.from({ length: nq }, (_, q) => new FakeXskSocket(q, mem, RING));
  const stats = new Float64Array(NCOUNTERS * nq);
  const logs: string[] = [];
  const wakes: number[] = [];
  const engine = new XdpEngine(plan, { mem, rings, sockets: kernel.map((k) => k.s), bounce: BOUNCE, stats, wake: (q) => wakes.push(q), log: (m) => logs.push(m) });
  engine.attach();
  const validFill = (a: number) => a >= 0 && a + XSK_CHUNK <= MEM;
  return { ram, mem, plan, guests, kernel, engine, logs, wakes, stats: () => readStats(stats, nq), validFill, free: () => {
    for (const k of kernel) k.free();
    ram.free();
  } };
}

describe('XdpEngine', () => {
  it('posts guest RX buffers in FILL, delivers received frames in place or to the RSS queue, with a zero header', () => {
    const r = rig(2);
    try {
      r.engine.pollOnce();
      for (const k of r.kernel) {
        const fill = k.pendingFill();
        expect(fill.length).toBe(48); // 3/4 of the ring; the rest stays for steered copies
        for (const a of fill) expect((a + 256 - 12 - BUF0) % FAKE_BUF_SIZE).toBe(0);
      }
      const rss = new RssSteering(r.plan.rss, 2);
      let sent = 0;
      let got = 0;
      const perQueue = [0, 0];
      for (let round = 0; round < 25; round++) {
        const frames: Uint8Array[] = [];
        for (let i = 0; i < 8; i++) {
          const f = frame({ type: 0x0800, len: 60 + ((sent * 37) % 1400), sport: 1000 + sent });
          f.fill(sent & 0xff, 42);
          expect(r.kernel[sent % 2]!.receive(f)).toBe(true);
          frames.push(f);
          sent++;
        }
        r.engine.pollOnce();
        for (let q = 0; q < 2; q++) {
          const g = r.guests[q]!;
          for (let e = g.rx.takeUsed(); e; e = g.rx.takeUsed()) {
            const bytes = r.mem.u8.slice(g.buf(e.id), g.buf(e.id) + e.len);
            expect([...bytes.subarray(0, 12)]).toEqual(new Array(12).fill(0));
            const f = frames.find((x) => x.length === e.len - 12 && Buffer.compare(Buffer.from(x), Buffer.from(bytes.subarray(12))) === 0);
            expect(f).toBeDefined();
            expect(rss.steer(f!, 0, f!.length)).toBe(q);
            perQueue[q]!++;
            got++;
            g.rx.post(e.id);
          }
          g.flushRx();
        }
      }
      expect(got).toBe(sent);
      expect(perQueue.every((n) => n > 30)).toBe(true);
      const st = r.stats();
      expect(st[0]!.rx_frames + st[1]!.rx_frames).toBe(sent);
      expect(st[0]!.rx_steered_copies + st[1]!.rx_steered_copies).toBeGreaterThan(0);
      expect(r.ram.guardDamage()).toBe(0);
    } finally {
      r.free();
    }
  });

  it('sends guest frames through the bounce slots, one kick per batch, slots reused after completion', () => {
    const r = rig(1);
    try {
      const g = r.guests[0]!;
      const out: Uint8Array[] = [];
      for (let round = 0; round < 10; round++) {
        const sentNow: Uint8Array[] = [];
        for (let i = 0; i < 12; i++) {
          const b = round * 12 + i;
          const f = frame({ type: 0x0800, len: 60 + b * 11, sport: b });
          f.fill(b & 0xff, 42);
          // the guest's TX chain: header in one descriptor, the frame split over two more
          const slot = b % QSIZE;
          const base = g.buf(slot);
          r.mem.u8.fill(0, base, base + 12);
          r.mem.u8.set(f, base + 12);
          const half = Math.floor(f.length / 2);
          g.tx.setDesc(slot, base, 12, VIRTQ_DESC_F_NEXT, (slot + 1) % QSIZE);
          g.tx.setDesc((slot + 1) % QSIZE, base + 12, half, VIRTQ_DESC_F_NEXT, (slot + 2) % QSIZE);
          g.tx.setDesc((slot + 2) % QSIZE, base + 12 + half, f.length - half, 0);
          g.tx.post(slot);
          g.tx.flush();
          r.engine.pollOnce();
          sentNow.push(f);
          for (let e = g.tx.takeUsed(); e; e = g.tx.takeUsed()) expect(e.id).toBe(slot);
        }
        const wire = r.kernel[0]!.transmit();
        expect(wire.map((w) => Buffer.from(w.bytes))).toEqual(sentNow.map((f) => Buffer.from(f)));
        for (const w of wire) expect(w.addr >= BOUNCE.start && w.addr < BOUNCE.start + BOUNCE.slotsPerQueue * XSK_CHUNK).toBe(true);
        out.push(...sentNow);
      }
      expect(r.stats()[0]!.tx_frames).toBe(out.length);
      expect(r.ram.guardDamage()).toBe(0);
    } finally {
      r.free();
    }
  });

  it('refuses hostile RX buffers (outside RAM, too small, chained, posted twice) and hostile TX chains', () => {
    const r = rig(1);
    try {
      const g = r.guests[0]!;
      g.rx.reset(r.mem);
      g.tx.reset(r.mem);
      const good = g.buf(5);
      g.rx.setDesc(0, MEM - 100, 2048, VIRTQ_DESC_F_WRITE); // outside RAM
      g.rx.setDesc(1, 100, 2048, VIRTQ_DESC_F_WRITE); // FILL address would be negative
      g.rx.setDesc(2, g.buf(2), XDP_RX_MIN_BUFFER - 1, VIRTQ_DESC_F_WRITE); // too small for a chunk
      g.rx.setDesc(3, g.buf(3), 1000, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 4); // chained
      g.rx.setDesc(4, g.buf(3) + 1000, 1048, VIRTQ_DESC_F_WRITE);
      g.rx.setDesc(5, good, 2048, VIRTQ_DESC_F_WRITE);
      g.rx.setDesc(6, good, 2048, VIRTQ_DESC_F_WRITE); // the same buffer again
      for (const h of [0, 1, 2, 3, 5, 6, 200]) g.rx.post(h); // 200: head out of range
      g.rx.flush();
      // TX: outside RAM, runt, offload flags set
      g.tx.setDesc(0, MEM, 64, 0);
      g.tx.setDesc(1, g.buf(10), 20, 0);
      r.mem.u8[g.buf(11)] = 1;
      g.tx.setDesc(2, g.buf(11), 100, 0);
      for (const h of [0, 1, 2]) g.tx.post(h);
      g.tx.flush();
      r.engine.pollOnce();
      expect(r.kernel[0]!.pendingFill()).toEqual([good - 244]);
      const st = r.stats()[0]!;
      expect(st.rx_bad_desc_out_of_range).toBe(1);
      expect(st.rx_drop_buffer_small).toBe(3); // negative chunk address, small, chained
      expect(st.rx_bad_in_flight).toBe(1);
      expect(st.rx_bad_bad_head).toBe(1);
      expect(st.tx_bad_desc_out_of_range).toBe(1);
      expect(st.tx_drop_runt).toBe(1);
      expect(st.tx_drop_bad_hdr).toBe(1);
      expect(r.kernel[0]!.transmit()).toEqual([]);
      // every refused chain but the bad head came back to the guest, empty
      const back: number[] = [];
      for (let e = g.rx.takeUsed(); e; e = g.rx.takeUsed()) back.push(e.id), expect(e.len).toBe(0);
      expect(back.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 6]);
      expect(r.ram.guardDamage()).toBe(0);
    } finally {
      r.free();
    }
  });

  // found by the xdp fuzz target (src/testing/xdp-fuzz.ts): a completion for a slot that was
  // free (never sent, or completed already) put that slot in the free list twice, and two
  // frames went out of one bounce slot (the first overwritten before the kernel sent it)
  it('ignores completions for bounce slots not in flight: no slot is posted twice', () => {
    const r = rig(1);
    try {
      const g = r.guests[0]!;
      const k = r.kernel[0]!;
      const send = (b: number) => {
        const f = frame({ type: 0x0800, len: 100, sport: b });
        r.mem.u8.fill(0, g.buf(b), g.buf(b) + 12);
        r.mem.u8.set(f, g.buf(b) + 12);
        g.sendBuf(b, 12 + f.length);
      };
      send(0);
      g.tx.flush();
      r.engine.pollOnce(); // one slot in flight, not completed
      const first = k.addr('tx', k.cons('tx'));
      // completions for a slot never sent, twice, and for the one in flight twice
      for (const a of [first + XSK_CHUNK, first + XSK_CHUNK, first, first]) k.putComp(a);
      for (let b = 1; b <= BOUNCE.slotsPerQueue + 2; b++) send(b);
      g.tx.flush();
      r.engine.pollOnce();
      const posted: number[] = [];
      for (let i = k.cons('tx'); i !== k.prod('tx'); i = (i + 1) >>> 0) posted.push(k.addr('tx', i));
      // the first slot came back once (one of the two completions for it), the rest were ignored
      expect(posted.length).toBe(BOUNCE.slotsPerQueue + 1);
      expect(new Set(posted.slice(1)).size).toBe(BOUNCE.slotsPerQueue);
      expect(r.logs.some((l) => /completion for 0x[0-9a-f]+, not a bounce slot in flight/.test(l))).toBe(true);
    } finally {
      r.free();
    }
  });

  // also found by the xdp fuzz target: every RX descriptor decremented the socket's count of
  // FILL entries out, so RX descriptors for addresses the host never posted let FILL grow past
  // its target (the buffers kept back for steered copies went to the kernel)
  it('RX descriptors for addresses the host does not hold do not count against the FILL target', () => {
    const r = rig(1);
    try {
      const k = r.kernel[0]!;
      r.engine.pollOnce();
      expect(k.pendingFill().length).toBe(48);
      for (let i = 0; i < 5; i++) k.putRx(MEM + 4096 * i, 256, 60);
      r.engine.pollOnce();
      expect(k.cons('rx')).toBe(k.prod('rx'));
      expect(k.pendingFill().length).toBe(48);
      expect(r.logs.some((l) => /does not hold; ignoring it/.test(l))).toBe(true);
    } finally {
      r.free();
    }
  });

  it('survives 300 rounds of random ring garbage: FILL and TX name only valid memory, guards intact', () => {
    const r = rig(2);
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
    try {
      for (let round = 0; round < 300; round++) {
        for (const g of r.guests) {
          for (const ring of [g.rx, g.tx]) {
            for (let i = 0; i < 6; i++) {
              const d = Math.floor(rnd() * QSIZE);
              const addr = rnd() < 0.5 ? BUF0 + Math.floor(rnd() * 2 * QSIZE) * FAKE_BUF_SIZE : Math.floor(rnd() * 2 * MEM);
              ring.setDesc(d, addr, Math.floor(rnd() * 4096), (rnd() < 0.8 ? (ring === g.rx ? VIRTQ_DESC_F_WRITE : 0) : 0xffff) | (rnd() < 0.2 ? VIRTQ_DESC_F_NEXT : 0), Math.floor(rnd() * QSIZE * 1.2));
              ring.post(Math.floor(rnd() * QSIZE * 1.1));
            }
            if (rnd() < 0.05) ring.rawAvailIdx(Math.floor(rnd() * 65536));
            else ring.flush();
          }
        }
        for (const k of r.kernel) if (rnd() < 0.7) k.receive(frame({ type: rnd() < 0.2 ? 0x0806 : 0x0800, len: 42 + Math.floor(rnd() * 1400), sport: Math.floor(rnd() * 65536) }));
        r.engine.pollOnce();
        for (const k of r.kernel) {
          for (const a of k.pendingFill()) expect(r.validFill(a)).toBe(true);
          for (const w of k.transmit()) expect(w.addr >= BOUNCE.start && w.addr + w.bytes.length <= BOUNCE.start + 2 * BOUNCE.slotsPerQueue * XSK_CHUNK).toBe(true);
        }
      }
      expect(r.ram.guardDamage()).toBe(0);
    } finally {
      r.free();
    }
  });
});
