// kvstore output backpressure end to end: clients pipeline gets of large values while
// reading slowly through a small receive buffer. A connection whose replies cannot leave
// stops consuming its input (the TCP window closes on the client) and resumes as the
// client reads: every reply arrives, byte for byte, and no connection is closed
// (docs/kvstore.md, "Flow control"). The client is test/fixtures/kvstore/slow_pipeline.py.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireKvm, inCI } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane, type RunningDataplane } from './dataplane-proc.js';
import { netnsUnavailable } from '../src/nic/netns.js';

const why = netnsUnavailable();
if (why && inCI) throw new Error(`kvstore backpressure tests need network namespaces: ${why}`);
const run = requireKvm() && !why;

const CLIENT = resolve('test/fixtures/kvstore/slow_pipeline.py');
const { dir, cleanup } = tempDir('ix-kvbp-');
let dp: RunningDataplane | undefined;

interface Result { conns: number; replies: number; want: number; closed: number; bad: string[]; seconds: number }

function pipeline(args: string[], timeoutMs = 120_000): Result {
  const r = dp!.exec('python3', [CLIENT, dp!.address, '11211', ...args], timeoutMs);
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  const res = JSON.parse(r.stdout) as Result;
  expect(res.bad, r.stdout).toEqual([]);
  expect(res.closed, r.stdout).toBe(0);
  expect(res.replies, r.stdout).toBe(res.want);
  return res;
}

describe.runIf(run)('kvstore output backpressure', () => {
  beforeAll(async () => {
    const cfg = writeConfig(
      dir,
      'kvbp',
      `name = "kvbp-${process.pid}"\ncores = 1\nmemory = "256M"\n[app]\npath = "${appElf('kvstore')}"\n` +
        `args = ["port=11211", "conns=300"]\nheap = "64M"\n[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\n`,
    );
    dp = await startDataplane(cfg, /kvstore: memcached protocol on TCP port 11211/);
  }, 60_000);
  afterAll(async () => {
    if (dp) {
      const { code } = await dp.stop();
      expect(code).toBe(0);
      expect(netnsExists(dp.netns)).toBe(false);
    }
    cleanup();
  });

  it('1 connection: 600 pipelined gets of 100 KB, 0.5 ms apart, small receive buffer', () => {
    pipeline(['1', '600', '100000', '--gap-ms', '0.5', '--rcvbuf', '16384']);
  }, 120_000);

  it('1 connection: 2000 gets of 10 KB in flight, 4 KB receive buffer', () => {
    pipeline(['1', '2000', '10000', '--gap-ms', '0', '--rcvbuf', '4096', '--read', '8192']);
  }, 120_000);

  it('16 connections: 100 pipelined gets of 100 KB each', () => {
    pipeline(['16', '100', '100000', '--rcvbuf', '4096']);
  }, 120_000);

  it('256 connections: 8 pipelined gets of 100 KB each', () => {
    pipeline(['256', '8', '100000', '--rcvbuf', '4096']);
  }, 120_000);
});
