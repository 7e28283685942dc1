// Helpers for the network stack's end-to-end tests: a network namespace owned by the test,
// and the host harness (guest/test/net/build/harness) running inside it.
//
// Namespaces are named ix-<purpose>-<pid>-<random>; namespaces of that form whose pid is no
// longer alive are leftovers of a crashed run and are removed before a new one is made.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const NET_TEST_DIR = path.join(REPO, 'guest/test/net');
export const NET_BUILD = path.join(NET_TEST_DIR, 'build');

export class NetTestError extends Error {
  override name = 'NetTestError';
}

/** Why namespace tests cannot run here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root (ip netns, /dev/net/tun)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing (modprobe tun)';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
  } catch (e) {
    return `'ip netns' does not work: ${(e as Error).message}`;
  }
  return null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove ix-*-<pid>-* namespaces whose creating process is gone. */
export function removeStaleNamespaces(): void {
  let out = '';
  try {
    out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^ix-[a-z0-9]+-(\d+)-[0-9a-f]+$/.exec(name);
    if (m && !pidAlive(Number(m[1]))) {
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
      } catch {
        /* raced with its owner or another cleaner */
      }
    }
  }
}

export class TestNetns {
  readonly name: string;
  private removed = false;

  constructor(purpose: string) {
    removeStaleNamespaces();
    this.name = `ix-${purpose}-${process.pid}-${randomBytes(3).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', this.name], { stdio: 'pipe' });
    this.exec('ip', ['link', 'set', 'lo', 'up']);
    // No IPv6 chatter (router solicitations, DAD) on the TAP: keeps counters readable.
    this.exec('sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  }

  /** Run a command inside the namespace; returns stdout; throws with stderr on failure. */
  exec(cmd: string, args: string[], timeoutMs = 30_000, input?: string): string {
    try {
      return execFileSync('ip', ['netns', 'exec', this.name, cmd, ...args], {
        encoding: 'utf8',
        stdio: 'pipe',
        timeout: timeoutMs,
        input,
      });
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string; message: string };
      throw new NetTestError(
        `in netns ${this.name}: ${cmd} ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`,
      );
    }
  }

  /** Does this interface exist inside the namespace? */
  hasLink(ifname: string): boolean {
    try {
      execFileSync('ip', ['-n', this.name, 'link', 'show', ifname], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'pipe' });
    } catch {
      /* already gone */
    }
  }
}

export type HarnessStats = Record<string, number | number[]>;

export interface HarnessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stats: HarnessStats | null;
}

/** The harness running inside a namespace. */
export class Harness {
  private stdout = '';
  private stderr = '';
  private exited: Promise<HarnessResult>;
  readonly proc: ChildProcess;

  private constructor(proc: ChildProcess) {
    this.proc = proc;
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        // let the pipes drain
        setTimeout(() => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, stats: parseStats(this.stdout) }), 50);
      });
    });
  }

  /** Start `harness args...` in ns and wait for its "ready" line. */
  static async start(ns: TestNetns, args: string[], opts: { binary?: string; readyMs?: number } = {}): Promise<Harness> {
    const bin = path.join(NET_BUILD, opts.binary ?? 'harness');
    if (!existsSync(bin)) throw new NetTestError(`${bin} is missing: run make -C guest/test/net`);
    const proc = spawn('ip', ['netns', 'exec', ns.name, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const h = new Harness(proc);
    const deadline = Date.now() + (opts.readyMs ?? 10_000);
    let exitedEarly = false;
    void h.exited.then(() => (exitedEarly = true));
    while (!/^ready /m.test(h.stdout)) {
      if (exitedEarly) {
        const r = await h.exited;
        throw new NetTestError(`harness exited before ready (code ${r.code}): ${r.stderr}`);
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new NetTestError(`harness not ready after ${opts.readyMs ?? 10_000} ms: ${h.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return h;
  }

  get output(): string {
    return this.stdout;
  }

  /** Wait for exit without signalling (client mode, --duration). */
  wait(timeoutMs = 60_000): Promise<HarnessResult> {
    return Promise.race([
      this.exited,
      new Promise<HarnessResult>((_, reject) =>
        setTimeout(() => {
          this.proc.kill('SIGKILL');
          reject(new NetTestError(`harness did not exit within ${timeoutMs} ms: ${this.stderr}`));
        }, timeoutMs),
      ),
    ]);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves with the result (stats parsed). */
  async stop(graceMs = 5_000): Promise<HarnessResult> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }
}

export function parseStats(stdout: string): HarnessStats | null {
  const m = /^stats (\{.*\})$/m.exec(stdout);
  if (!m || m[1] === undefined) return null;
  return JSON.parse(m[1]) as HarnessStats;
}

/** Build the host harness and unit tests (make -C guest/test/net). */
export function buildNetTests(): void {
  try {
    execFileSync('make', ['-s', '-C', NET_TEST_DIR, '-j2'], { stdio: 'pipe', encoding: 'utf8', timeout: 300_000 });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new NetTestError(`make -C guest/test/net failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}
