// The vhost-net NIC backend end to end. Where /dev/vhost-net exists (the nested run's Debian
// kernel): the echo dataplane on one core with backend = "vhost", Linux clients in its
// namespace (TCP connections, UDP datagrams, a bulk echo with SHA-256 compared, ping, a
// 64-byte round-trip series), the "NIC up" line naming vhost-net, and `ix stats` giving the
// queue the guest's frame counts. Where it does not (these
// PVM hosts): `ix run` refuses the config with what to do, and `ix check` says so.
// IX_VHOST_COMPARE=1 runs the same series over the TAP backend too; the bulk rate and the
// round-trip times of both are printed for docs/nic.md (a measurement, never asserted).
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, ix, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane, type RunningDataplane } from './dataplane-proc.js';
import { resolve } from 'node:path';

const hasVhost = existsSync('/dev/vhost-net');
const run = hasVhost && requireNetKvm('vhost end-to-end test');
const { dir, cleanup } = tempDir('ix-e2e-vhost-');
afterAll(cleanup);
const CLIENT = resolve('test/fixtures/e2e/echo_client.py');
const BULK_MB = Number(process.env.IX_E2E_BULK_MB ?? 100);
const backends = process.env.IX_VHOST_COMPARE === '1' ? ['vhost', 'tap'] : ['vhost'];
/** a dataplane start, the clients and a stop took 75-125 s under TCG on a loaded host */
const TEST_MS = 240_000;
const ROUND_TRIPS = 300;

function config(name: string, backend: string): string {
  return writeConfig(
    dir,
    name,
    `name = "${name}"\ncores = 1\nmemory = "256M"\n[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "32M"\n` +
      `[nic]\nbackend = "${backend}"\nnamespace = true\naddress = "10.11.0.2/24"\ngateway = "10.11.0.1"\n`,
  );
}

function client(dp: RunningDataplane, cmd: string, arg: number): Record<string, unknown> {
  const r = dp.exec('python3', [CLIENT, dp.address, '7', cmd, String(arg)]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

// registered only where it can run, so neither host reports a skipped test: the dataplane over
// vhost where the kernel has vhost-net (the nested VM), the refusal where it has not
if (run) describe.each(backends)('echo dataplane with 1 core over backend %s', (backend) => {
  it(`serves TCP connections, UDP datagrams and a ${BULK_MB} MB echo; stops cleanly`, async () => {
    const dp = await startDataplane(config(`vh${backend}`, backend), /echo: serving/);
    const up = dp.records.find((r) => String(r.msg).startsWith('NIC up'))!;
    try {
      if (backend === 'vhost') {
        expect(up.msg).toMatch(/vhost-net, 1 device\(s\)/);
        expect(up.vhost).toEqual({ devices: 1, wakePath: expect.stringMatching(/^(irqfd|thread)$/) });
      }
      expect(client(dp, 'tcp-many', 100)).toEqual({ conns: 100, ok: 100 });
      expect(client(dp, 'udp-many', 100)).toEqual({ datagrams: 100, ok: 100 });
      const bulk = client(dp, 'bulk', BULK_MB);
      expect(bulk.received).toBe(BULK_MB << 20);
      expect(bulk.sha_match).toBe(true);
      const rtt = client(dp, 'rtt', ROUND_TRIPS);
      expect(rtt.ok).toBe(ROUND_TRIPS);
      expect(dp.exec('ping', ['-c', '3', '-i', '0.2', dp.address]).stdout).toMatch(/3 received/);
      // ix stats: vhost counts nothing per queue, so queue 0's frames are the guest core's own
      const st = ix(['stats', `vh${backend}`, '--json']);
      expect(st.status, st.stderr).toBe(0);
      const rep = JSON.parse(st.stdout) as { nic: Record<string, unknown>; nicCounters: Record<string, number>[]; counters: Record<string, number>[] };
      expect(rep.nic).toMatchObject({ backend, mode: 'copy', counters: backend === 'vhost' ? 'guest' : 'backend' });
      expect(rep.nicCounters[0]!.rx_frames).toBeGreaterThan(1000);
      if (backend === 'vhost') expect(rep.nicCounters[0]!.tx_frames).toBe(rep.counters[0]!.txFrames);
      const mbps = (BULK_MB / (bulk.seconds as number)).toFixed(2);
      const how = backend === 'vhost' ? ` (RX wake: ${(up.vhost as { wakePath: string }).wakePath})` : '';
      console.log(`e2e-vhost measure: backend ${backend}${how}: ${BULK_MB} MB echo in ${(bulk.seconds as number).toFixed(2)} s (${mbps} MB/s each way); 64 B RTT over ${ROUND_TRIPS} round trips p50 ${rtt.p50_us} us, p90 ${rtt.p90_us} us, p99 ${rtt.p99_us} us`);
    } finally {
      const { code } = await dp.stop();
      expect(code).toBe(0);
      expect(netnsExists(dp.netns)).toBe(false);
    }
  }, TEST_MS);
});

if (!hasVhost) describe('a host kernel without vhost-net', () => {
  it('ix run refuses backend = "vhost" saying what to do, and ix check reports it', () => {
    const cfg = config('novhost', 'vhost');
    const r = ix(['run', '--json', cfg]);
    expect(r.status, r.stderr).not.toBe(0);
    expect(r.stderr).toContain('the host kernel has no vhost-net: modprobe vhost_net, or use tap');
    const c = ix(['check', '--json', cfg], 120_000);
    const report = JSON.parse(c.stdout) as { checks: { id: string; status: string; detail: string }[] };
    const byId = new Map(report.checks.map((x) => [x.id, x]));
    expect(byId.get('vhost')?.status).toBe('warn');
    expect(byId.get('vhost')?.detail).toMatch(/missing: \/dev\/vhost-net is absent/);
    expect(byId.get('config')?.status).toBe('fail');
    expect(byId.get('config')?.detail).toMatch(/no vhost-net: modprobe vhost_net, or use tap/);
    expect(c.status).toBe(1);
  });
});
