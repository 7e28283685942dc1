// Runs `ix run <config>` as a child process for end-to-end tests: waits until the NIC is up
// and the app serves, exposes the namespace, stops it and checks that nothing is left.
//
// No `ix run` outlives the test that started it. Vitest runs each file in a worker process
// (the "forks" pool) and gives up on a test that times out without stopping its body, so a
// test that times out or fails before its own stop would leave its dataplane running, and
// once vitest ends the worker (SIGTERM, SIGKILL 500 ms later) nobody would. So every child is
// tracked until it exits and stopped (SIGTERM, SIGKILL after a bound):
//   - when the test that started it finishes, whatever its outcome (onTestFinished);
//   - one started outside a test (beforeAll) after the file's last test (afterAll);
//   - when the worker exits or gets SIGTERM/SIGINT/SIGHUP (synchronously, a short bound);
//   - when the worker dies without running any code (SIGKILL, a crash): the kernel sends
//     the child SIGTERM itself, its parent-death signal (prctl PR_SET_PDEATHSIG, set by
//     util-linux's setpriv before it execs `ix run`).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, onTestFinished } from 'vitest';
import { IX } from './ix-cli.js';

export interface RunningDataplane {
  proc: ChildProcess;
  netns: string;
  address: string;
  records: Record<string, unknown>[];
  stdout: () => string;
  /** run a program inside the dataplane's namespace */
  exec: (cmd: string, args: string[], timeoutMs?: number) => { status: number | null; stdout: string; stderr: string };
  /** SIGTERM and wait: exit code and the final JSON summary */
  stop: () => Promise<{ code: number | null; summary: Record<string, unknown> | null }>;
}

// IX_E2E_READY_MS: the nested CI run (QEMU TCG, a slow start over 9p) allows more
const READY_MS = Number(process.env.IX_E2E_READY_MS ?? 30_000);

/** how long a stop by the helper waits after SIGTERM before SIGKILL (ix run stops in a second or two) */
const STOP_GRACE_MS = 20_000;
/** the same when the worker process is exiting: it must not hold vitest up for long */
const EXIT_GRACE_MS = 2_000;

/** Every `ix run` this process started that has not exited: one set per process, even when
 * vitest evaluates this module once per test file in the same worker. */
const live: Set<ChildProcess> = ((globalThis as Record<symbol, unknown>)[Symbol.for('ix.test.dataplanes')] ??= trackChildren()) as Set<ChildProcess>;

function trackChildren(): Set<ChildProcess> {
  const set = new Set<ChildProcess>();
  process.once('exit', () => stopAllNow(set));
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(sig, () => {
      stopAllNow(set);
      // then what the signal would have done had we not listened (unless someone else listens)
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
  return set;
}

/** Running and not a zombie (an exited child its parent has not reaped yet still has a pid). */
function running(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

function signal(c: ChildProcess, sig: NodeJS.Signals): void {
  try {
    c.kill(sig);
  } catch {
    // already gone
  }
}

/** Synchronous, for process exit and signals: SIGTERM to every tracked child, SIGKILL to
 * those still running after EXIT_GRACE_MS. */
function stopAllNow(set: Set<ChildProcess>): void {
  const kids = [...set].filter((c) => c.exitCode === null && c.signalCode === null);
  if (!kids.length) return;
  for (const c of kids) signal(c, 'SIGTERM');
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const t0 = Date.now();
  while (kids.some((c) => running(c.pid)) && Date.now() - t0 < EXIT_GRACE_MS) Atomics.wait(nap, 0, 0, 20);
  for (const c of kids) if (running(c.pid)) signal(c, 'SIGKILL');
}

/** Stop one child if it still runs: SIGTERM, SIGKILL after graceMs; resolves once it has exited. */
async function stopChild(c: ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((res) => c.once('exit', () => res()));
  const within = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), ms).unref())]);
  signal(c, 'SIGTERM');
  if (await within(graceMs)) return;
  signal(c, 'SIGKILL');
  await within(5_000);
}

/** Stop every `ix run` this process started that still runs (SIGTERM, then SIGKILL after a
 * bound). Called after each test that started one and after each file; tests may call it too. */
export async function stopDataplanes(graceMs = STOP_GRACE_MS): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c, graceMs)));
}

afterAll(() => stopDataplanes());

/** util-linux's setpriv, to give the child a parent-death signal (absent: the other ways remain) */
const SETPRIV = spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;

/** Start a tracked child: it gets SIGTERM when this process dies, and is stopped when the
 * current test finishes (or, outside a test, after the file). */
function spawnTracked(cmd: string[]): ChildProcess {
  const argv = SETPRIV ? ['setpriv', '--pdeathsig', 'TERM', ...cmd] : cmd;
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  try {
    onTestFinished(() => stopChild(proc));
  } catch {
    // not inside a test (a beforeAll hook): afterAll and the exit handlers stop it
  }
  return proc;
}

/** `inNetns`: run ix inside that existing namespace (the XDP backend attaches to an interface there). */
export async function startDataplane(config: string, readyPattern: RegExp, timeoutMs = READY_MS, inNetns?: string): Promise<RunningDataplane> {
  const cmd = [process.execPath, IX, 'run', '--json', config];
  const proc = spawnTracked(inNetns ? ['ip', 'netns', 'exec', inNetns, ...cmd] : cmd);
  let out = '';
  let err = '';
  const records: Record<string, unknown>[] = [];
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    let nl;
    while ((nl = err.indexOf('\n')) >= 0) {
      const line = err.slice(0, nl);
      err = err.slice(nl + 1);
      if (line.startsWith('{')) records.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const t0 = Date.now();
  let nic: Record<string, unknown> | undefined;
  while (Date.now() - t0 < timeoutMs) {
    nic = records.find((r) => r.netns !== undefined && String(r.msg).startsWith('NIC up'));
    if (nic && readyPattern.test(out)) break;
    if (proc.exitCode !== null) throw new Error(`ix run exited early (${proc.exitCode}):\n${out}\n${JSON.stringify(records)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!nic || !readyPattern.test(out)) {
    proc.kill('SIGKILL');
    throw new Error(`dataplane not ready in ${timeoutMs} ms:\n${out}\n${JSON.stringify(records)}`);
  }
  const netns = inNetns ?? String(nic.netns);
  const address = String(nic.address).split('/')[0]!;
  return {
    proc,
    netns,
    address,
    records,
    stdout: () => out,
    exec: (cmd, args, t = 120_000) => {
      const r = spawnSync('ip', ['netns', 'exec', netns, cmd, ...args], { encoding: 'utf8', timeout: t });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const code = await exited;
      const last = out.trim().split('\n').pop() ?? '';
      let summary: Record<string, unknown> | null = null;
      try {
        summary = JSON.parse(last) as Record<string, unknown>;
      } catch {
        summary = null;
      }
      return { code, summary };
    },
  };
}

export function netnsExists(name: string): boolean {
  return (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').some((l) => l.split(' ')[0] === name);
}
