// `ix scale` on a running kvstore dataplane (issue 12, docs/scale.md "What the kvstore needs
// for a move"): the kvstore with [cores] min = 1, max = 2 and one store in the shared region,
// in its own namespace. A client keeps connections busy with memcached-protocol requests
// (sets of its own keys with values of up to 6000 bytes, gets of them back, gets of keys
// other connections wrote; a third of the requests sent in two parts so that the server
// often holds half a command when a group moves) while `ix scale` takes the dataplane
// 1 -> 2 -> 1 several times. Every reply must be right, no connection reset or stalled, all
// close cleanly, and `ix stats` shows every change and the connections moved.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane } from './dataplane-proc.js';
import { scaleJson, stats as statsOf, stopBounded as stop } from './dataplane-scale.js';
import type { StatsReport } from '../src/control/stats.js';

const run = requireNetKvm('kvstore elastic-cores test');

const { dir, cleanup } = tempDir('ix-kvscale-');
afterAll(cleanup);
const CLIENT = resolve('test/fixtures/e2e/kvscale_client.py');
const NAME = `kvscale${process.pid % 100000}`;
const READY = /kvstore: memcached protocol on TCP port 11211/;
const ROUNDS = 4;
/** busy connections (IX_E2E_KVSCALE_CONNS changes it) */
const CONNS = Number(process.env.IX_E2E_KVSCALE_CONNS ?? 128);

function config(): string {
  return writeConfig(
    dir,
    NAME,
    `name = "${NAME}"\nmemory = "512M"\n[cores]\nmin = 1\nmax = 2\n[app]\npath = "${appElf('kvstore')}"\n` +
      `args = ["port=11211"]\nshared = "64M"\nheap = "32M"\nports = [11211]\n` +
      `[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\n`,
  );
}

const stats = (): StatsReport => statsOf(NAME);

describe.runIf(run)('elastic cores: ix scale on a running kvstore dataplane', () => {
  it(`keeps ${CONNS} memcached connections busy with checked sets and gets while scaling 1 -> 2 -> 1 ${ROUNDS} times`, async () => {
    const dp = await startDataplane(config(), READY);
    const client = spawn('ip', ['netns', 'exec', dp.netns, 'python3', CLIENT, dp.address, '11211', String(CONNS)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    client.stdout.on('data', (d: Buffer) => (out += d.toString()));
    client.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<number | null>((res) => client.once('exit', (c) => res(c)));
    const moves: Record<string, number>[] = [];
    let clientCode: number | null | string = null;
    let dpEnd: number | null = null;
    let before: StatsReport | null = null;
    let after: StatsReport | null = null;
    try {
      for (let i = 0; i < 600 && !out.includes('"busy"') && client.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
      expect(out, err).toContain(`{"busy": ${CONNS}}`);
      before = stats();
      expect(before.elastic).toMatchObject({ minCores: 1, maxCores: 2, activeCores: 1, groupsPerCore: [128, 0], scaleOps: 0 });
      for (let round = 0; round < ROUNDS; round++) {
        for (const n of [2, 1]) {
          const ev = await scaleJson(dp, NAME, n);
          expect(ev).toMatchObject({ from: 3 - n, to: n, groupsMoved: 64, connsFailed: 0 });
          moves.push(ev);
          // requests go on between the changes, on both cores at 2
          const a = stats().counters.map((c) => c.rxFrames);
          await new Promise((res) => setTimeout(res, 500));
          const b = stats().counters.map((c) => c.rxFrames);
          expect(b[0]! - a[0]!, `core 0 at ${n} core(s); client: ${out} ${err.slice(-2000)}`).toBeGreaterThan(0);
          if (n === 2) expect(b[1]! - a[1]!, `core 1 at 2 cores; client: ${out} ${err.slice(-2000)}`).toBeGreaterThan(0);
        }
      }
      after = stats();
    } finally {
      // no assertion here: it would hide the one that brought us here
      client.stdin.end('stop\n');
      const code = await Promise.race([done, new Promise<string>((r) => setTimeout(() => r('timeout'), 90_000))]);
      if (code === 'timeout') client.kill('SIGKILL');
      clientCode = code;
      dpEnd = await stop(dp);
    }
    expect(dpEnd).toBe(0);
    expect(netnsExists(dp.netns)).toBe(false);
    expect(clientCode, err).toBe(0);
    const res = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
    // every reply right, no connection reset or stalled, all closed cleanly
    expect(res).toMatchObject({ conns: CONNS, bad: 0, dead: 0, stalled: 0, clean: CONNS });
    expect(res.min_ops as number).toBeGreaterThan(0);
    expect(res.cross as number).toBeGreaterThan(0); // values written through other connections were read
    // `ix stats` shows every change and the connections that moved with their groups
    const el = after!.elastic!;
    expect(el).toMatchObject({ activeCores: 1, groupsPerCore: [128, 0], scaleOps: 2 * ROUNDS, groupsMoved: 2 * ROUNDS * 64 });
    expect(el.events.map((e) => [e.from, e.to])).toEqual(moves.map((m) => [m.from, m.to]));
    const conns = moves.reduce((s, m) => s + m.connsMoved!, 0);
    expect(el.connsMoved).toBe(conns);
    expect(conns).toBeGreaterThan(CONNS * ROUNDS * 0.5); // about half of them each way, each time
    console.log(`kvscale: ${CONNS} busy connections, ${moves.length} scale operations, ${conns} connection moves, ` +
      `${String(res.ops)} checked requests (${String(res.cross)} reads of other connections' keys); ` +
      `per operation ms: ${moves.map((m) => m.ms!.toFixed(0)).join(' ')}`);
  }, 180_000);
});
