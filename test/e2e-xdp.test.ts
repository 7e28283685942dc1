// The echo dataplane over the XDP backend (root + /dev/kvm; fails under CI=true when it cannot
// run): a veth pair between two fresh namespaces, the dataplane on one end sharing the
// interface with Linux's own address, Linux clients on the other end. With 1 and 2 cores:
// TCP connections, UDP datagrams and a bulk echo whose SHA-256 matches; meanwhile Linux's
// address on the same interface answers ping and TCP. `ix stop`, SIGTERM and SIGKILL each
// leave no XDP program on the interface and no AF_XDP socket behind. With one core the guest
// polls the AF_XDP rings itself (xdp_rings "guest", the default there): the host's per-queue
// RX counters stay 0 while the guest's grow; the host-thread path ("host") is run too. With 2
// cores and a fixed RSS key, connections from source ports chosen by their Toeplitz hash are
// held open: each core holds exactly the connections whose flows RSS gives its queue (the
// veth's own queue choice is not ours, so the host thread copies the frames it disagrees
// with), and the Prometheus text carries the per-queue NIC counters. The bulk echo is 100 MB
// in every case (about 1 to 4 s each on the 2-CPU build machine; IX_E2E_BULK_MB changes it).
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, ix, tempDir, writeConfig } from './ix-cli.js';
import { startDataplane, type RunningDataplane } from './dataplane-proc.js';
import { createXdpLink, type XdpLink } from '../src/testing/xdp-link.js';
import { MS_RSS_KEY, RssSteering, Toeplitz, defaultReta } from '../src/nic/toeplitz.js';

const run = requireNetKvm('XDP end-to-end tests');

const { dir, cleanup } = tempDir('ix-e2e-xdp-');
afterAll(cleanup);
const CLIENT = resolve('test/fixtures/e2e/echo_client.py');
const BULK_MB = Number(process.env.IX_E2E_BULK_MB ?? 100);
const RSS_KEY = Array.from(MS_RSS_KEY, (b) => b.toString(16).padStart(2, '0')).join(':');
const RETA_SIZE = 128;

function config(name: string, cores: number, link: XdpLink, rings?: 'guest' | 'host', wake?: 'user'): string {
  return writeConfig(
    dir,
    name,
    `name = "${name}"\ncores = ${cores}\nmemory = "256M"\n${wake ? `wake = "${wake}"\n` : ''}[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "32M"\n` +
      `[nic]\nbackend = "xdp"\ninterface = "${link.ifname}"\naddress = "${link.dpAddr}/24"\nrss_key = "${RSS_KEY}"\nrss_table_size = ${RETA_SIZE}\n` +
      (rings ? `xdp_rings = "${rings}"\n` : ''),
  );
}

function inClient(link: XdpLink, cmd: string, args: string[], timeoutMs = 60_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', link.client.name, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function echo(link: XdpLink, cmd: string, arg: number): Record<string, unknown> {
  const r = inClient(link, 'python3', [CLIENT, link.dpAddr, '7', cmd, String(arg)]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const ipNum = (a: string): number => a.split('.').reduce((v, o) => v * 256 + Number(o), 0);

/** The queue (= core) RSS gives a TCP flow from the client's source port to the echo port. */
function rssQueue(link: XdpLink, cores: number, sport: number): number {
  const steer = new RssSteering({ key: MS_RSS_KEY, reta: defaultReta(cores, RETA_SIZE) }, cores);
  return steer.queueOf(new Toeplitz(MS_RSS_KEY).hashTuple(ipNum(link.clientAddr), ipNum(link.dpAddr), sport, 7));
}

/** Client source ports (from 20000 up, below Linux's ephemeral range) whose flows RSS gives
 * each queue: want[q] of them for queue q. */
function portsFor(link: XdpLink, want: number[]): { ports: number[]; perQueue: number[] } {
  const ports: number[] = [];
  const perQueue = want.map(() => 0);
  for (let p = 20000; p < 30000 && perQueue.some((n, q) => n < want[q]!); p++) {
    const q = rssQueue(link, want.length, p);
    if (perQueue[q]! < want[q]!) {
      perQueue[q]!++;
      ports.push(p);
    }
  }
  return { ports, perQueue };
}

/**
 * Hold TCP connections from the given source ports open (each echoes once) and return the
 * dataplane's per-core TCP connection gauges meanwhile.
 */
async function heldConnsPerCore(link: XdpLink, name: string, ports: number[]): Promise<number[]> {
  const conns = () => {
    const st = ix(['stats', name, '--json']);
    expect(st.status, st.stderr).toBe(0);
    return (JSON.parse(st.stdout) as { counters: { tcpConns: number }[] }).counters.map((c) => c.tcpConns);
  };
  // connections closed before (the echoes, a previous batch) finish closing first (bounded)
  for (let i = 0; i < 100 && conns().some((n) => n > 0); i++) await new Promise((r) => setTimeout(r, 100));
  const before = conns();
  expect(before.every((n) => n === 0), `TCP connections per core before the held ones: ${JSON.stringify(before)}`).toBe(true);
  const hold = spawn('ip', ['netns', 'exec', link.client.name, 'python3', CLIENT, link.dpAddr, '7', 'hold', String(ports.length), ...ports.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  hold.stdout.on('data', (d: Buffer) => (out += d.toString()));
  hold.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    for (let i = 0; i < 400 && !out.includes('"held"') && hold.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    expect(out, `the client holding ${ports.length} connections: ${err}`).toContain(`{"held": ${ports.length}}`);
    return conns();
  } finally {
    hold.stdin.end('\n');
    const t0 = Date.now();
    while (hold.exitCode === null && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    if (hold.exitCode === null) hold.kill('SIGKILL');
  }
}

/** Linux's own TCP on the shared interface: a one-shot echo listener in the dataplane's namespace. */
async function linuxTcpEcho(link: XdpLink): Promise<string> {
  const server = spawn('ip', ['netns', 'exec', link.dp.name, 'timeout', '20', 'python3', '-c',
    `import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('${link.linuxAddr}',9000));s.listen();print('up',flush=True)\nc,_=s.accept();c.sendall(c.recv(100))`], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error('Linux TCP listener did not start')), 10_000);
    server.stdout!.once('data', () => { clearTimeout(t); res(); });
  });
  const r = inClient(link, 'python3', ['-c',
    `import socket\ns=socket.create_connection(('${link.linuxAddr}',9000),timeout=5);s.sendall(b'linux-tcp');print(s.recv(100).decode())`], 15_000);
  server.kill();
  return r.stdout.trim();
}

/**
 * Can a new AF_XDP socket bind to queue q of the interface? The kernel allows one socket per
 * (device, queue): while the dataplane holds the queue this fails (EBUSY), after it is gone it
 * works. (ss --xdp needs the XDP diag module, which these hosts lack.)
 */
function queueFree(link: XdpLink, q: number): string {
  const script = `import { mapAnon, ifNametoindex } from '${resolve('dist/sys/libc.js')}';
import { openXsk, closeXsk } from '${resolve('dist/nic/xdp/xsk.js')}';
try {
  const s = openXsk({ ifindex: ifNametoindex('${link.ifname}'), ifname: '${link.ifname}', queue: ${q}, mem: { base: mapAnon(1 << 20, { shared: true }), size: 1 << 20 }, ringSize: 64 });
  closeXsk(s);
  console.log('free');
} catch (e) { console.log(e.message); }`;
  const r = spawnSync('ip', ['netns', 'exec', link.dp.name, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return (r.stdout || r.stderr).trim();
}

/** Nothing of the dataplane left on the interface: no XDP program, no AF_XDP socket on any queue. */
function expectNothingLeft(link: XdpLink, queues: number): void {
  expect(link.dp.ip('link', 'show', 'dev', link.ifname)).not.toMatch(/xdpgeneric|xdpdrv|xdpoffload|prog\/xdp/);
  for (let q = 0; q < queues; q++) expect(queueFree(link, q)).toBe('free');
}

async function waitExit(dp: RunningDataplane, ms: number): Promise<number | null> {
  const t0 = Date.now();
  while (dp.proc.exitCode === null && dp.proc.signalCode === null && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50));
  return dp.proc.exitCode;
}

describe.runIf(run).each([
  [1, undefined, 'guest', 'ix stop', undefined],
  // the kick thread wakes a halted core through the counter the vCPU worker sleeps on
  [1, 'guest', 'guest', 'SIGTERM', 'user'],
  [1, 'host', 'host', 'SIGTERM', undefined],
  [2, undefined, 'host', 'SIGTERM', undefined],
] as const)('echo dataplane over AF_XDP with %i core(s), xdp_rings %s (-> %s), stopped by %s, wake %s', (cores, asked, rings, how, wake) => {
  it(`echoes TCP, UDP and a ${BULK_MB} MB bulk transfer intact while Linux keeps its address on the same interface`, async () => {
    const link = createXdpLink({ queues: cores, tag: `xdp${cores}${rings[0]}${wake ? 'u' : ''}` });
    try {
      const name = `xdpecho${cores}${rings}${wake ?? ''}`;
      const dp = await startDataplane(config(name, cores, link, asked, wake), /echo: serving/, undefined, link.dp.name);
      let stopped = false;
      try {
        const up = dp.records.find((r) => String(r.msg).startsWith('NIC up'))!;
        expect(up.backend).toBe('xdp');
        expect(up.xdp).toEqual({ ifname: link.ifname, sockets: cores, copyMode: 'copy', xdpMode: 'generic', rings });
        expect(String(up.msg)).toMatch(rings === 'guest' ? /rings polled by the guest/ : /rings served by a host thread/);
        if (wake) expect(up.wake).toBe(wake);
        expect(link.dp.ip('link', 'show', 'dev', link.ifname)).toMatch(/xdpgeneric/);
        expect(queueFree(link, cores - 1)).toMatch(/EBUSY.*another AF_XDP socket holds queue/); // the dataplane holds its queues
        expect(echo(link, 'tcp-many', 100)).toEqual({ conns: 100, ok: 100 });
        expect(echo(link, 'udp-many', 100)).toEqual({ datagrams: 100, ok: 100 });
        const bulk = echo(link, 'bulk', BULK_MB);
        expect(bulk.received).toBe(BULK_MB << 20);
        expect(bulk.sha_match).toBe(true);
        console.log(`xdp ${cores} core(s), rings ${rings}: ${BULK_MB} MB bulk echo in ${Number(bulk.seconds).toFixed(2)} s`);
        expect(inClient(link, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', link.dpAddr]).stdout).toMatch(/3 received/);
        // Linux's own address on the shared interface still answers
        expect(inClient(link, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', link.linuxAddr]).stdout).toMatch(/3 received/);
        expect(await linuxTcpEcho(link)).toBe('linux-tcp');
        // per-queue statistics, the XDP counters among them
        const st = ix(['stats', name, '--json']);
        expect(st.status, st.stderr).toBe(0);
        const report = JSON.parse(st.stdout) as { nicCounters?: Record<string, number>[]; counters: { rxFrames: number }[]; nic: { backend: string; counters: string } };
        const nic = report.nicCounters;
        expect(nic).toHaveLength(cores);
        const guestRx = report.counters.reduce((a, c) => a + c.rxFrames, 0);
        expect(guestRx).toBeGreaterThan(1000);
        if (rings === 'guest') {
          // no host thread on the receive path: the host counts no frame of its own (the queue
          // counters carry the guest's), and it only kicked transmit
          expect(report.nic).toEqual({ backend: 'xdp', device: link.ifname, mode: 'copy', counters: 'guest' });
          expect(nic!.reduce((a, q) => a + q.rx_frames!, 0)).toBe(guestRx);
          expect(nic!.reduce((a, q) => a + q.rx_steered_copies!, 0)).toBe(0);
          expect(nic!.reduce((a, q) => a + q.tx_kicks!, 0)).toBeGreaterThan(0);
        } else {
          expect(report.nic.counters).toBe('backend');
          expect(nic!.reduce((a, q) => a + q.rx_frames!, 0)).toBeGreaterThan(1000);
        }
        expect(nic!.every((q) => q.xdp_invalid_descs === 0 && q.rx_bad_in_flight === 0)).toBe(true);
        if (cores === 2) {
          // RSS spread the connections over both queues
          for (const q of nic!) expect(q.rx_frames).toBeGreaterThan(100);
          // each flow on the queue and core RSS picks: 8 flows RSS gives queue 0 are all held
          // by core 0, then 8 it gives queue 1 all by core 1 (were the veth's own choice to
          // decide, one of them landing right by chance has odds 2^-16)
          for (const want of [[8, 0], [0, 8]]) {
            const { ports, perQueue } = portsFor(link, want);
            expect(perQueue).toEqual(want);
            expect(await heldConnsPerCore(link, name, ports), `flows from ports ${ports.join(' ')}`).toEqual(want);
          }
          // the veth's own queue choice disagreed with RSS for some flows: the host copied those frames
          const steered = (JSON.parse(ix(['stats', name, '--json']).stdout) as { nicCounters: Record<string, number>[] }).nicCounters;
          expect(steered.reduce((a, q) => a + q.rx_steered_copies!, 0)).toBeGreaterThan(0);
        }
        // the per-queue NIC counters in the Prometheus text
        const prom = ix(['stats', name, '--prometheus']);
        expect(prom.status, prom.stderr).toBe(0);
        for (let q = 0; q < cores; q++) {
          const m = new RegExp(`^ix_nic_queue_rx_frames_total\\{dataplane="${name}",queue="${q}"\\} (\\d+)$`, 'm').exec(prom.stdout);
          expect(Number(m?.[1]), `queue ${q} in:\n${prom.stdout}`).toBeGreaterThanOrEqual(nic![q]!.rx_frames!);
        }
        expect(prom.stdout).toContain(`ix_nic_info{dataplane="${name}",backend="xdp",device="${link.ifname}",mode="copy",counters="${report.nic.counters}"} 1`);
        if (how === 'ix stop') {
          const r = ix(['stop', name]);
          expect(r.status, r.stderr).toBe(0);
        } else dp.proc.kill('SIGTERM');
        expect(await waitExit(dp, 15_000)).toBe(0);
        stopped = true;
        expectNothingLeft(link, cores);
      } finally {
        if (!stopped) dp.proc.kill('SIGKILL');
      }
    } finally {
      link.remove();
    }
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(link.dp.name);
  });
});

describe.runIf(run)('SIGKILL of an XDP dataplane', () => {
  it('leaves no XDP program and no AF_XDP socket: the kernel closes the BPF link with the process', async () => {
    const link = createXdpLink({ queues: 1, tag: 'xdpk' });
    try {
      const dp = await startDataplane(config('xdpkill', 1, link), /echo: serving/, undefined, link.dp.name);
      expect(link.dp.ip('link', 'show', 'dev', link.ifname)).toMatch(/xdpgeneric/);
      expect(echo(link, 'tcp-many', 10)).toEqual({ conns: 10, ok: 10 });
      dp.proc.kill('SIGKILL');
      await waitExit(dp, 10_000);
      expect(dp.proc.signalCode).toBe('SIGKILL');
      // the link is released when the last fd goes; give the kernel a moment (bounded)
      for (let i = 0; i < 50 && /xdpgeneric/.test(link.dp.ip('link', 'show', 'dev', link.ifname)); i++) await new Promise((r) => setTimeout(r, 100));
      expectNothingLeft(link, 1);
      // the interface is Linux's again: its address answers, the dataplane's does not
      expect(inClient(link, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', link.linuxAddr]).stdout).toMatch(/2 received/);
    } finally {
      link.remove();
    }
  });
});

describe.runIf(run)('an interface the XDP backend cannot use', () => {
  it('is refused with what to fix (too few queues, no such interface), and nothing is left attached', () => {
    const link = createXdpLink({ queues: 1, tag: 'xdpr' });
    try {
      const run2 = (name: string, body: string) =>
        spawnSync('ip', ['netns', 'exec', link.dp.name, process.execPath, resolve('bin/ix.js'), 'run', writeConfig(dir, name, body)], { encoding: 'utf8', timeout: 60_000 });
      const few = run2('xdpfew', `name = "xdpfew"\ncores = 2\n[app]\npath = "${appElf('echo')}"\n[nic]\ninterface = "${link.ifname}"\naddress = "${link.dpAddr}/24"\n`);
      expect(few.status).not.toBe(0);
      expect(few.stderr).toMatch(/ixdp0 has 1 receive queue\(s\) but the dataplane 2 cores/);
      const none = run2('xdpnone', `name = "xdpnone"\n[app]\npath = "${appElf('echo')}"\n[nic]\ninterface = "nosuch0"\naddress = "${link.dpAddr}/24"\n`);
      expect(none.status).not.toBe(0);
      expect(none.stderr).toMatch(/interface nosuch0 not found in this network namespace/);
      expectNothingLeft(link, 1);
    } finally {
      link.remove();
    }
  });
});

describe.runIf(run)('ix check', () => {
  it('reports AF_XDP support and the NIC backend a config picks', () => {
    const link = createXdpLink({ queues: 1, tag: 'xdpc' });
    try {
      const cfg = writeConfig(dir, 'xdpcheck', `name = "xdpcheck"\n[app]\npath = "${appElf('echo')}"\n[nic]\ninterface = "${link.ifname}"\naddress = "${link.dpAddr}/24"\n`);
      const r = ix(['check', cfg, '--json']);
      const rep = JSON.parse(r.stdout) as { checks: { id: string; status: string; detail: string }[] };
      const x = rep.checks.find((c) => c.id === 'xdp');
      expect(x?.status).toBe('ok');
      const c = rep.checks.find((c) => c.id === 'config');
      expect(c?.detail).toMatch(/NIC backend xdp \(auto: interface = "ixdp0"/);
    } finally {
      link.remove();
    }
  });
});
