// The e2e benchmark's command-line options: parsed into E2eOptions, bad values refused with
// an error that names the option (no benchmark runs here).
import { afterAll, describe, expect, it } from 'vitest';
import { bestUnderSla, e2eOptionsFromArgs, KV_SLA_US, measurableBackends } from '../src/bench/e2e.js';
import type { EchoLoadResult } from '../src/bench/e2e-parse.js';
import { unavailableLine } from '../src/bench/report-tables.js';
import { writeIxConfig } from '../src/bench/e2e-ix.js';
import { parse as parseToml } from 'smol-toml';
import { readFileSync } from 'node:fs';
import { tempDir } from './ix-cli.js';

describe('bench e2e options', () => {
  it('parses every option', () => {
    expect(e2eOptionsFromArgs(['--seconds=2', '--rounds=1', '--server-cpus=0,1', '--client-cpus=', '--conns=1,16', '--backend-spin-us=50', '--backend=tap,xdp', '--protection=pvm-host-switch', '--wake=kernel', '--sched-slice-us=100', '--idle-poll-us=5000'])).toEqual({
      seconds: 2, rounds: 1, serverCpus: [0, 1], clientCpus: [], echoConns: [1, 16], backendSpinUs: 50, backends: ['tap', 'xdp'], protection: 'pvm-host-switch', wake: 'kernel', schedSliceUs: 100, idlePollUs: 5000,
    });
    expect(e2eOptionsFromArgs([])).toEqual({});
  });

  it('refuses a protection mode that does not exist, naming the modes', () => {
    expect(() => e2eOptionsFromArgs(['--protection=ring4'])).toThrow(/--protection=ring4: expected one of auto, page-tables, pvm-host-switch, shared-page-table, none/);
  });

  it('refuses out-of-range numbers and unknown backends', () => {
    expect(() => e2eOptionsFromArgs(['--seconds=0'])).toThrow(/--seconds=0/);
    expect(() => e2eOptionsFromArgs(['--backend=tap,tap'])).toThrow(/distinct NIC backends/);
    expect(() => e2eOptionsFromArgs(['--backend=tap,dpdk'])).toThrow(/--backend=tap,dpdk: expected a comma-separated list of distinct NIC backends from tap, xdp, xdp-host, vhost/);
    expect(e2eOptionsFromArgs(['--backend=tap,xdp,xdp-host']).backends).toEqual(['tap', 'xdp', 'xdp-host']);
    expect(() => e2eOptionsFromArgs(['--server-cpus='])).toThrow(/at least one CPU/);
    expect(() => e2eOptionsFromArgs(['--wake=sometimes'])).toThrow(/--wake=sometimes/);
    expect(() => e2eOptionsFromArgs(['--sched-slice-us=200000'])).toThrow(/--sched-slice-us=200000: expected a number from 0 to 100000/);
    expect(() => e2eOptionsFromArgs(['--sched-slice-us=1.5'])).toThrow(/--sched-slice-us=1.5: expected an integer/);
    expect(() => e2eOptionsFromArgs(['--idle-poll-us=2000000'])).toThrow(/--idle-poll-us=2000000: expected a number from 0 to 1000000/);
    expect(() => e2eOptionsFromArgs(['--idle-poll-us=0.5'])).toThrow(/--idle-poll-us=0.5: expected an integer/);
  });

  it('takes the kvload connection counts of the latency-bound row', () => {
    expect(e2eOptionsFromArgs(['--kv-conns=8', '--kv-sla-conns=1,2,128'])).toEqual({ kvConns: 8, kvSlaConns: [1, 2, 128] });
    expect(e2eOptionsFromArgs(['--kv-sla-conns='])).toEqual({ kvSlaConns: [] });
    expect(() => e2eOptionsFromArgs(['--kv-conns=0'])).toThrow(/--kv-conns=0: expected a number from 1 to 4096/);
    expect(() => e2eOptionsFromArgs(['--kv-conns=2.5'])).toThrow(/--kv-conns=2.5: expected an integer/);
    expect(() => e2eOptionsFromArgs(['--kv-sla-conns=4,x'])).toThrow(/--kv-sla-conns=4,x: expected a comma-separated list/);
  });

  it('takes vhost as a backend, alone or beside the others', () => {
    expect(e2eOptionsFromArgs(['--backend=tap,xdp,vhost'])).toEqual({ backends: ['tap', 'xdp', 'vhost'] });
    expect(e2eOptionsFromArgs(['--backend=vhost'])).toEqual({ backends: ['vhost'] });
  });
});

describe('bench e2e: which backends this host can measure', () => {
  const missing = () => ({ status: 'missing' as const, detail: '/dev/vhost-net is absent; the host kernel has no vhost-net: modprobe vhost_net, or use tap' });
  it('drops vhost where the host has no vhost-net, saying why, and keeps the others', () => {
    const r = measurableBackends(['tap', 'vhost', 'xdp'], missing);
    expect(r.measure).toEqual(['tap', 'xdp']);
    expect(r.unavailable).toEqual([{ backend: 'vhost', reason: 'vhost-net missing: /dev/vhost-net is absent; the host kernel has no vhost-net: modprobe vhost_net, or use tap' }]);
    expect(unavailableLine(r.unavailable[0]!)).toBe('ix vhost: not measured on this host (vhost-net missing: /dev/vhost-net is absent; the host kernel has no vhost-net: modprobe vhost_net, or use tap)');
    expect(measurableBackends(['vhost'], () => ({ status: 'unusable', detail: 'VHOST_SET_OWNER failed: EPERM' })).measure).toEqual([]);
  });

  it('measures vhost where the host offers it, and asks only when vhost was asked for', () => {
    expect(measurableBackends(['vhost', 'tap'], () => ({ status: 'ok', detail: 'offers 0x1' }))).toEqual({ measure: ['vhost', 'tap'], unavailable: [] });
    expect(measurableBackends(['tap', 'xdp'], () => { throw new Error('not asked'); })).toEqual({ measure: ['tap', 'xdp'], unavailable: [] });
  });
});

describe('bench e2e: the dataplane config per backend', () => {
  const { dir, cleanup } = tempDir('ix-bench-e2e-cfg-');
  afterAll(cleanup);
  const app = { name: 'benchecho', elf: '/x/echo.elf', args: ['7'], ports: [7], heap: '32M' };
  const nicOf = (p: string) => (parseToml(readFileSync(p, 'utf8')) as { nic: Record<string, unknown> }).nic;
  it('vhost: the TAP set-up of tap (a fresh namespace) with backend = "vhost", in a file of its own', () => {
    const tap = writeIxConfig(dir, app, [0]);
    const vhost = writeIxConfig(dir, app, [0], undefined, 'vhost');
    expect(vhost).not.toBe(tap);
    expect(nicOf(tap)).toEqual({ namespace: true, address: '10.10.0.2/24', gateway: '10.10.0.1' });
    expect(nicOf(vhost)).toEqual({ backend: 'vhost', namespace: true, address: '10.10.0.2/24', gateway: '10.10.0.1' });
  });
  it('xdp: the interface and its address', () => {
    const p = writeIxConfig(dir, app, [0, 1], 20, { ifname: 'vethx0', address: '10.30.0.2', dpNetns: 'a', clientNetns: 'b' });
    expect(nicOf(p)).toEqual({ backend: 'xdp', interface: 'vethx0', address: '10.30.0.2/24', backend_spin_us: 20 });
  });
  it('xdp-host: the same with xdp_rings = "host", in a file of its own', () => {
    const x = { ifname: 'vethx0', address: '10.30.0.2', dpNetns: 'a', clientNetns: 'b' };
    const guest = writeIxConfig(dir, app, [0], undefined, x);
    const host = writeIxConfig(dir, app, [0], undefined, { ...x, rings: 'host' });
    expect(host).not.toBe(guest);
    expect(nicOf(host)).toEqual({ backend: 'xdp', interface: 'vethx0', address: '10.30.0.2/24', xdp_rings: 'host' });
  });
  it('sched_slice_us at the top level only when asked for (--sched-slice-us)', () => {
    const top = (p: string) => parseToml(readFileSync(p, 'utf8')) as Record<string, unknown>;
    expect(top(writeIxConfig(dir, app, [0], undefined, undefined, { schedSliceUs: 100 })).sched_slice_us).toBe(100);
    expect(top(writeIxConfig(dir, app, [0])).sched_slice_us).toBeUndefined();
  });
  it('idle_poll_us at the top level only when asked for (--idle-poll-us), and the config loads', () => {
    const top = (p: string) => parseToml(readFileSync(p, 'utf8')) as Record<string, unknown>;
    expect(top(writeIxConfig(dir, app, [0], undefined, undefined, { idlePollUs: 5000 })).idle_poll_us).toBe(5000);
    expect(top(writeIxConfig(dir, app, [0])).idle_poll_us).toBeUndefined();
  });
});

describe('bench e2e: gets/s at p99 under the bound', () => {
  const pt = (conns: number, rps: number, p99: number): EchoLoadResult => ({ conns, rps, p50_us: p99 / 2, p99_us: p99, round_trips: rps, errors: 0, corrupt: 0, open: conns } as EchoLoadResult);
  it('takes the most gets/s among the points under the bound, not the most overall', () => {
    expect(KV_SLA_US).toBe(500);
    const best = bestUnderSla([pt(32, 90_000, 700), pt(4, 30_000, 120), pt(16, 70_000, 480), pt(64, 95_000, 2000)]);
    expect([best.conns, best.rps, best.p99_us]).toEqual([16, 70_000, 480]);
  });
  it('a p99 of exactly the bound does not count; no point under it gives 0 gets/s at 0 connections', () => {
    expect(bestUnderSla([pt(4, 30_000, 500), pt(1, 9_000, 499.9)]).conns).toBe(1);
    const none = bestUnderSla([pt(4, 30_000, 900), pt(16, 60_000, 5000)]);
    expect([none.conns, none.rps]).toEqual([0, 0]);
  });
});
