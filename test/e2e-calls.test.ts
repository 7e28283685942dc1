// The batched calls from ring 3, end to end (guest/apps/calls.c on 2 cores): app timers (arm,
// fire, cancel, a stale cancel, re-arm), `connect` to a Linux server in the dataplane's
// namespace with every reply arriving on the connecting core (the source port the guest chose
// is checked against the Toeplitz hash of the fixed RSS key in the config), `udp_sendv` of
// three slices, `reject` of a knocked connection, and the stack's copy counter: each core
// sends its lines as 32 slices, more than a frame references, so it copies them and counts it.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane, type RunningDataplane } from './dataplane-proc.js';
import { MS_RSS_KEY, RssSteering, Toeplitz, defaultReta } from '../src/nic/toeplitz.js';

const run = requireNetKvm('end-to-end tests');

const { dir, cleanup } = tempDir('ix-e2e-calls-');
afterAll(cleanup);
const SERVER = resolve('test/fixtures/e2e/calls_server.py');
const LINUX = '10.10.0.1';
const GUEST = '10.10.0.2';
const PORT = 7000;
const REJECT_PORT = 7001;
const CONNS = 4; // per core (calls.c CONNS)
const MSG_LEN = 128;
const RETA_SIZE = 128;

const ip = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
/** the queue (= core) the NIC backend steers a frame from the Linux server to the guest to */
function queueOf(guestPort: number): number {
  const steer = new RssSteering({ key: MS_RSS_KEY, reta: defaultReta(2, RETA_SIZE) }, 2);
  return steer.queueOf(new Toeplitz(MS_RSS_KEY).hashTuple(ip(LINUX), ip(GUEST), PORT, guestPort));
}

function config(): string {
  const key = Array.from(MS_RSS_KEY, (b) => b.toString(16).padStart(2, '0')).join(':');
  return writeConfig(
    dir,
    'calls',
    `name = "calls"\ncores = 2\nmemory = "128M"\n[app]\npath = "${appElf('calls')}"\n` +
      `args = ["${LINUX}", "${PORT}", "${REJECT_PORT}"]\n` +
      `[nic]\nnamespace = true\naddress = "${GUEST}/24"\ngateway = "${LINUX}"\nrss_key = "${key}"\nrss_table_size = ${RETA_SIZE}\n`,
  );
}

async function until(what: string, ok: () => boolean, dp: RunningDataplane, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not seen in ${ms} ms; app output:\n${dp.stdout()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** the app's lines as [core that logged it (the console prefix), text after "calls: core N "] */
function appLines(out: string): { core: number; text: string }[] {
  const lines: { core: number; text: string }[] = [];
  for (const l of out.split('\n')) {
    const m = /^\[calls core (\d+)\] calls: core (\d+) (.*)$/.exec(l);
    if (!m) continue;
    expect(m[2], `a line logged by core ${m[1]} that says core ${m[2]}: ${l}`).toBe(m[1]);
    lines.push({ core: Number(m[1]), text: m[3]! });
  }
  return lines;
}

describe.runIf(run)('batched calls from ring 3 on 2 cores', () => {
  it('timers, connect with RSS-steered replies, udp_sendv, reject; copies counted where forced', async () => {
    const dp = await startDataplane(config(), /calls: core 0 ready[\s\S]*calls: core 1 ready|calls: core 1 ready[\s\S]*calls: core 0 ready/);
    let server: ChildProcess | undefined;
    const served: { tcp?: { port: number; line: string }; udp?: { port: number; data: string } }[] = [];
    let stopped: Awaited<ReturnType<RunningDataplane['stop']>> | undefined;
    try {
      // the Linux server starts after the dataplane (its namespace is made by `ix run`): the
      // app's connects are refused and retried until it listens
      server = spawn('ip', ['netns', 'exec', dp.netns, 'python3', SERVER, LINUX, String(PORT), '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let listening = false;
      createInterface({ input: server.stdout! }).on('line', (l) => {
        if (l === 'listening') listening = true;
        else served.push(JSON.parse(l) as (typeof served)[number]);
      });
      await until('the Linux server listening', () => listening, dp, 10_000);
      await until('both cores done', () => /calls: core 0 done/.test(dp.stdout()) && /calls: core 1 done/.test(dp.stdout()), dp, 30_000);

      // reject: Linux completes the handshake, then the app's reject resets the connection
      // (ECONNRESET, at connect or at the first read; a port without a listener would give
      // ECONNREFUSED instead)
      const r = dp.exec('python3', ['-c', [
        'import json, socket',
        's = socket.socket()',
        's.settimeout(5)',
        's.bind(("", 0))',
        'port = s.getsockname()[1]',
        'try:',
        `    s.connect(("${GUEST}", ${REJECT_PORT}))`,
        '    out = "data" if s.recv(100) else "eof"',
        'except ConnectionResetError:',
        '    out = "reset"',
        'except ConnectionRefusedError:',
        '    out = "refused"',
        'except socket.timeout:',
        '    out = "timeout"',
        'print(json.dumps({"port": port, "outcome": out}))',
      ].join('\n')], 20_000);
      expect(r.status, r.stderr).toBe(0);
      const rejected = JSON.parse(r.stdout) as { port: number; outcome: string };
      expect(rejected.outcome).toBe('reset');
      await until('the knock rejected', () => dp.stdout().includes(`rejected a knock on port ${REJECT_PORT} from port ${rejected.port}: 0`), dp, 5_000);
    } finally {
      server?.kill('SIGTERM');
      stopped = await dp.stop();
    }
    expect(stopped.code).toBe(0);
    expect(netnsExists(dp.netns)).toBe(false);

    const lines = appLines(dp.stdout());
    console.log(dp.stdout());
    expect(lines.filter((l) => l.text.startsWith('FAILED'))).toEqual([]);
    const copies = (stopped.summary!.cores as { cpu: number; copies: number }[]).map((c) => c.copies);
    for (const core of [0, 1]) {
      const mine = lines.filter((l) => l.core === core).map((l) => l.text);
      // timers: 1 fired, was re-armed and fired again; 2 was cancelled (a second cancel of its
      // handle is refused, as is a cancel of 1's fired handle); 3 fired last
      expect(mine).toContain('timer re-armed: new handle differs, cancel of the fired one -> -3');
      expect(mine).toContain('timers fired 1,1,3; cancel -> 0, cancel again -> -3');
      // connect: every reply came back to this core, and the server saw a source port that
      // the RSS hash of the reply's 4-tuple maps to this core's queue
      const ports: number[] = [];
      for (let i = 0; i < CONNS; i++) {
        const re = new RegExp(`^conn ${i} connected after \\d+ attempt\\(s\\), source port (\\d+), reply matches: core ${core} conn ${i} [a-z]+$`);
        const hit = mine.map((t) => re.exec(t)).find((m) => m);
        expect(hit, `core ${core} conn ${i}:\n${mine.join('\n')}`).toBeTruthy();
        const p = Number(hit![1]);
        ports.push(p);
        expect(queueOf(p), `core ${core} conn ${i} source port ${p}`).toBe(core);
        const s = served.find((x) => x.tcp?.port === p);
        expect(s?.tcp?.line).toMatch(new RegExp(`^core ${core} conn ${i} [a-z]{${MSG_LEN - 1 - `core ${core} conn ${i} `.length}}\\n$`));
      }
      // udp_sendv: three slices arrive as one datagram from the first connection's port and
      // the echo is steered back to this core
      const udpLine = new RegExp(`^udp echo matches from port ${PORT} to port ${ports[0]} after \\d+ send\\(s\\): \\d+ bytes$`);
      expect(mine.some((t) => udpLine.test(t)), mine.join('\n')).toBe(true);
      expect(served.filter((x) => x.udp?.port === ports[0]).map((x) => x.udp!.data)).toContain(`udp from core ${core}|three slices, one datagram|end`);
      expect(mine).toContain('done');
      // the forced copy: at least every line sent once (retransmissions copy again)
      expect(copies[core]).toBeGreaterThanOrEqual(CONNS * MSG_LEN);
    }
  });
});
