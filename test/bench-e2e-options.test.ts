// The e2e benchmark's command-line options: parsed into E2eOptions, bad values refused with
// an error that names the option (no benchmark runs here).
import { describe, expect, it } from 'vitest';
import { e2eOptionsFromArgs } from '../src/bench/e2e.js';

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
    expect(() => e2eOptionsFromArgs(['--backend=xdp,vhost'])).toThrow(/from tap, xdp, xdp-host/);
    expect(e2eOptionsFromArgs(['--backend=tap,xdp,xdp-host']).backends).toEqual(['tap', 'xdp', 'xdp-host']);
    expect(() => e2eOptionsFromArgs(['--server-cpus='])).toThrow(/at least one CPU/);
    expect(() => e2eOptionsFromArgs(['--wake=sometimes'])).toThrow(/--wake=sometimes/);
  });
});
