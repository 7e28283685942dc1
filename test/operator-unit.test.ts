// The operator's tools without a guest: rates from two samples, Prometheus text, the
// runtime-directory registry (claims, conflicts, stale entries, the lock) and the control
// socket protocol.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConflictError, Registry, RegistryError, entryAlive, processStart, type Entry } from '../src/control/registry.js';
import { ControlSocketError, request, startControlServer, startMetricsServer } from '../src/control/socket.js';
import { SampleHistory, StatsError, batchDistribution, nicPrometheus, prometheusText, rates, renderReport, type CoreCounters, type Sample } from '../src/control/stats.js';
import { renderPs } from '../src/cli/ps.js';
import { tempDir } from './ix-cli.js';
import { COUNTERS, type QueueStats } from '../src/nic/stats.js';

const { dir: root, cleanup } = tempDir('ix-operator-unit-');
afterAll(cleanup);
let seq = 0;
const freshDir = () => join(root, `d${seq++}`);

function core(cpu: number, o: Partial<CoreCounters> = {}): CoreCounters {
  return {
    cpu, rxFrames: 0, txFrames: 0, rxBytes: 0, txBytes: 0, loops: 0, rxBatches: [0, 0, 0, 0, 0, 0, 0, 0], bpolls: 0, calls: 0,
    events: 0, drops: 0, tcpConns: 0, busyCycles: 0, idleCycles: 0, halts: 0, synCookies: 0, synCookieConns: 0, synCookieBad: 0, synDrops: 0, copies: 0, mbufsUsed: 0, rstSent: 0, rstNoConn: 0, rstBadAck: 0, rstApp: 0, tcpTimeouts: 0, synCookieSuperseded: 0, nicDrops: 0, exits: 0, hypercallExits: 0, kickExits: 0, haltExits: 0, ...o,
  };
}

describe('rates from two samples', () => {
  const a: Sample = { t: 1000, cores: [core(0), core(1, { rxFrames: 100, drops: 5, nicDrops: 1, busyCycles: 10, idleCycles: 10 })] };
  const b: Sample = {
    t: 3000,
    cores: [
      core(0, { rxFrames: 2000, txFrames: 1000, rxBytes: 128000, loops: 400, rxBatches: [200, 0, 0, 100, 100, 0, 0, 0], bpolls: 50, calls: 400, events: 600, tcpConns: 7, busyCycles: 300, idleCycles: 100, exits: 90, hypercallExits: 10, kickExits: 30, haltExits: 40 }),
      core(1, { rxFrames: 100, drops: 25, nicDrops: 3, busyCycles: 10, idleCycles: 10, tcpConns: 2, synCookies: 5000 }),
    ],
  };
  const r = rates(a, b);

  it('per core per second over the interval', () => {
    expect(r.intervalS).toBe(2);
    const c0 = r.cores[0]!;
    expect(c0).toMatchObject({ cpu: 0, rxPps: 1000, txPps: 500, rxBytesPerS: 64000, loopsPerS: 200, bpollsPerS: 25, callsPerBpoll: 8, eventsPerS: 300, tcpConns: 7, dropsPerS: 0 });
    expect(c0.batchesPerS).toEqual([100, 0, 0, 50, 50, 0, 0, 0]);
    expect(c0.meanBatch).toBe(10); // 2000 frames in 200 non-empty batches
    expect(c0.idleShare).toBe(0.25);
    expect(c0).toMatchObject({ exitsPerS: 45, kickExitsPerS: 15, haltExitsPerS: 20 });
    expect([c0.synCookiesPerS, r.cores[1]!.synCookiesPerS]).toEqual([0, 2500]); // a SYN flood on core 1
  });

  it('drops add guest and NIC; a core with no trap and no cycles has no ratio', () => {
    const c1 = r.cores[1]!;
    expect(c1.dropsPerS).toBe(11); // (20 + 2) / 2 s
    expect(c1.callsPerBpoll).toBeNull();
    expect(c1.idleShare).toBeNull();
    expect(c1.meanBatch).toBeNull();
    expect(c1.tcpConns).toBe(2);
  });

  it('the total is the rate of the summed counters', () => {
    expect(r.total).toMatchObject({ rxPps: 1000, dropsPerS: 11, tcpConns: 9, callsPerBpoll: 8, idleShare: 0.25 });
  });

  it('a counter that went backwards counts from zero; samples out of order are refused', () => {
    const back = rates({ t: 0, cores: [core(0, { rxFrames: 500 })] }, { t: 1000, cores: [core(0, { rxFrames: 30 })] });
    expect(back.cores[0]!.rxPps).toBe(30);
    expect(() => rates(b, a)).toThrow(StatsError);
    expect(() => rates(a, { t: 5000, cores: [core(0)] })).toThrow(/2 and 1 cores/);
  });

  it('batch distribution as shares of non-empty batches', () => {
    expect(batchDistribution([100, 0, 0, 50, 50, 0, 0, 0])).toBe('4-7:50% 8-15:50%');
    expect(batchDistribution([100, 0, 0, 0, 0, 0, 0, 0])).toBe('-');
  });

  it('renders a table with a total row', () => {
    const text = renderReport({ name: 'dp', pid: 42, uptimeS: 12, ...r, counters: b.cores });
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('dp (pid 42, up 12 s; rates over the last 2.0 s)');
    expect(lines[1]).toMatch(/^core\s+rx pkt\/s\s+tx pkt\/s.*calls\/bpoll\s+tcp conns\s+syn cookies\/s\s+drops\/s\s+idle\s+exits\/s\s+rx batch sizes$/);
    expect(lines[2]).toMatch(/^\s+0\s+1\.0k\s+500\s+64\.0k\s+0\s+300\s+8\.0\s+7\s+0\s+0\s+25\.0%\s+45\s+4-7:50% 8-15:50%$/);
    expect(lines[4]).toMatch(/^\s*all\s+1\.0k/);
  });

  it('sample history: the newest sample at least the gap old', () => {
    const h = new SampleHistory(3);
    expect(h.base(1000)).toBeNull();
    for (const t of [0, 1000, 2000, 3000]) h.add({ t, cores: [] });
    expect(h.base(3400)!.t).toBe(2000);
    expect(h.base(3600)!.t).toBe(3000);
    expect(h.base(1500)!.t).toBe(1000); // nothing old enough: the oldest kept (0 was dropped)
  });
});

describe('Prometheus text', () => {
  it('counters and gauges per core, batch buckets, escaped labels', () => {
    const t = prometheusText('a"b', [core(0, { rxFrames: 12, tcpConns: 3, rxBatches: [5, 1, 0, 0, 0, 0, 0, 2], exits: 10, hypercallExits: 1, kickExits: 4, haltExits: 2 })]);
    expect(t).toContain('# TYPE ix_rx_frames_total counter\nix_rx_frames_total{dataplane="a\\"b",core="0"} 12\n');
    expect(t).toContain('# TYPE ix_tcp_connections gauge\nix_tcp_connections{dataplane="a\\"b",core="0"} 3\n');
    expect(t).toContain('ix_rx_batches_total{dataplane="a\\"b",core="0",size="64+"} 2\n');
    expect(t).toContain('# TYPE ix_vcpu_exits_total counter\n');
    expect(t).toContain('ix_vcpu_exits_total{dataplane="a\\"b",core="0",reason="kick"} 4\n');
    expect(t).toContain('ix_vcpu_exits_total{dataplane="a\\"b",core="0",reason="other"} 3\n'); // 10 - 1 - 4 - 2
    // every sample line is "name{labels} value"
    for (const l of t.trim().split('\n')) expect(l).toMatch(/^(# (HELP|TYPE) \S+ .+|ix_[a-z_]+\{[^}]*\} \d+)$/);
  });

  it('the NIC: its description and every per-queue counter labelled by queue, refusals by ring and kind', () => {
    const queue = (o: Partial<QueueStats>): QueueStats => ({ ...(Object.fromEntries(COUNTERS.map((c) => [c, 0])) as QueueStats), ...o });
    const qs = [queue({ rx_frames: 12, tx_kicks: 3, rx_bad_zero_len: 2 }), queue({ rx_frames: 7, rx_steered_copies: 4, xdp_rx_fill_empty: 5, tx_bad_bad_next: 1 })];
    const t = nicPrometheus('a"b', { backend: 'xdp', device: 'ixdp0', mode: 'copy', counters: 'backend' }, qs);
    const dp = 'dataplane="a\\"b"';
    expect(t).toContain(`# TYPE ix_nic_info gauge\nix_nic_info{${dp},backend="xdp",device="ixdp0",mode="copy",counters="backend"} 1\n`);
    expect(t).toContain(`# TYPE ix_nic_queue_rx_frames_total counter\nix_nic_queue_rx_frames_total{${dp},queue="0"} 12\nix_nic_queue_rx_frames_total{${dp},queue="1"} 7\n`);
    expect(t).toContain(`ix_nic_queue_rx_steered_copies_total{${dp},queue="1"} 4\n`);
    expect(t).toContain(`ix_nic_queue_tx_kicks_total{${dp},queue="0"} 3\n`);
    expect(t).toContain(`ix_nic_queue_xdp_rx_fill_empty_total{${dp},queue="1"} 5\n`);
    expect(t).toContain(`ix_nic_queue_wakeups_total{${dp},queue="1"} 0\n`);
    expect(t).toContain(`ix_nic_queue_bad_descriptors_total{${dp},queue="0",ring="rx",kind="zero_len"} 2\n`);
    expect(t).toContain(`ix_nic_queue_bad_descriptors_total{${dp},queue="1",ring="tx",kind="bad_next"} 1\n`);
    expect(t).toContain(`ix_nic_queue_bad_descriptors_total{${dp},queue="0",ring="rx",kind="in_flight"} 0\n`);
    // every counter of every queue appears exactly once, under one HELP and TYPE per metric
    const samples = t.trim().split('\n').filter((l) => !l.startsWith('#'));
    expect(samples).toHaveLength(1 + COUNTERS.length * qs.length);
    const names = samples.map((l) => l.slice(0, l.indexOf('{')));
    for (const n of new Set(names)) expect(t.split('\n').filter((l) => l.startsWith(`# TYPE ${n} `))).toHaveLength(1);
    for (const l of t.trim().split('\n')) expect(l).toMatch(/^(# (HELP|TYPE) \S+ .+|ix_[a-z_]+\{[^}]*\} \d+)$/);
    // vhost: no device; without a NIC nothing
    expect(nicPrometheus('v', { backend: 'vhost', device: null, mode: 'copy', counters: 'guest' }, [queue({})])).toContain('ix_nic_info{dataplane="v",backend="vhost",device="",mode="copy",counters="guest"} 1\n');
    expect(nicPrometheus('n', null, null)).toBe('');
  });
});

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** a live process that is not us, standing in for another dataplane's `ix run` */
async function liveOther(): Promise<number> {
  const c = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(c);
  await new Promise((r) => c.once('spawn', r));
  return c.pid!;
}

/** a pid that is certainly not running */
async function deadPid(): Promise<number> {
  const c = spawn('true', [], { stdio: 'ignore' });
  await new Promise((r) => c.once('exit', r));
  return c.pid!;
}

function fakeEntry(reg: Registry, o: Partial<Entry> & { name: string; pid: number }): Entry {
  const e: Entry = {
    pidStart: processStart(o.pid), cpus: null, cores: 1, config: '/x.toml', socket: reg.socketPath(o.name), netns: null, tap: null,
    address: null, metricsPort: null, startedAt: new Date().toISOString(), ...o,
  };
  reg.write(e);
  return e;
}

describe('registry (runtime directory)', () => {
  it('a claim writes an entry naming this process; release removes entry and socket file', () => {
    const reg = new Registry(freshDir());
    const c = reg.claim({ name: 'alpha', cpus: [0], cores: 1, config: '/a.toml' });
    expect(reg.read('alpha')).toMatchObject({ name: 'alpha', pid: process.pid, cpus: [0], socket: reg.socketPath('alpha') });
    expect(entryAlive(reg.read('alpha')!)).toBe(true);
    c.update({ netns: 'ix-alpha-1-abc', address: '10.1.0.2/24' });
    expect(reg.read('alpha')).toMatchObject({ netns: 'ix-alpha-1-abc', address: '10.1.0.2/24' });
    writeFileSync(reg.socketPath('alpha'), '');
    c.release();
    expect(readdirSync(reg.dir)).toEqual([]);
  });

  it('refuses a live dataplane\'s name, naming its pid', async () => {
    const reg = new Registry(freshDir());
    const pid = await liveOther();
    fakeEntry(reg, { name: 'beta', pid });
    const err = (() => {
      try {
        reg.claim({ name: 'beta', cpus: null, cores: 1, config: '/b.toml' });
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(ConflictError);
    expect(err!.message).toContain(`a dataplane named 'beta' is already running (pid ${pid}`);
    expect(reg.read('beta')!.pid).toBe(pid);
  });

  it('refuses an overlapping pinned CPU list; unpinned and disjoint ones are fine', async () => {
    const reg = new Registry(freshDir());
    const pid = await liveOther();
    fakeEntry(reg, { name: 'gamma', pid, cpus: [1, 2] });
    expect(() => reg.claim({ name: 'delta', cpus: [0, 2], cores: 2, config: '/d.toml' })).toThrow(`host CPU 2 is already pinned by dataplane 'gamma' (pid ${pid})`);
    expect(reg.read('delta')).toBeNull();
    reg.claim({ name: 'eps', cpus: [0, 3], cores: 2, config: '/e.toml' }).release();
    reg.claim({ name: 'zeta', cpus: null, cores: 2, config: '/z.toml' }).release();
  });

  it('a dead owner\'s entry is stale: cleaned with its socket file, and the name is free again', async () => {
    const reg = new Registry(freshDir());
    const pid = await deadPid();
    fakeEntry(reg, { name: 'eta', pid, cpus: [0] });
    writeFileSync(reg.socketPath('eta'), '');
    writeFileSync(reg.socketPath('orphan'), ''); // a socket file without an entry
    const stale: string[] = [];
    const c = reg.claim({ name: 'eta', cpus: [0], cores: 1, config: '/eta.toml' }, (s) => stale.push(`${s.name}:${s.pid}`));
    expect(stale).toEqual([`eta:${pid}`]);
    expect(reg.read('eta')!.pid).toBe(process.pid);
    expect(existsSync(reg.socketPath('orphan'))).toBe(false);
    c.release();
  });

  it('a reused pid (same number, other start time) is not the owner', async () => {
    const reg = new Registry(freshDir());
    const pid = await liveOther();
    fakeEntry(reg, { name: 'theta', pid, pidStart: (processStart(pid) ?? 0) + 12345 });
    expect(reg.live()).toEqual([]);
    expect(reg.read('theta')).toBeNull();
  });

  it('a zombie (ended, not yet reaped by its parent) is not alive', async () => {
    const c = spawn('true', [], { stdio: 'ignore' });
    await new Promise((r) => c.once('spawn', r));
    // block this thread so that the child ends but is not reaped
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    expect(existsSync(`/proc/${c.pid}`)).toBe(true);
    expect(processStart(c.pid!)).toBeNull();
    expect(entryAlive({ pid: c.pid!, pidStart: null })).toBe(false);
    await new Promise((r) => c.once('exit', r));
  });

  it('invalid names are refused; a dead holder\'s lock is broken', async () => {
    const reg = new Registry(freshDir());
    expect(() => reg.claim({ name: '../x', cpus: null, cores: 1, config: '' })).toThrow(RegistryError);
    mkdirSync(reg.dir, { recursive: true });
    writeFileSync(join(reg.dir, '.lock'), `${await deadPid()}\n`);
    reg.claim({ name: 'iota', cpus: null, cores: 1, config: '' }).release();
    expect(existsSync(join(reg.dir, '.lock'))).toBe(false);
  });
});

describe('control socket', () => {
  it('answers ops, refuses unknown ops, garbage and oversize requests', async () => {
    const path = join(freshDir() + '.sock');
    const calls: string[] = [];
    const srv = await startControlServer(path, (op) => {
      calls.push(op);
      if (op === 'metrics') throw new Error('no metrics here');
      return { op, n: 1 };
    });
    try {
      expect(await request(path, 'info')).toEqual({ op: 'info', n: 1 });
      await expect(request(path, 'metrics')).rejects.toThrow("the dataplane refused 'metrics': no metrics here");
      await expect(request(path, 'bogus' as 'info')).rejects.toThrow(/unknown op "bogus"/);
      const raw = async (payload: string) => {
        const { createConnection } = await import('node:net');
        return new Promise<string>((res) => {
          const s = createConnection(path, () => s.write(payload));
          let b = '';
          s.on('data', (d) => (b += d.toString()));
          s.on('end', () => res(b));
        });
      };
      expect(JSON.parse(await raw('not json\n'))).toEqual({ ok: false, error: 'the request is not a JSON line' });
      expect(JSON.parse(await raw('x'.repeat(5000)))).toMatchObject({ ok: false, error: 'request longer than 4096 bytes' });
      expect(calls).toEqual(['info', 'metrics']);
    } finally {
      await srv.close();
    }
    expect(existsSync(path)).toBe(false);
    const e = await request(path, 'info').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ControlSocketError);
    expect((e as ControlSocketError).code).toBe('ENOENT');
  });

  it('metrics over HTTP on 127.0.0.1 only', async () => {
    const m = await startMetricsServer(0, () => 'ix_up 1\n');
    try {
      const r = await fetch(`http://127.0.0.1:${m.port}/metrics`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      expect(await r.text()).toBe('ix_up 1\n');
      expect((await fetch(`http://127.0.0.1:${m.port}/other`)).status).toBe(404);
    } finally {
      await m.close();
    }
  });
});

describe('ix ps rendering', () => {
  it('one row per dataplane', () => {
    const text = renderPs([
      { name: 'echo', pid: 7, pidStart: 1, cpus: [0, 1], cores: 2, config: '/c/echo.toml', socket: '/s', netns: 'ix-echo-7-aaaaaa', tap: 'ixtap0', address: '10.10.0.2/24', metricsPort: null, startedAt: new Date(Date.now() - 5000).toISOString() },
    ]);
    expect(text.split('\n')[0]).toMatch(/^NAME\s+PID\s+CORES\s+CPUS\s+ADDRESS\s+NAMESPACE\s+UP\s+CONFIG$/);
    expect(text.split('\n')[1]).toMatch(/^echo\s+7\s+2\s+0,1\s+10\.10\.0\.2\/24\s+ix-echo-7-aaaaaa\s+[45]s\s+\/c\/echo\.toml$/);
  });
});
