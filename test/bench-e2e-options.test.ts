// The e2e benchmark's command-line options: parsed into E2eOptions, bad values refused with
// an error that names the option (no benchmark runs here).
import { describe, expect, it } from 'vitest';
import { e2eOptionsFromArgs, measurableBackends } from '../src/bench/e2e.js';
import { unavailableLine } from '../src/bench/report-tables.js';

describe('bench e2e options', () => {
  it('parses every option', () => {
    expect(e2eOptionsFromArgs(['--seconds=2', '--rounds=1', '--server-cpus=0,1', '--client-cpus=', '--conns=1,16', '--backend-spin-us=50', '--backend=tap,xdp', '--protection=pvm-host-switch', '--wake=kernel'])).toEqual({
      seconds: 2, rounds: 1, serverCpus: [0, 1], clientCpus: [], echoConns: [1, 16], backendSpinUs: 50, backends: ['tap', 'xdp'], protection: 'pvm-host-switch', wake: 'kernel',
    });
    expect(e2eOptionsFromArgs([])).toEqual({});
  });

  it('refuses a protection mode that does not exist, naming the modes', () => {
    expect(() => e2eOptionsFromArgs(['--protection=ring4'])).toThrow(/--protection=ring4: expected one of auto, page-tables, pvm-host-switch, shared-page-table, none/);
  });

  it('refuses out-of-range numbers and unknown backends', () => {
    expect(() => e2eOptionsFromArgs(['--seconds=0'])).toThrow(/--seconds=0/);
    expect(() => e2eOptionsFromArgs(['--backend=tap,tap'])).toThrow(/distinct NIC backends/);
    expect(() => e2eOptionsFromArgs(['--backend=tap,dpdk'])).toThrow(/--backend=tap,dpdk: expected a comma-separated list of distinct NIC backends from tap, xdp, vhost/);
    expect(() => e2eOptionsFromArgs(['--server-cpus='])).toThrow(/at least one CPU/);
    expect(() => e2eOptionsFromArgs(['--wake=sometimes'])).toThrow(/--wake=sometimes/);
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
