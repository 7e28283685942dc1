// The dataplane end to end: Linux clients in the dataplane's own namespace against
// the echo app, with 1 and 2 cores: many TCP connections and UDP datagrams, a 100 MB echo
// whose SHA-256 matches, connections spread over both cores by RSS, and an app fault during
// traffic that resets that core's connections while the other core and the dataplane go on.
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane, type RunningDataplane } from './dataplane-proc.js';

const run = requireNetKvm('end-to-end tests');

const { dir, cleanup } = tempDir('ix-e2e-');
afterAll(cleanup);
const CLIENT = resolve('test/fixtures/e2e/echo_client.py');
/** MB of the bulk echo: 100, or less where the guest runs emulated (the nested run under TCG) */
const BULK_MB = Number(process.env.IX_E2E_BULK_MB ?? 100);

function config(name: string, cores: number, args: string[]): string {
  return writeConfig(
    dir,
    name,
    `name = "${name}"\ncores = ${cores}\nmemory = "256M"\n[app]\npath = "${appElf('echo')}"\nargs = ${JSON.stringify(args)}\nheap = "32M"\n` +
      `[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\n`,
  );
}

function client(dp: RunningDataplane, cmd: string, arg: number): Record<string, unknown> {
  const r = dp.exec('python3', [CLIENT, dp.address, '7', cmd, String(arg)]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe.runIf(run).each([1, 2])('echo dataplane with %i core(s)', (cores) => {
  it(`serves many TCP connections, UDP datagrams and a ${BULK_MB} MB echo; stops cleanly`, async () => {
    // the 2-core run uses the example config itself, as an operator would
    const cfg = cores === 2 ? resolve('configs/echo.toml') : config(`echo${cores}`, cores, ['7']);
    const dp = await startDataplane(cfg, /echo: serving/);
    try {
      expect(client(dp, 'tcp-many', 300)).toEqual({ conns: 300, ok: 300 });
      expect(client(dp, 'udp-many', 300)).toEqual({ datagrams: 300, ok: 300 });
      const bulk = client(dp, 'bulk', BULK_MB);
      expect(bulk.received).toBe(BULK_MB << 20);
      expect(bulk.sha_match).toBe(true);
      expect(dp.exec('ping', ['-c', '3', '-i', '0.2', dp.address]).stdout).toMatch(/3 received/);
    } finally {
      const { code, summary } = await dp.stop();
      expect(code).toBe(0);
      expect(netnsExists(dp.netns)).toBe(false);
      if (cores === 2) {
        // RSS spread the 300 connections and the datagrams over both queues
        const perCore = (summary!.cores as { rxFrames: number }[]).map((c) => c.rxFrames);
        expect(perCore).toHaveLength(2);
        for (const n of perCore) expect(n).toBeGreaterThan(100);
      }
    }
  });
});

describe.runIf(run)('fault isolation under traffic', () => {
  it('an app fault resets only that core\'s connections; the other core and the dataplane go on', async () => {
    const dp = await startDataplane(config('echocrash', 2, ['--crash-word', 'CRASH!', '7']), /echo: serving/);
    let res: { existing: string[]; fresh: Record<string, number> };
    try {
      res = client(dp, 'crash', 24) as typeof res;
      let fault: Record<string, unknown> | undefined;
      for (let i = 0; i < 100 && !fault; i++) {
        fault = dp.records.find((r) => r.kind === 'page fault');
        if (!fault) await new Promise((r) => setTimeout(r, 20));
      }
      expect(fault?.symbol).toMatch(/^on_recv/);
      // the faulting core's connections were reset, the other core's still echo
      expect(res.existing[0]).toBe('reset');
      expect(res.existing.filter((x) => x === 'ok').length).toBeGreaterThan(0);
      expect(res.existing.every((x) => x === 'ok' || x === 'reset')).toBe(true);
      // new connections: refused on the dead core, served on the live one
      expect(res.fresh.ok).toBeGreaterThan(0);
      expect(res.fresh.refused).toBeGreaterThan(0);
      expect(res.fresh.other).toBe(0);
      // the dataplane still answers ping on both queues
      expect(dp.exec('ping', ['-c', '3', '-i', '0.2', dp.address]).stdout).toMatch(/3 received/);
    } finally {
      const { code } = await dp.stop();
      expect(code).toBe(1); // an app was stopped after a fault
      expect(netnsExists(dp.netns)).toBe(false);
    }
  });
});
