// The NIC benchmark's pure parts: its command-line options, which configurations a run
// measures on a host that can or cannot do XDP (and why it leaves one out), and the summary
// rows with their ratios to the C reflectors (no benchmark runs here, no timing).
import { describe, expect, it } from 'vitest';
import { NIC_BENCH_CONFIGS, configNeeds, nicOptionsFromArgs, pickNicConfigs, skippedLine, type NicHostFacts } from '../src/bench/nic-options.js';
import { buildNicRows, nicTableCells, xdpTargetLines } from '../src/bench/nic-rows.js';
import { makeRecord } from '../src/bench/report-history.js';
import { tableFor } from '../src/bench/report-tables.js';
import { metricsFor } from '../src/bench/report-plots.js';
import type { PingResult } from '../src/testing/nic-tools.js';

const allOk: NicHostFacts = { veth: null, xdp: null, kvm: null };

describe('bench nic options', () => {
  it('parses every option', () => {
    expect(nicOptionsFromArgs(['--seconds=2', '--rounds=1', '--inflight=64', '--backend-spin-us=0', '--configs=c-reflector,xdp-guest,xdp-host', '--json'])).toEqual({
      seconds: 2, rounds: 1, inflight: 64, backendSpinUs: 0, configs: ['c-reflector', 'xdp-guest', 'xdp-host'],
    });
    expect(nicOptionsFromArgs([])).toEqual({});
  });

  it('refuses bad numbers and unknown or repeated configurations, naming the option', () => {
    expect(() => nicOptionsFromArgs(['--seconds=0'])).toThrow(/--seconds=0: expected an integer from 1 to 60/);
    expect(() => nicOptionsFromArgs(['--inflight=2000'])).toThrow(/--inflight=2000/);
    expect(() => nicOptionsFromArgs(['--rounds=1.5'])).toThrow(/--rounds=1.5/);
    expect(() => nicOptionsFromArgs(['--rounds='])).toThrow(/--rounds=/);
    expect(() => nicOptionsFromArgs(['--configs=xdp'])).toThrow(/--configs=xdp: expected a comma-separated list of distinct configurations from c-reflector, /);
    expect(() => nicOptionsFromArgs(['--configs=xdp-guest,xdp-guest'])).toThrow(/distinct/);
    expect(() => nicOptionsFromArgs(['--configs='])).toThrow(/--configs=/);
  });
});

describe('bench nic: which configurations a run measures', () => {
  it('measures every configuration where the host has veth, AF_XDP and KVM', () => {
    expect(pickNicConfigs(undefined, allOk)).toEqual({ configs: [...NIC_BENCH_CONFIGS], skipped: [] });
    expect(NIC_BENCH_CONFIGS).toEqual(expect.arrayContaining(['c-reflector', 'c-reflector-veth', 'xdp-guest', 'xdp-host', 'dataplane-tap']));
  });

  it('leaves the XDP configurations out of a default run without AF_XDP, saying why', () => {
    const facts = { ...allOk, xdp: 'AF_XDP unusable (ix check): socket: EAFNOSUPPORT' };
    const r = pickNicConfigs(undefined, facts);
    expect(r.configs).not.toContain('xdp-guest');
    expect(r.configs).not.toContain('xdp-host');
    expect(r.configs).toContain('c-reflector-veth'); // needs only the veth pair
    expect(r.configs).toContain('dataplane-tap');
    expect(r.skipped.map((s) => s.config)).toEqual(['xdp-guest', 'xdp-host']);
    expect(skippedLine(r.skipped[0]!)).toBe('xdp-guest: not measured on this host (AF_XDP unusable (ix check): socket: EAFNOSUPPORT)');
  });

  it('without KVM keeps the reflectors and the fake-guest backends, and names every missing need', () => {
    const r = pickNicConfigs(undefined, { veth: 'no veth pair: ethtool missing', xdp: null, kvm: '/dev/kvm cannot be opened' });
    expect(r.configs).toEqual(['c-reflector', 'backend', 'backend-burst', 'backend-inline', 'backend-inline-burst']);
    expect(r.skipped.find((s) => s.config === 'xdp-guest')!.reason).toBe('no veth pair: ethtool missing; /dev/kvm cannot be opened');
    expect(r.skipped.find((s) => s.config === 'dataplane-tap')!.reason).toBe('/dev/kvm cannot be opened');
  });

  it('refuses configurations asked for by name that the host cannot run', () => {
    expect(pickNicConfigs(['xdp-host', 'c-reflector'], allOk)).toEqual({ configs: ['xdp-host', 'c-reflector'], skipped: [] });
    expect(() => pickNicConfigs(['c-reflector', 'xdp-guest'], { ...allOk, xdp: 'no AF_XDP' })).toThrow(/cannot run xdp-guest \(no AF_XDP\); leave them out of --configs/);
    expect(configNeeds('backend')).toEqual([]);
  });
});

describe('bench nic: rows and ratios', () => {
  const ping = (pps: number, p50 = 10, lost = 0): PingResult => ({ sent: 1, received: 1, lost, corrupt: 0, send_retries: 0, seconds: 1, pps, rtt_p50_us: p50, rtt_p99_us: 3 * p50, per_port: [] });
  const raw = {
    'c-reflector/1': [ping(100_000), ping(120_000), ping(110_000)],
    'c-reflector/32': [ping(400_000), ping(500_000)],
    'c-reflector-veth/1': [ping(80_000)],
    'c-reflector-veth/32': [ping(300_000)],
    'xdp-guest/1': [ping(20_000, 40)],
    'xdp-guest/32': [ping(280_000, 90, 3)],
    'dataplane-tap/1': [ping(25_000)],
    'dataplane-tap/32': [ping(200_000)],
  };
  const configs = ['c-reflector', 'c-reflector-veth', 'xdp-guest', 'xdp-host', 'dataplane-tap'] as const;
  const rows = buildNicRows(configs, raw, 32);

  it('takes medians and divides by the C reflector of the same run (the veth ones also by the veth reflector)', () => {
    const by = Object.fromEntries(rows.map((r) => [r.config, r]));
    expect(by['c-reflector']).toMatchObject({ pps_1: 110_000, pps_n: 500_000, ratio_1: null, ratio_n: null });
    expect(by['c-reflector']!.veth_ratio_n).toBeUndefined();
    expect(by['xdp-guest']).toMatchObject({ pps_1: 20_000, rtt_p50_us: 40, rtt_p99_us: 120, pps_n: 280_000, lost: 3 });
    expect(by['xdp-guest']!.ratio_n).toBeCloseTo(0.56);
    expect(by['xdp-guest']!.veth_ratio_n).toBeCloseTo(280 / 300);
    expect(by['c-reflector-veth']!.ratio_1).toBeCloseTo(80 / 110);
    expect(by['c-reflector-veth']!.veth_ratio_n).toBeUndefined();
    expect(by['dataplane-tap']!.veth_ratio_n).toBeUndefined(); // not on the veth
    // a configuration with no sample (failed every round) has no numbers and no ratio
    expect(by['xdp-host']!.pps_n).toBeNaN();
    expect(by['xdp-host']!.ratio_n).toBeNull();
  });

  it('without a C reflector in the run, there is no ratio to claim', () => {
    const r = buildNicRows(['xdp-guest'], raw, 32);
    expect(r[0]!.ratio_n).toBeNull();
    expect(r[0]!.veth_ratio_n).toBeNull();
  });

  it('prints the ratios in the table, the report and the history metrics', () => {
    const result = { options: { seconds: 1, rounds: 1, inflight: 32, payload: 64, flows: 8, queues: 1, configs: [...configs], backendSpinUs: 20, guestSpinUs: 0 }, rows, raw, skipped: [{ config: 'xdp-host' as const, reason: 'test' }], errors: [], host: { cpus: 2, load1_start: 1, load1_end: 2 } };
    const cells = nicTableCells(result);
    expect(cells.head).toContain('vs c-reflector, 1 / 32');
    expect(cells.rows.find((r) => r[0] === 'xdp-guest')).toEqual(['xdp-guest', 20_000, 40, 120, 280_000, 90, '0.18 / 0.56', '0.25 / 0.93', 3]);
    const md = tableFor(makeRecord('nic', result));
    expect(md).toContain('| xdp-guest | 20.0 k | 40 | 120 | 280 k | 90 | 0.18 / 0.56 | 0.25 / 0.93 | 3 |');
    expect(md).toContain('- xdp-host: not measured on this host (test)');
    // issue 11's target line, only for XDP rows that have a ratio
    expect(md).toContain('- target: xdp-guest pkt/s at 32 in flight >= 0.7 x c-reflector: 0.56, not met in this run');
    expect(md).not.toContain('target: xdp-host');
    expect(xdpTargetLines([{ ...rows[2]!, ratio_n: 0.7 }], 32)).toEqual(['target: xdp-guest pkt/s at 32 in flight >= 0.7 x c-reflector: 0.70, met in this run']);
    expect(md).toContain('Host: 2 CPUs, load average 1 before, 2 after.');
    const m = metricsFor(makeRecord('nic', result)).map((x) => x.name);
    expect(m).toContain('xdp-guest / c-reflector pkt/s, 32 in flight');
    expect(m).toContain('xdp-guest / c-reflector-veth pkt/s, 32 in flight');
  });
});
