// The NIC plan: built once from the validated [nic] config (planNic), a plain structured-
// cloneable object carried unchanged to the worker and the engine. Static ARP entries are
// validated once, by the config schema; the plan only converts them and the ABI writer only
// checks the layout.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config/index.js';
import { MS_RSS_KEY } from '../src/nic/toeplitz.js';
import { NicPlanError, macBytes, peerAddressFor, planNic } from '../src/nic/plan.js';

const config = (nic: string): string =>
  `name = "plan-t"\ncores = 2\n[app]\npath = "/bin/true"\n[nic]\n${nic}`;

describe('planNic', () => {
  it('converts the config once: addresses, MAC, RSS, static ARP as bytes, backend knobs, the TAP', () => {
    const cfg = parseConfig(
      config(
        'tap = "ixp0"\nmac = "02:AA:bb:CC:dd:01"\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\nrss_table_size = 64\nbackend_spin_us = 50\n' +
          `rss_key = "${Buffer.from(MS_RSS_KEY).toString('hex').toUpperCase().match(/../g)!.join(':')}"\n` +
          '[[nic.arp]]\nip = "10.10.0.1"\nmac = "02-00-00-00-00-02"\n[[nic.arp]]\nip = "10.10.0.3"\nmac = "02:00:00:00:00:03"\n',
      ),
    );
    const plan = planNic(cfg.nic!, cfg.cores.count, { tag: 'plant' });
    expect(plan).toEqual({
      nqueues: 2,
      queueSize: 256,
      mac: Uint8Array.from([2, 0xaa, 0xbb, 0xcc, 0xdd, 1]),
      mtu: 1500,
      addr: 0x0a0a0002,
      prefix: 24,
      netmask: 0xffffff00,
      gateway: 0x0a0a0001,
      rss: { key: Uint8Array.from(MS_RSS_KEY), reta: Array.from({ length: 64 }, (_, i) => i % 2) },
      arp: [
        { ip: 0x0a0a0001, mac: Uint8Array.from([2, 0, 0, 0, 0, 2]) },
        { ip: 0x0a0a0003, mac: Uint8Array.from([2, 0, 0, 0, 0, 3]) },
      ],
      backend: { spinUs: 50, batch: 64, io: 'koffi', idleTimeoutMs: 100, cpu: null, sliceUs: 0, avoidCpus: [] },
      tap: { name: 'ixp0', netns: null },
      vhost: false,
      xdp: null,
    });
    // what the worker receives in its workerData is the same plan
    expect(structuredClone(plan)).toEqual(plan);
  });

  it('the backend thread gets the configured scheduler slice (sched_slice_us), 0 without one', () => {
    const nic = parseConfig(config('namespace = true\naddress = "10.9.0.1/24"\n')).nic!;
    expect(planNic(nic, 1, { tag: 'x', schedSliceUs: 100 }).backend.sliceUs).toBe(100);
    expect(planNic(nic, 1, { tag: 'x' }).backend.sliceUs).toBe(0);
  });

  it('the AF_XDP kick thread (guest rings) keeps off the cores\' CPUs; other backends and unpinned cores do not', () => {
    const xdp = (rings: string) => parseConfig(config(`interface = "veth0"\naddress = "10.9.0.1/24"\nxdp_rings = "${rings}"\n`).replace('cores = 2', 'cores = 1')).nic!;
    expect(planNic(xdp('guest'), 1, { tag: 'x', coreCpus: [3] }).backend.avoidCpus).toEqual([3]);
    expect(planNic(xdp('guest'), 1, { tag: 'x', coreCpus: null }).backend.avoidCpus).toEqual([]);
    expect(planNic(xdp('host'), 1, { tag: 'x', coreCpus: [3] }).backend.avoidCpus).toEqual([]);
    const tap = parseConfig(config('namespace = true\naddress = "10.9.0.1/24"\n')).nic!;
    expect(planNic(tap, 1, { tag: 'x', coreCpus: [3] }).backend.avoidCpus).toEqual([]);
  });

  it('RSS key: random for every run unless the config fixes one; a bad key is refused by the config', () => {
    const nic = (extra: string) => parseConfig(config(`namespace = true\naddress = "10.9.0.1/24"\n${extra}`)).nic!;
    const a = planNic(nic(''), 2, { tag: 'x' }).rss.key, b = planNic(nic(''), 2, { tag: 'x' }).rss.key;
    expect(a).toHaveLength(40);
    expect(b).toHaveLength(40);
    expect(Array.from(a)).not.toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(MS_RSS_KEY));
    const hex = '6d5a'.repeat(20);
    expect(nic(`rss_key = "${hex}"\n`).rssKey).toBe(hex);
    expect(Array.from(planNic(nic(`rss_key = "${hex}"\n`), 2, { tag: 'x' }).rss.key)).toEqual(Array(20).fill([0x6d, 0x5a]).flat());
    expect(() => nic('rss_key = "6d5a"\n')).toThrow(/nic.rss_key.*not 40 bytes of hex/s);
    expect(() => nic(`rss_key = "${'zz'.repeat(40)}"\n`)).toThrow(/not 40 bytes of hex/);
    expect(() => nic(`rss_key = "${'00'.repeat(40)}"\n`)).toThrow(/all zeros/);
    expect(() => nic('rss_key = 5\n')).toThrow(/wrong type/);
  });

  it('a namespace NIC: a fresh namespace with the Linux side on the gateway or the first other address', () => {
    const ns = (extra: string) => planNic(parseConfig(config(`namespace = true\naddress = "10.9.0.1/24"\n${extra}`)).nic!, 1, { tag: 'x' });
    expect(ns('').tap).toEqual({ name: 'ixtap0', netns: { kind: 'fresh', tag: 'x', peer: '10.9.0.2' } });
    expect(ns('gateway = "10.9.0.254"\n').tap!.netns).toEqual({ kind: 'fresh', tag: 'x', peer: '10.9.0.254' });
    expect(peerAddressFor('10.9.0.5', 24, null)).toBe('10.9.0.1');
  });

  it('static ARP is validated by the config alone: duplicates, multicast and zero MACs never reach the plan', () => {
    const arp = (entries: [string, string][]) =>
      config('namespace = true\naddress = "10.9.0.1/24"\n' + entries.map(([ip, mac]) => `[[nic.arp]]\nip = "${ip}"\nmac = "${mac}"\n`).join(''));
    expect(() => parseConfig(arp([['10.9.0.2', '02:00:00:00:00:09'], ['10.9.0.2', '02:00:00:00:00:0a']]))).toThrow(ConfigError);
    expect(() => parseConfig(arp([['10.9.0.2', '01:00:5e:00:00:01']]))).toThrow(/multicast/);
    expect(() => parseConfig(arp([['10.9.0.2', '00:00:00:00:00:00']]))).toThrow(/all-zero/);
    expect(() => parseConfig(arp([['10.8.0.2', '02:00:00:00:00:09']]))).toThrow(/outside/);
    // a hand-made config that skipped the schema is refused at conversion, not written
    expect(() => macBytes('nope')).toThrow(NicPlanError);
  });
});
