// The kvstore dataplane over the XDP backend (root + /dev/kvm; fails under CI=true when it
// cannot run): a veth pair between two fresh namespaces, the dataplane on one end, Debian's
// libmemcached-tools on the other. With 1 core (the guest polls its AF_XDP rings itself) and
// with 2 cores (a host thread serves the rings; one store shared by both cores):
// memccapable's protocol conformance tests pass, values up to 900 KB (hundreds of frames)
// go in with memccp and come back byte for byte with memccat, and memcaslap runs for a
// bounded time with every value verified and no error. ix stop leaves nothing attached.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inCI, requireNetKvm } from './kvm-env.js';
import { appElf, ix, tempDir, writeConfig } from './ix-cli.js';
import { startDataplane } from './dataplane-proc.js';
import { createXdpLink, type XdpLink } from '../src/testing/xdp-link.js';

const tools = ['memccapable', 'memccp', 'memccat', 'memcaslap'];
const missing = tools.filter((t) => spawnSync('which', [t]).status !== 0);
if (missing.length && inCI) throw new Error(`kvstore over XDP needs libmemcached-tools (missing: ${missing.join(', ')}); ci/apt-packages.txt lists them`);
const run = requireNetKvm('kvstore over AF_XDP') && missing.length === 0;
if (!run && missing.length && !inCI) console.warn(`skipping kvstore over AF_XDP: missing ${missing.join(', ')}`);

const { dir, cleanup } = tempDir('ix-e2e-xdp-kv-');
afterAll(cleanup);

function config(name: string, cores: number, link: XdpLink): string {
  return writeConfig(
    dir,
    name,
    `name = "${name}"\ncores = ${cores}\nmemory = "512M"\n[app]\npath = "${appElf('kvstore')}"\nargs = ["port=11211"]\n` +
      `heap = "32M"\n${cores > 1 ? 'shared = "128M"\n' : ''}[nic]\nbackend = "xdp"\ninterface = "${link.ifname}"\naddress = "${link.dpAddr}/24"\n`,
  );
}

/** A command in the client's namespace; it must exit 0. */
function client(link: XdpLink, cmd: string, args: string[], timeoutMs = 90_000): string {
  const r = spawnSync('ip', ['netns', 'exec', link.client.name, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
  expect(r.status, `${cmd} ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

if (run)
  describe.each([
    [1, 'guest'],
    [2, 'host'],
  ] as const)('kvstore dataplane over AF_XDP with %i core(s) (rings: %s)', (cores, rings) => {
    it('passes memccapable, round-trips values up to 900 KB, runs memcaslap with every value verified', async () => {
      const link = createXdpLink({ queues: cores, tag: `xkv${cores}` });
      try {
        const name = `xdpkv${cores}`;
        const dp = await startDataplane(config(name, cores, link), /kvstore: memcached protocol on TCP port 11211/, undefined, link.dp.name);
        let stopped = false;
        try {
          const up = dp.records.find((r) => String(r.msg).startsWith('NIC up'))!;
          expect(up.backend).toBe('xdp');
          expect((up.xdp as { rings: string }).rings).toBe(rings);
          expect(client(link, 'memccapable', ['-a', '-h', link.dpAddr, '-p', '11211', '-t', '5'])).toMatch(/All tests passed/);
          const files = [['small.bin', 100], ['frames.bin', 64 << 10], ['big.bin', 900 << 10]] as const;
          for (const [n, size] of files) writeFileSync(join(dir, n), randomBytes(size));
          client(link, 'memccp', [`--servers=${link.dpAddr}`, ...files.map(([n]) => join(dir, n))]);
          for (const [n] of files) {
            const out = join(dir, `${n}.out`);
            client(link, 'memccat', [`--servers=${link.dpAddr}`, `--file=${out}`, n]);
            expect(readFileSync(out).equals(readFileSync(join(dir, n))), `${n} came back different`).toBe(true);
          }
          const out = client(link, 'memcaslap', ['-s', `${link.dpAddr}:11211`, '-T', '2', '-c', '16', '-t', '2s', '-v', '0.1']);
          expect(out.split('\n').filter((l) => l.startsWith('<'))).toEqual([]); // memcaslap's error lines
          const stats: Record<string, number> = {};
          for (const m of out.matchAll(/^(\w+): (\d+)$/gm)) stats[m[1]!] = Number(m[2]);
          expect(stats.cmd_get).toBeGreaterThan(0);
          expect(stats.get_misses).toBe(0);
          expect(stats.verify_failed).toBe(0);
          // the frames went through the AF_XDP queues, every one of them
          const st = ix(['stats', name, '--json']);
          expect(st.status, st.stderr).toBe(0);
          const report = JSON.parse(st.stdout) as { nicCounters: Record<string, number>[]; nic: { backend: string; counters: string } };
          expect(report.nic.backend).toBe('xdp');
          expect(report.nic.counters).toBe(rings === 'guest' ? 'guest' : 'backend');
          expect(report.nicCounters.reduce((a, q) => a + q.rx_frames!, 0)).toBeGreaterThan(1000);
          expect(report.nicCounters.every((q) => q.xdp_invalid_descs === 0)).toBe(true);
          const r = ix(['stop', name]);
          expect(r.status, r.stderr).toBe(0);
          const t0 = Date.now();
          while (dp.proc.exitCode === null && Date.now() - t0 < 15_000) await new Promise((res) => setTimeout(res, 50));
          expect(dp.proc.exitCode).toBe(0);
          stopped = true;
          expect(link.dp.ip('link', 'show', 'dev', link.ifname)).not.toMatch(/xdpgeneric|xdpdrv|prog\/xdp/);
        } finally {
          if (!stopped) dp.proc.kill('SIGKILL');
        }
      } finally {
        link.remove();
      }
    });
  });
