// The operator's story with real dataplanes: `ix run` status lines and its control socket,
// `ix ps`, `ix stats` (table, --json, --prometheus, --metrics-port), `ix stop`, refusal of a
// second dataplane with the same name or a pinned CPU, and nothing left behind after each
// way a run can end: `ix stop`, SIGTERM, SIGKILL (cleaned by the next `ix ps` / `ix run`),
// every app faulting, and a bad config.
//
// Every `ix` here uses a private runtime directory (IX_RUN_DIR) and runs in its own process
// group, so "no child process left" is checkable; every NIC lives in a namespace `ix run`
// creates; the test's own traffic is sent only from inside that namespace.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { requireKvm, inCI } from './kvm-env.js';
import { netnsUnavailable, removeStaleNamespaces } from './net-ns.js';
import { IX, appElf, tempDir, writeConfig } from './ix-cli.js';

const netWhy = netnsUnavailable();
if (netWhy && inCI) throw new Error(`network namespaces are needed and CI=true: ${netWhy}`);
if (netWhy) console.warn(`skipping the operator lifecycle tests: ${netWhy}`);
const run = requireKvm() && !netWhy;

const { dir, cleanup } = tempDir('ix-operator-');
const runDir = join(dir, 'run');
const env = { ...process.env, IX_RUN_DIR: runDir, NO_COLOR: '1' };
const tag = randomBytes(2).toString('hex');

type Rec = Record<string, unknown>;

class IxRun {
  readonly proc: ChildProcess;
  out = '';
  records: Rec[] = [];
  private errBuf = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[]) {
    // detached: its own process group, so that its children can be found after it ends
    this.proc = spawn(process.execPath, [IX, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.errBuf += d.toString();
      let nl;
      while ((nl = this.errBuf.indexOf('\n')) >= 0) {
        const line = this.errBuf.slice(0, nl);
        this.errBuf = this.errBuf.slice(nl + 1);
        this.records.push(line.startsWith('{') ? (JSON.parse(line) as Rec) : { msg: line, raw: true });
      }
    });
    this.exited = new Promise((res) => this.proc.once('exit', (code, signal) => setTimeout(() => res({ code, signal }), 20)));
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  find(re: RegExp): Rec | undefined {
    return this.records.find((r) => re.test(String(r.msg)));
  }

  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<Rec> {
    const t0 = Date.now();
    for (;;) {
      const r = this.find(re);
      if (r) return r;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null || Date.now() - t0 > timeoutMs)
        throw new Error(`no log line matching ${re} (exit ${this.proc.exitCode}):\n${this.records.map((x) => JSON.stringify(x)).join('\n')}\n${this.out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const running = new Set<IxRun>();
afterAll(async () => {
  for (const r of running) {
    try {
      process.kill(-r.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await Promise.all([...running].map((r) => r.exited));
  removeStaleNamespaces();
  cleanup();
});

function ix(args: string[], timeoutMs = 30_000) {
  const r = spawnSync(process.execPath, [IX, ...args], { encoding: 'utf8', timeout: timeoutMs, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, pid: r.pid };
}

const netnsList = (): string[] => (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);

/** processes whose process group is `pgid` */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const s = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid) out.push(Number(p));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** After a run has ended: no entry, no socket file, no namespace of its pid, no process. */
function expectNothingLeft(name: string, pid: number): void {
  const files = existsSync(runDir) ? readdirSync(runDir) : [];
  expect(files.filter((f) => f.startsWith(`${name}.`)), `runtime files of ${name}`).toEqual([]);
  expect(netnsList().filter((n) => n.includes(`-${pid}-`)), `namespaces of pid ${pid}`).toEqual([]);
  expect(groupMembers(pid), `processes of the group of pid ${pid}`).toEqual([]);
}

function echoConfig(name: string, o: { cores?: number | number[]; args?: string[]; app?: string; nic?: string } = {}): string {
  return writeConfig(
    dir,
    name,
    `name = "${name}"\ncores = ${JSON.stringify(o.cores ?? 1)}\nmemory = "128M"\n[app]\npath = "${appElf(o.app ?? 'echo')}"\n` +
      `args = ${JSON.stringify(o.args ?? ['7'])}\nheap = "8M"\n[nic]\nnamespace = true\naddress = "10.77.0.2/24"\n${o.nic ?? ''}`,
  );
}

/** UDP datagrams to the echo app from inside its namespace; returns how many came back. */
function udpEcho(netns: string, count: number): number {
  const py = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.0)
got = 0
for i in range(${count}):
    s.sendto(b"ping %d" % i, ("10.77.0.2", 7))
    try:
        d, _ = s.recvfrom(2048); got += d == b"ping %d" % i
    except socket.timeout:
        pass
print(got)
`;
  const r = spawnSync('ip', ['netns', 'exec', netns, 'python3', '-c', py], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`udp client failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

describe.runIf(run)('ix run / ps / stats / stop', () => {
  const name = `op-${tag}`;
  let dp: IxRun;
  let netns = '';

  it('status lines through "ready"; listed by ix ps', async () => {
    dp = new IxRun(['run', echoConfig(name, { cores: [0] }), '--metrics-port', '0']);
    const ready = await dp.waitFor(/^ready: /);
    const msgs = dp.records.map((r) => String(r.msg));
    const order = [/^config ok$/, /^Prometheus metrics on/, /^memory, kernel and app loaded$/, /^NIC up: 10\.77\.0\.2 on \S+ in namespace ix-/, /^1 cores started$/, /^ready: /];
    const idx = order.map((re) => msgs.findIndex((m) => re.test(m)));
    expect(idx.every((v, i) => v >= 0 && (i === 0 || v > idx[i - 1]!)), msgs.join('\n')).toBe(true);
    expect(ready.socket).toBe(join(runDir, `${name}.sock`));
    netns = String(dp.find(/^NIC up/)!.netns);
    expect(netnsList()).toContain(netns);
    expect(dp.find(/^NIC up/)!.backendSpinUs).toBe(20); // the default, as the backend worker reported it
    expect(dp.find(/^NIC up/)!.kicksInKernel).toBe(true); // KVM_IOEVENTFD on the notify port

    const ps = ix(['ps', '--json']);
    expect(ps.status, ps.stderr).toBe(0);
    const entries = JSON.parse(ps.stdout) as Rec[];
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ name, pid: dp.pid, cpus: [0], cores: 1, netns, address: '10.77.0.2/24', socket: join(runDir, `${name}.sock`) });
    const text = ix(['ps']);
    expect(text.stdout.split('\n')[1]).toMatch(new RegExp(`^${name}\\s+${dp.pid}\\s+1\\s+0\\s+10\\.77\\.0\\.2/24\\s+${netns}\\s`));
  });

  it('ix stats shows the traffic sent from the namespace (json, table, prometheus, metrics port)', async () => {
    expect(udpEcho(netns, 40)).toBeGreaterThanOrEqual(38);
    // traffic during the sampled second too, so that rates are non-zero
    const ping = spawn('ip', ['netns', 'exec', netns, 'ping', '-q', '-i', '0.01', '-c', '200', '10.77.0.2'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1500));
    const s = ix(['stats', name, '--json']);
    ping.kill('SIGKILL');
    expect(s.status, s.stderr).toBe(0);
    const r = JSON.parse(s.stdout) as { name: string; pid: number; intervalS: number; cores: Rec[]; total: Rec; counters: Rec[]; nicQueues: Rec[]; nic: Rec };
    expect(r).toMatchObject({ name, pid: dp.pid });
    // the NIC: the TAP backend, which counts its own frames (~100 pings/s through queue 0)
    expect(r.nic).toEqual({ backend: 'tap', device: expect.any(String), mode: 'copy', counters: 'backend' });
    expect(Number(r.nicQueues[0]!.rxFramesPerS)).toBeGreaterThan(10);
    expect(r.intervalS).toBeGreaterThan(0.4);
    expect(r.intervalS).toBeLessThan(3);
    const c = r.counters[0]!;
    // 40 datagrams in and out, plus ARP and the pings
    expect(Number(c.rxFrames)).toBeGreaterThanOrEqual(40);
    expect(Number(c.txFrames)).toBeGreaterThanOrEqual(40);
    expect(Number(c.events)).toBeGreaterThanOrEqual(38);
    expect(Number(c.bpolls)).toBeGreaterThan(0);
    expect(Number(c.calls)).toBeGreaterThan(0);
    expect(Number(r.cores[0]!.rxPps)).toBeGreaterThan(10); // ~100 pings/s
    expect(Number(r.cores[0]!.txPps)).toBeGreaterThan(10);
    expect(r.cores[0]!.tcpConns).toBe(0);
    // the core halts between pings (10 ms apart, idle poll 100 us); on the user-space wake
    // path each halt is an exit, on the in-kernel one (docs/wake.md) none is
    expect(Number(c.halts)).toBeGreaterThan(0);
    if (dp.find(/^NIC up/)!.wake === 'kernel') expect(Number(c.haltExits)).toBe(0);
    else {
      expect(Number(c.haltExits)).toBeGreaterThan(0);
      expect(Number(r.cores[0]!.exitsPerS)).toBeGreaterThan(0);
    }
    expect(Number(c.exits)).toBeGreaterThanOrEqual(Number(c.hypercallExits) + Number(c.kickExits) + Number(c.haltExits));

    const t = ix(['stats']); // the only dataplane: no name needed
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(new RegExp(`^${name} \\(pid ${dp.pid}, up \\d+ s; rates over the last \\d\\.\\d s\\)\\ncore +rx pkt/s`));
    expect(t.stdout).toMatch(/\n\nNIC queues: backend tap on \S+, copy mode; counted by the backend\nqueue +rx pkt\/s +tx pkt\/s.*\n +0 /);

    // an open TCP connection shows in the gauge
    const tcp = spawn('ip', ['netns', 'exec', netns, 'python3', '-c', "import socket,time\ns=socket.create_connection(('10.77.0.2',7))\ns.sendall(b'x'); s.recv(1)\nprint('up', flush=True)\ntime.sleep(10)"], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error('no TCP connection to the echo app within 10 s')), 10_000);
        tcp.stdout!.on('data', () => (clearTimeout(t), res()));
      });
      const g = JSON.parse(ix(['stats', name, '--json']).stdout) as { total: { tcpConns: number } };
      expect(g.total.tcpConns).toBe(1);
    } finally {
      tcp.kill('SIGKILL');
    }

    const w = ix(['stats', name, '--json', '--watch', '--count', '2']);
    expect(w.status, w.stderr).toBe(0);
    const reports = w.stdout.trim().split('\n').map((l) => JSON.parse(l) as { uptimeS: number });
    expect(reports).toHaveLength(2);
    expect(reports[1]!.uptimeS - reports[0]!.uptimeS).toBeGreaterThan(0.9);

    const p = ix(['stats', name, '--prometheus']);
    expect(p.status, p.stderr).toBe(0);
    const rx = new RegExp(`^ix_rx_frames_total\\{dataplane="${name}",core="0"\\} (\\d+)$`, 'm').exec(p.stdout);
    expect(Number(rx?.[1])).toBeGreaterThanOrEqual(Number(c.rxFrames));
    // the NIC's per-queue counters, labelled by queue, and which backend counted them
    const q0 = new RegExp(`^ix_nic_queue_rx_frames_total\\{dataplane="${name}",queue="0"\\} (\\d+)$`, 'm').exec(p.stdout);
    expect(Number(q0?.[1])).toBeGreaterThanOrEqual(40);
    expect(p.stdout).toMatch(new RegExp(`^ix_nic_queue_wakeups_total\\{dataplane="${name}",queue="0"\\} \\d+$`, 'm'));
    expect(p.stdout).toContain(`ix_nic_info{dataplane="${name}",backend="tap",device="${String(r.nic.device)}",mode="copy",counters="backend"} 1\n`);

    const port = Number(dp.find(/^Prometheus metrics on/)!.port);
    const h = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(h.status).toBe(200);
    const body = await h.text();
    expect(body).toMatch(new RegExp(`^ix_events_total\\{dataplane="${name}",core="0"\\} \\d+$`, 'm'));
    expect(body).toMatch(new RegExp(`^ix_nic_queue_rx_frames_total\\{dataplane="${name}",queue="0"\\} \\d+$`, 'm'));
  });

  it('the echo app (ixev) answers a request with one ix_bpoll trap, not one that sends and one that waits', () => {
    type Counters = { counters: { bpolls: number; events: number }[] };
    const before = JSON.parse(ix(['stats', name, '--json']).stdout) as Counters;
    // 300 requests in a row on one connection, each answered before the next is sent
    const py = "import socket\ns=socket.create_connection(('10.77.0.2',7))\nfor i in range(300):\n    m=b'%06d' % i\n    s.sendall(m)\n    got=b''\n    while len(got)<6: got+=s.recv(6-len(got))\n    assert got==m, (got, m)\ns.close()\nprint('ok')";
    const r = spawnSync('ip', ['netns', 'exec', netns, 'python3', '-c', py], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stdout.trim(), r.stderr).toBe('ok');
    const after = JSON.parse(ix(['stats', name, '--json']).stdout) as Counters;
    const traps = after.counters[0]!.bpolls - before.counters[0]!.bpolls;
    // one trap per request (RECV in, sendv out, then wait: IX_BPOLL_WAIT), plus the
    // connection's open and close; two per request without the flag
    expect(traps).toBeGreaterThanOrEqual(300);
    expect(traps).toBeLessThan(1.5 * 300);
  });

  it('a second dataplane with the same name, or the same pinned CPU, is refused before anything is created', () => {
    const same = ix(['run', echoConfig(name, { cores: [1] })]);
    expect(same.status).toBe(3);
    expect(same.stderr).toContain(`refused: a dataplane named '${name}' is already running (pid ${dp.pid}`);
    expect(same.stderr).not.toMatch(/kernel and app loaded|NIC up/);
    const cpu = ix(['run', echoConfig(`op2-${tag}`, { cores: [0] })]);
    expect(cpu.status).toBe(3);
    expect(cpu.stderr).toContain(`refused: host CPU 0 is already pinned by dataplane '${name}' (pid ${dp.pid})`);
    expect(cpu.stderr).not.toMatch(/kernel and app loaded|NIC up/);
    for (const r of [same, cpu]) expect(netnsList().filter((n) => n.includes(`-${r.pid}-`))).toEqual([]);
    expect(readdirSync(runDir).sort()).toEqual([`${name}.json`, `${name}.sock`]);
  });

  it('ix stop ends it cleanly and leaves nothing behind', async () => {
    // spawnSync: this process does not reap the dataplane while `ix stop` waits, so its
    // exit leaves a zombie for a moment, which `ix stop` must count as ended
    const s = ix(['stop', name]);
    expect(s.status, s.stderr).toBe(0);
    expect(s.stdout).toBe(`stopped ${name} (pid ${dp.pid})\n`);
    const e = await dp.exited;
    expect(e.code).toBe(0);
    expect(dp.find(/^done: stopped by ix stop$/)).toBeDefined();
    expectNothingLeft(name, dp.pid);
    expect(netnsList()).not.toContain(netns);
    const again = ix(['stats', name]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain(`no dataplane named '${name}' is running`);
    expect(ix(['stop', name]).status).toBe(1);
  });
});

describe.runIf(run)("the README's operator story, literally (configs/echo.toml)", () => {
  it('run, ix ps, ping and ncat through ix exec, ix stats, ix stop', async () => {
    const dp = new IxRun(['run', 'configs/echo.toml']);
    await dp.waitFor(/^ready: echo runs its app on 2 cores/);
    expect(ix(['ps']).stdout).toMatch(new RegExp(`^echo\\s+${dp.pid}\\s+2\\s+-\\s+10\\.10\\.0\\.2/24\\s+ix-echo-${dp.pid}-`, 'm'));
    const ping = ix(['exec', 'echo', '--', 'ping', '-c', '3', '-i', '0.2', '10.10.0.2']);
    expect(ping.status, ping.stderr).toBe(0);
    expect(ping.stdout).toContain('3 packets transmitted, 3 received');
    const nc = spawnSync('sh', ['-c', `echo hello | ${process.execPath} ${IX} exec echo -- ncat 10.10.0.2 7`], { encoding: 'utf8', env, timeout: 20_000 });
    expect(nc.status, nc.stderr).toBe(0);
    expect(nc.stdout).toBe('hello\n');
    const st = ix(['stats', 'echo']);
    expect(st.status, st.stderr).toBe(0);
    expect(st.stdout.split('\n')[4]).toMatch(/^ all /);
    expect(ix(['stop', 'echo']).stdout).toBe(`stopped echo (pid ${dp.pid})\n`);
    expect((await dp.exited).code).toBe(0);
    expectNothingLeft('echo', dp.pid);
  });
});

describe.runIf(run)('nothing left behind', () => {
  it('SIGTERM: a clean stop', async () => {
    const name = `term-${tag}`;
    const dp = new IxRun(['run', echoConfig(name, { cores: 2 })]);
    await dp.waitFor(/^ready: /);
    process.kill(dp.pid, 'SIGTERM');
    expect((await dp.exited).code).toBe(0);
    expect(dp.find(/^done: stopped by SIGTERM$/)).toBeDefined();
    expectNothingLeft(name, dp.pid);
  });

  it('SIGTERM while the machine is being set up: it stops once up, cleanly', async () => {
    const name = `early-${tag}`;
    const dp = new IxRun(['run', echoConfig(name, { cores: 2 })]);
    await dp.waitFor(/^config ok$/);
    process.kill(dp.pid, 'SIGTERM');
    const e = await dp.exited;
    expect(e, dp.records.map((r) => JSON.stringify(r)).join('\n')).toEqual({ code: 0, signal: null });
    expect(dp.find(/^done: stopped by SIGTERM$/)).toBeDefined();
    expectNothingLeft(name, dp.pid);
  });

  it('SIGKILL: the TAP goes with the process; namespace, entry and socket are stale and `ix ps` removes them', async () => {
    const name = `kill-${tag}`;
    const dp = new IxRun(['run', echoConfig(name, { nic: 'backend_spin_us = 75\n' })]);
    await dp.waitFor(/^ready: /);
    const nic = dp.find(/^NIC up/)!;
    expect(nic.backendSpinUs).toBe(75); // [nic] backend_spin_us reached the backend worker
    const netns = String(nic.netns);
    process.kill(dp.pid, 'SIGKILL');
    expect((await dp.exited).signal).toBe('SIGKILL');
    expect(groupMembers(dp.pid)).toEqual([]);
    // not persistent: the kernel deletes the TAP when its last queue fd closes
    expect(spawnSync('ip', ['-n', netns, 'link', 'show', String(nic.tap)]).status).not.toBe(0);
    expect(netnsList()).toContain(netns);
    expect(existsSync(join(runDir, `${name}.json`))).toBe(true);
    expect(existsSync(join(runDir, `${name}.sock`))).toBe(true);

    const ps = ix(['ps']);
    expect(ps.status, ps.stderr).toBe(0);
    expect(ps.stderr).toBe(`ix ps: '${name}' (pid ${dp.pid}) is no longer running; removed namespace ${netns}, ${join(runDir, `${name}.sock`)}, ${join(runDir, `${name}.json`)}\n`);
    expect(ps.stdout).toBe('no dataplane is running\n');
    expectNothingLeft(name, dp.pid);
    const st = ix(['stats', name]);
    expect(st.status).toBe(1);
    expect(st.stderr).toContain(`no dataplane named '${name}' is running`);
  });

  it('SIGKILL: the next `ix run` of the same name recognises and cleans the stale entry and namespace', async () => {
    const name = `kill2-${tag}`;
    const dp = new IxRun(['run', echoConfig(name)]);
    await dp.waitFor(/^ready: /);
    const netns = String(dp.find(/^NIC up/)!.netns);
    process.kill(dp.pid, 'SIGKILL');
    await dp.exited;
    expect(netnsList()).toContain(netns);
    const hello = writeConfig(dir, `${name}-hello`, `name = "${name}"\ncores = 1\n[app]\npath = "${appElf('hello')}"\n`);
    const next = new IxRun(['run', hello]);
    expect((await next.exited).code).toBe(0);
    const w = next.find(/left behind/)!;
    expect(String(w.msg)).toBe(`removed what dataplane '${name}' (pid ${dp.pid}, no longer running) left behind: namespace ${netns}, ${join(runDir, `${name}.sock`)}, ${join(runDir, `${name}.json`)}`);
    expect(next.out).toContain('hello from core 0 of 1');
    expectNothingLeft(name, dp.pid);
    expectNothingLeft(name, next.pid);
  });

  it('every app faults: the dataplane ends with a reason and leaves nothing', async () => {
    const name = `crash-${tag}`;
    const dp = new IxRun(['run', echoConfig(name, { cores: 2, app: 'fault', args: ['write-events'] })]);
    const e = await Promise.race([dp.exited, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('the faulting dataplane did not end')), 30_000))]);
    expect(e.code).toBe(1);
    expect(dp.records.filter((r) => /^app on core \d stopped: page fault/.test(String(r.msg)))).toHaveLength(2);
    expect(dp.find(/^NIC up/)).toBeDefined();
    expect(dp.find(/^ix: .*no app left: 2 of 2 cores stopped their app after a fault/)).toBeDefined();
    expectNothingLeft(name, dp.pid);
  });

  it('a bad config: refused with exit 2, nothing created', async () => {
    const name = `bad-${tag}`;
    const cfg = writeConfig(dir, name, `name = "${name}"\ncores = 0\n[app]\npath = "${appElf('echo')}"\n[nic]\nnamespace = true\naddress = "10.77.0.2/24"\n`);
    const dp = new IxRun(['run', cfg]);
    expect((await dp.exited).code).toBe(2);
    expect(dp.records.map((r) => r.msg).join('\n')).toMatch(/cores/);
    expectNothingLeft(name, dp.pid);
  });
});
