// SYN flood end to end: the echo dataplane in its own namespace (made by `ix run` for this
// test, removed at stop) takes spoofed SYNs from a raw-socket sender (test/fixtures/e2e/
// synflood.c: sources are other hosts of the namespace's /24, so nothing leaves the
// namespace) for 10 s at the highest rate it reaches, while a Linux client in the same
// namespace keeps opening new connections and echoing on them, and one connection opened
// before the flood echoes between them. None may fail; the guest must have answered with
// SYN cookies, counted them and said so in its log. The rates reached are printed (they are
// measurements, not pass/fail thresholds: this machine is shared).
import { execFileSync, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane, type RunningDataplane } from './dataplane-proc.js';

const run = requireNetKvm('the SYN flood end-to-end test');

const { dir, cleanup } = tempDir('ix-synflood-');
afterAll(cleanup);
const CLIENT = resolve('test/fixtures/e2e/echo_client.py');
const FLOOD_SECS = 10;
const FLOOD_MAX = 20_000_000; // packets: a bound in count as well as in time

/** Run a program inside the dataplane's namespace without blocking; resolves with its stdout. */
function inNs(dp: RunningDataplane, cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const p = spawn('ip', ['netns', 'exec', dp.netns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(timer);
      res({ code, out, err });
    });
  });
}

describe.runIf(run)('SYN flood against the echo dataplane', () => {
  it('new connections keep working under a spoofed SYN flood (SYN cookies, counted and logged)', async () => {
    const flooder = join(dir, 'synflood');
    execFileSync('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-O2', '-o', flooder, resolve('test/fixtures/e2e/synflood.c')]);
    const cfg = writeConfig(
      dir,
      'synflood',
      `name = "synflood"\ncores = 1\nmemory = "256M"\n[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "32M"\n` +
        `[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\n`,
    );
    const dp = await startDataplane(cfg, /echo: serving/);
    try {
      const [flood, churn] = await Promise.all([
        inNs(dp, flooder, [dp.address, '7', String(FLOOD_SECS), String(FLOOD_MAX)], 60_000),
        inNs(dp, 'python3', [CLIENT, dp.address, '7', 'churn', String(FLOOD_SECS)], 120_000),
      ]);
      console.log(`flooder: ${flood.out.trim()} ${flood.err.trim()}\nclient: ${churn.out.trim()} ${churn.err.trim()}`);
      expect(flood.code, flood.err).toBe(0);
      expect(churn.code, churn.err).toBe(0);
      const f = JSON.parse(flood.out) as { sent: number; secs: number; pps: number };
      const c = JSON.parse(churn.out) as { conns: number; ok: number; failed: number; old_ok: number; errors: string[]; max_connect_s: number; conns_per_s: number };
      console.log(`SYN flood: ${f.sent} spoofed SYNs in ${f.secs} s (${f.pps} SYN/s sent); client: ${c.conns} new connections (${c.conns_per_s}/s), ${c.ok} echoed, ${c.failed} failed, slowest connect ${c.max_connect_s} s`);
      expect(f.sent).toBeGreaterThan(0);
      expect(c.errors).toEqual([]);
      expect(c.failed).toBe(0);
      expect(c.ok).toBe(c.conns);
      expect(c.old_ok).toBe(c.conns);
      expect(c.conns).toBeGreaterThan(0);
      // still serving after the flood (the half-open reserve is full of spoofed entries now)
      const after = dp.exec('python3', [CLIENT, dp.address, '7', 'tcp-many', '50']);
      expect(after.status, after.stderr).toBe(0);
      expect(JSON.parse(after.stdout)).toEqual({ conns: 50, ok: 50 });
    } finally {
      const { code, summary } = await dp.stop();
      const loud = dp.records.filter((r) => Number(r.level) >= 40);
      if (loud.length) console.log(`ix run warnings/errors:\n${loud.map((r) => JSON.stringify(r)).join('\n')}`);
      expect(code).toBe(0);
      expect(netnsExists(dp.netns)).toBe(false);
      const core = (summary!.cores as { synCookies: number; synCookieConns: number; synDrops: number; rxFrames: number }[])[0]!;
      console.log(`guest: ${core.rxFrames} frames received, ${core.synCookies} SYN cookies sent, ${core.synCookieConns} connections from cookies, ${core.synDrops} SYNs dropped`);
      expect(core.synCookies).toBeGreaterThan(0);
      expect(dp.stdout() + JSON.stringify(dp.records)).toMatch(/SYN flood on port 7/);
    }
  }, 180_000);
});
