// Two dataplanes at once: the echo app and the kvstore app, each with its own name, network
// namespace and pinned host CPU, both served by Linux clients in their namespaces at the same
// time; `ix ps` lists both while they run; both stop cleanly and leave nothing behind. The
// echo dataplane's zero-copy path keeps the stack's copy counter at 0.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, ix, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane, type RunningDataplane } from './dataplane-proc.js';

const run = requireNetKvm('end-to-end tests');

const { dir, cleanup } = tempDir('ix-e2e-two-');
afterAll(cleanup);
const ECHO_CLIENT = resolve('test/fixtures/e2e/echo_client.py');
const ECHO = `two-echo-${process.pid}`;
const KV = `two-kv-${process.pid}`;

// sets n keys through one connection and reads them back through fresh ones; prints a JSON summary
const KV_CLIENT = `
import json, socket, sys
host, n = sys.argv[1], int(sys.argv[2])
def ask(s, req, end):
    s.sendall(req); b = b""
    while not b.endswith(end):
        d = s.recv(65536)
        if not d: raise Exception("closed after %r: %r" % (req[:40], b))
        b += d
    return b
s = socket.create_connection((host, 11211), timeout=10)
stored = sum(ask(s, b"set k%d 0 0 %d\\r\\nv%d\\r\\n" % (i, len(b"v%d" % i), i), b"\\r\\n") == b"STORED\\r\\n" for i in range(n))
s.close()
ok = 0
for i in range(n):
    c = socket.create_connection((host, 11211), timeout=10)
    ok += ask(c, b"get k%d\\r\\n" % i, b"END\\r\\n") == b"VALUE k%d 0 %d\\r\\nv%d\\r\\nEND\\r\\n" % (i, len(b"v%d" % i), i)
    c.close()
print(json.dumps({"stored": stored, "fetched": ok}))
`;

function configs(): { echo: string; kv: string } {
  const echo = writeConfig(
    dir,
    'echo',
    `name = "${ECHO}"\ncores = [0]\nmemory = "256M"\n[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "16M"\n` +
      `[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\n`,
  );
  const kv = writeConfig(
    dir,
    'kv',
    `name = "${KV}"\ncores = [1]\nmemory = "512M"\n[app]\npath = "${appElf('kvstore')}"\nargs = ["port=11211"]\nshared = "64M"\nheap = "32M"\n` +
      `[nic]\nnamespace = true\naddress = "10.10.1.2/24"\ngateway = "10.10.1.1"\n`,
  );
  return { echo, kv };
}

interface PsEntry { name: string; pid: number; cores: number; cpus: number[] | null; address: string | null; netns: string | null }

/** a Python client in the dataplane's namespace, run concurrently (killed after 120 s);
 * resolves with the JSON it prints */
function client(dp: RunningDataplane, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    const p = spawn('ip', ['netns', 'exec', dp.netns, 'python3', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.once('exit', (code, sig) => {
      clearTimeout(timer);
      if (code !== 0) rej(new Error(`client ${args.slice(-3).join(' ')} in ${dp.netns} failed (${code ?? sig}): ${err}`));
      else res(JSON.parse(out) as Record<string, unknown>);
    });
  });
}

describe.runIf(run)('two dataplanes at once', () => {
  it('echo on CPU 0 and kvstore on CPU 1 serve their clients; ix ps lists both; both stop cleanly', async () => {
    const cfg = configs();
    const echo = await startDataplane(cfg.echo, /echo: serving/);
    let kv: RunningDataplane | undefined;
    let echoStop: Awaited<ReturnType<RunningDataplane['stop']>> | undefined;
    let kvStop: Awaited<ReturnType<RunningDataplane['stop']>> | undefined;
    try {
      kv = await startDataplane(cfg.kv, /kvstore: memcached protocol on TCP port 11211/);
      expect(kv.netns).not.toBe(echo.netns);

      const ps = ix(['ps', '--json']);
      expect(ps.status, ps.stderr).toBe(0);
      const live = JSON.parse(ps.stdout) as PsEntry[];
      const e = live.find((x) => x.name === ECHO);
      const k = live.find((x) => x.name === KV);
      expect(e).toMatchObject({ pid: echo.proc.pid, cores: 1, cpus: [0], address: '10.10.0.2/24', netns: echo.netns });
      expect(k).toMatchObject({ pid: kv.proc.pid, cores: 1, cpus: [1], address: '10.10.1.2/24', netns: kv.netns });

      // clients to both, at the same time (each in its own dataplane's namespace)
      const [tcp, udp, store] = await Promise.all([
        client(echo, [ECHO_CLIENT, echo.address, '7', 'tcp-many', '100']),
        client(echo, [ECHO_CLIENT, echo.address, '7', 'udp-many', '100']),
        client(kv, ['-c', KV_CLIENT, kv.address, '100']),
      ]);
      expect(tcp).toEqual({ conns: 100, ok: 100 });
      expect(udp).toEqual({ datagrams: 100, ok: 100 });
      expect(store).toEqual({ stored: 100, fetched: 100 });
    } finally {
      echoStop = await echo.stop();
      kvStop = await kv?.stop();
    }
    expect(echoStop.code).toBe(0);
    expect(kvStop?.code).toBe(0);
    expect(netnsExists(echo.netns)).toBe(false);
    expect(netnsExists(kv!.netns)).toBe(false);
    const after = JSON.parse(ix(['ps', '--json']).stdout) as PsEntry[];
    expect(after.filter((x) => x.name === ECHO || x.name === KV)).toEqual([]);
    // the echo path is zero copy both ways: it served 100 connections and 100 datagrams
    const cores = echoStop.summary!.cores as { rxFrames: number; copies: number }[];
    expect(cores[0]!.rxFrames).toBeGreaterThan(300);
    expect(cores[0]!.copies).toBe(0);
  });
});
