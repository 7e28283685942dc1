// The vhost-net backend without vhost-net: feature negotiation, the memory table and vring
// addresses built from guest RAM (checked before vhost sees them), the [nic] backend = "vhost"
// config (one core, a TAP), the host check and `ix check`'s judgement, the user-space wake
// thread that turns RX call eventfd signals into nicIdleWait wakes, and the backend's refusal
// where /dev/vhost-net is missing. The device itself is exercised by test/e2e-vhost.test.ts
// where the kernel has it (the nested run).
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config/index.js';
import { evaluate } from '../src/config/doctor.js';
import type { HostFacts } from '../src/config/host-facts.js';
import { hostFitProblems, type HostInfo } from '../src/config/hostfit.js';
import { CTL_CELLS, CTL_STATE, CTL_STOP, CTL_WAKE, CTL_WAKE_ANY } from '../src/abi/nic-ctl.js';
import { startNicBackend } from '../src/nic/backend.js';
import { GuestMemory } from '../src/nic/guest-memory.js';
import { planNic } from '../src/nic/plan.js';
import { allocNicRings, prepareNicRings } from '../src/nic/rings.js';
import { VHOST_FEATURE_BIT as B, VHOST_LAYOUT as L, VHOST_MISSING } from '../src/nic/vhost/abi.js';
import { negotiateVhostFeatures, vnetHdrLenFor, VhostFeatureError, VHOST_WANTED_FEATURES } from '../src/nic/vhost/features.js';
import { vhostMemoryTable, vhostVringAddr, vhostVringPair, VhostMemoryError } from '../src/nic/vhost/memtable.js';
import { VhostUnavailableError } from '../src/nic/vhost/device.js';
import * as libc from '../src/sys/libc.js';
import { workerScriptUrl } from '../src/sys/worker-url.js';
import { datagramPair } from '../src/testing/datagram-pair.js';

const bit = (n: number): bigint => 1n << BigInt(n);
/** what vhost-net offers on Linux 6.x (VHOST_NET_FEATURES) */
const LINUX_OFFER =
  bit(B.VIRTIO_F_NOTIFY_ON_EMPTY) | bit(B.VIRTIO_RING_F_INDIRECT_DESC) | bit(B.VIRTIO_RING_F_EVENT_IDX) | bit(B.VHOST_F_LOG_ALL) |
  bit(B.VIRTIO_F_ANY_LAYOUT) | bit(B.VIRTIO_F_VERSION_1) | bit(B.VHOST_NET_F_VIRTIO_NET_HDR) | bit(B.VIRTIO_NET_F_MRG_RXBUF) |
  bit(B.VIRTIO_F_ACCESS_PLATFORM);

describe('feature negotiation', () => {
  it('takes exactly VERSION_1 and EVENT_IDX from a full offer: 12-byte header through the TAP, no merged buffers, no IOTLB', () => {
    const f = negotiateVhostFeatures(LINUX_OFFER, 12);
    expect(f.features).toBe(bit(B.VIRTIO_F_VERSION_1) | bit(B.VIRTIO_RING_F_EVENT_IDX));
    expect(f.features).toBe(VHOST_WANTED_FEATURES);
    expect(f.vnetHdrLen).toBe(12);
    // bit 27 would make vhost add the header itself (and is ANY_LAYOUT's number too)
    for (const b of [B.VHOST_NET_F_VIRTIO_NET_HDR, B.VIRTIO_NET_F_MRG_RXBUF, B.VIRTIO_F_ACCESS_PLATFORM, B.VHOST_F_LOG_ALL]) expect(f.features & bit(b)).toBe(0n);
  });
  it('derives the header length as vhost-net does', () => {
    expect(vnetHdrLenFor(0n)).toBe(10);
    expect(vnetHdrLenFor(bit(B.VIRTIO_RING_F_EVENT_IDX))).toBe(10);
    expect(vnetHdrLenFor(bit(B.VIRTIO_F_VERSION_1))).toBe(12);
    expect(vnetHdrLenFor(bit(B.VIRTIO_NET_F_MRG_RXBUF))).toBe(12);
  });
  it('refuses a kernel without what the guest driver needs, naming it, and a header the guest does not use', () => {
    expect(() => negotiateVhostFeatures(LINUX_OFFER & ~bit(B.VIRTIO_RING_F_EVENT_IDX), 12)).toThrow(/does not offer VIRTIO_RING_F_EVENT_IDX.*use backend = "tap"/);
    expect(() => negotiateVhostFeatures(bit(B.VIRTIO_RING_F_EVENT_IDX), 12)).toThrow(/VIRTIO_F_VERSION_1/);
    expect(() => negotiateVhostFeatures(0n, 12)).toThrow(/VIRTIO_F_VERSION_1 and VIRTIO_RING_F_EVENT_IDX/);
    expect(() => negotiateVhostFeatures(LINUX_OFFER, 10)).toThrow(VhostFeatureError);
  });
});

describe('memory table and vring addresses from guest RAM', () => {
  const ram = { base: 0x7f0012340000, size: 64 << 20 };
  it('one region: guest-physical 0 .. size at guest RAM\'s host address, nothing else', () => {
    const t = vhostMemoryTable(ram);
    const dv = new DataView(t.buffer);
    expect(t.byteLength).toBe(L.vhost_memory.size + L.vhost_memory_region.size);
    expect(dv.getUint32(0, true)).toBe(1);
    const r = L.vhost_memory.fields.regions;
    expect(dv.getBigUint64(r + L.vhost_memory_region.fields.guest_phys_addr, true)).toBe(0n);
    expect(dv.getBigUint64(r + L.vhost_memory_region.fields.memory_size, true)).toBe(BigInt(ram.size));
    expect(dv.getBigUint64(r + L.vhost_memory_region.fields.userspace_addr, true)).toBe(BigInt(ram.base));
    expect(dv.getBigUint64(r + L.vhost_memory_region.fields.flags_padding, true)).toBe(0n);
  });
  it('refuses guest RAM that is not a page-aligned mapping', () => {
    expect(() => vhostMemoryTable({ base: ram.base + 8, size: ram.size })).toThrow(VhostMemoryError);
    expect(() => vhostMemoryTable({ base: ram.base, size: 100 })).toThrow(/multiple of 4096/);
    expect(() => vhostMemoryTable({ base: 0, size: ram.size })).toThrow(/page-aligned/);
  });
  it('vring addresses are the rings\' host addresses (base + guest-physical), as the host placed them', () => {
    const rings = allocNicRings(0x100000, 2, 256);
    for (const [i, ring] of [rings.rx[1]!, rings.tx[0]!].entries()) {
      const a = new DataView(vhostVringAddr(ram, i, ring).buffer);
      const F = L.vhost_vring_addr.fields;
      expect(a.getUint32(F.index, true)).toBe(i);
      expect(a.getUint32(F.flags, true)).toBe(0);
      expect(a.getBigUint64(F.desc_user_addr, true)).toBe(BigInt(ram.base) + ring.desc);
      expect(a.getBigUint64(F.avail_user_addr, true)).toBe(BigInt(ram.base) + ring.avail);
      expect(a.getBigUint64(F.used_user_addr, true)).toBe(BigInt(ram.base) + ring.used);
      expect(a.getBigUint64(F.log_guest_addr, true)).toBe(0n);
    }
  });
  it('refuses rings outside guest RAM or misaligned for vhost', () => {
    const r = allocNicRings(0x100000, 1, 256).rx[0]!;
    expect(() => vhostVringAddr(ram, 0, { ...r, used: BigInt(ram.size - 8) })).toThrow(/used ring .* outside guest RAM/);
    expect(() => vhostVringAddr(ram, 0, { ...r, desc: 2n ** 60n })).toThrow(/outside guest RAM/);
    expect(() => vhostVringAddr(ram, 0, { ...r, desc: r.desc + 8n })).toThrow(/16-byte aligned/);
    expect(() => vhostVringAddr(ram, 0, { ...r, avail: r.avail + 1n })).toThrow(/2-byte aligned/);
    expect(() => vhostVringAddr(ram, 0, { ...r, size: 100 })).toThrow(/power of two/);
  });
  it('vring state and file arguments: index, then the number or fd (-1: none)', () => {
    const dv = new DataView(vhostVringPair(1, -1).buffer);
    expect([dv.getUint32(0, true), dv.getInt32(4, true)]).toEqual([1, -1]);
  });
});

describe('[nic] backend = "vhost"', () => {
  const base = (cores: number): string => `name = "x"\ncores = ${cores}\n[app]\npath = "a.elf"\n[nic]\naddress = "10.0.0.2/24"\n`;
  const problems = (text: string): string[] => {
    try {
      parseConfig(text);
      return [];
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return e.issues.map((i) => `${i.path}: ${i.problem}`);
    }
  };
  it('is accepted on one core with a TAP; the plan keeps the TAP and marks vhost', () => {
    const nic = parseConfig(base(1) + 'backend = "vhost"\nnamespace = true\n').nic!;
    expect([nic.backend, nic.backendReason]).toEqual(['vhost', 'backend = "vhost" in the config']);
    const plan = planNic(nic, 1, { tag: 't' });
    expect(plan.vhost).toBe(true);
    expect(plan.xdp).toBeNull();
    expect(plan.tap).toEqual({ name: 'ixtap0', netns: { kind: 'fresh', tag: 't', peer: '10.0.0.1' } });
    expect(planNic(parseConfig(base(1) + 'namespace = true\n').nic!, 1, { tag: 't' }).vhost).toBe(false);
  });
  it('auto stays tap (parsing does not look at the host) and says how to get vhost', () => {
    expect(parseConfig(base(1) + 'namespace = true\n').nic!.backendReason).toMatch(/backend = "vhost"/);
  });
  it('refuses more than one core, an interface, and a missing TAP', () => {
    expect(problems(base(2) + 'backend = "vhost"\nnamespace = true\n')).toEqual([expect.stringMatching(/^nic.backend: backend "vhost" serves one core for now .*cores = 2: use cores = 1, or backend = "tap"/)]);
    expect(problems(base(1) + 'backend = "vhost"\ninterface = "eth1"\nnamespace = true\n')).toEqual(['nic.interface: not used by backend "vhost"']);
    expect(problems(base(1) + 'backend = "vhost"\n')).toEqual([expect.stringMatching(/^nic.tap: missing/)]);
  });
  it('the host check refuses it where /dev/vhost-net is missing, with what to do', () => {
    const cfg = parseConfig(base(1) + 'backend = "vhost"\nnamespace = true\n', '/x/dp.toml');
    const host = (vhostNet: boolean): HostInfo => ({ cpus: 2, totalMemBytes: 2 ** 34, fileKind: () => 'file', vhostNet });
    expect(hostFitProblems(cfg, host(false))).toEqual([`nic.backend = "vhost": /dev/vhost-net is missing; ${VHOST_MISSING}`]);
    expect(VHOST_MISSING).toBe('the host kernel has no vhost-net: modprobe vhost_net, or use tap');
    expect(hostFitProblems(cfg, host(true))).toEqual([]);
    const tap = parseConfig(base(1) + 'namespace = true\n', '/x/dp.toml');
    expect(hostFitProblems(tap, host(false))).toEqual([]);
  });
});

describe('ix check judges vhost-net', () => {
  const facts = (vhost: HostFacts['vhost'], nicBackend: string): HostFacts => ({
    node: { version: '20.20.2' },
    kvm: { path: '/dev/kvm', exists: true, mode: 'crw-rw----', owner: 'root:kvm', openRw: 'ok' },
    kvmApi: { version: 12, state: 'ok', error: null },
    platform: { pvm: false, intel: true, amd: false },
    tun: { path: '/dev/net/tun', exists: true, mode: 'crw-rw-rw-', owner: 'root:root', openRw: 'ok' },
    netns: { root: true, ipTool: true, usable: true, error: null },
    cpus: { available: 4, online: 4 },
    guestBuild: { path: '/x/kernel.elf', exists: true },
    vhost,
    config: { path: '/x/dp.toml', error: null, hostFit: [], nicBackend },
  });
  it('ok with the features; a warning when missing, which fails only a vhost config', () => {
    const good = evaluate(facts({ status: 'ok', detail: 'offers 0x1; the backend sets 0x130000000' }, 'vhost (backend = "vhost" in the config)'));
    expect(good.checks.find((c) => c.id === 'vhost')?.status).toBe('ok');
    expect(good.checks.find((c) => c.id === 'config')?.status).toBe('ok');
    const missing = { status: 'missing' as const, detail: `/dev/vhost-net is absent; ${VHOST_MISSING}` };
    const bad = evaluate(facts(missing, 'vhost (backend = "vhost" in the config)'));
    expect(bad.checks.find((c) => c.id === 'vhost')?.status).toBe('warn');
    expect(bad.checks.find((c) => c.id === 'config')?.status).toBe('fail');
    expect(bad.ok).toBe(false);
    expect(evaluate(facts(missing, 'tap (auto: ...)')).checks.find((c) => c.id === 'config')?.status).toBe('ok');
  });
});

describe('the wake thread (no irqfds): an RX call signal becomes the nicIdleWait wake', () => {
  it('bumps and notifies the queue\'s counter and the any-queue counter, posts the wake, and stops', async () => {
    const calls = [libc.makeEventfd(), libc.makeEventfd()];
    const stopFd = libc.makeEventfd();
    const ctlSab = new SharedArrayBuffer(4 * CTL_CELLS);
    const ctl = new Int32Array(ctlSab);
    const one = libc.mapAnon(4096);
    new DataView(libc.view(one, 8)).setBigUint64(0, 1n, true);
    const w = new Worker(workerScriptUrl(new URL('../src/nic/vhost/backend.ts', import.meta.url).href, 'waiter.js'), {
      workerData: { ctl: ctlSab, callFds: calls, stopFd, postWakes: true, timeoutMs: 50 },
    });
    const woken: number[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        w.on('message', (m: { type: string; q?: number; msg?: string }) => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'wake') woken.push(m.q!);
          else if (m.type === 'error') reject(new Error(m.msg));
        });
        w.once('error', reject);
      });
      expect(Atomics.load(ctl, CTL_STATE)).toBe(1);
      // a vCPU worker would sleep here (nicIdleWait): a signal on queue 1's call fd wakes it
      const seen = Atomics.load(ctl, CTL_WAKE + 1);
      libc.write(calls[1]!, one, 8);
      libc.write(calls[1]!, one, 8); // a second signal: one or two wakes, depending on when the thread reads (a read drains the counter)
      expect(Atomics.wait(ctl, CTL_WAKE + 1, seen, 5000)).not.toBe('timed-out');
      for (let i = 0; i < 100 && woken.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(Atomics.load(ctl, CTL_WAKE + 0)).toBe(0);
      expect(Atomics.load(ctl, CTL_WAKE_ANY)).toBeGreaterThanOrEqual(1);
      libc.write(calls[0]!, one, 8);
      for (let i = 0; i < 500 && Atomics.load(ctl, CTL_WAKE + 0) === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(Atomics.load(ctl, CTL_WAKE + 0)).toBe(1);
      for (let i = 0; i < 100 && woken.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect([...new Set(woken)].sort()).toEqual([0, 1]);
      Atomics.store(ctl, CTL_STOP, 1);
      libc.write(stopFd, one, 8);
      const code = await new Promise<number>((resolve) => w.once('exit', resolve));
      expect(code).toBe(0);
      expect(Atomics.load(ctl, CTL_STATE)).toBe(2);
    } finally {
      await w.terminate();
      for (const fd of [...calls, stopFd]) libc.close(fd);
      libc.munmap(one, 4096);
    }
  });
});

describe.runIf(!existsSync('/dev/vhost-net'))('the backend where the host kernel has no vhost-net', () => {
  it('startNicBackend refuses with what to do, before any thread starts, and leaves the fds open', async () => {
    const nic = parseConfig('name = "x"\n[app]\npath = "a.elf"\n[nic]\naddress = "10.0.0.2/24"\nbackend = "vhost"\nnamespace = true\n').nic!;
    const plan = planNic(nic, 1, { tag: 't' });
    const size = 4 << 20;
    const base = libc.mapAnon(size, { shared: true });
    const [dev, peer] = datagramPair();
    try {
      const mem = new GuestMemory({ base, size });
      const rings = prepareNicRings(mem, 0x100000, 0x200000, 1, plan.queueSize);
      const p = startNicBackend(plan, { memory: { base, size }, rings, tapFds: [dev] });
      await expect(p).rejects.toThrow(VhostUnavailableError);
      await expect(p).rejects.toThrow(/\/dev\/vhost-net: ENOENT .*the host kernel has no vhost-net: modprobe vhost_net, or use tap/);
      expect(libc.write(peer, base, 1)).toBe(1); // the caller's fd is still open
    } finally {
      libc.close(dev);
      libc.close(peer);
      libc.munmap(base, size);
    }
  });
});
