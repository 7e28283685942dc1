// Processes for the end-to-end benchmark: servers started in the background inside a
// namespace and pinned with taskset, clients run to completion (asynchronously, so the
// dataplane child's log pipes keep draining), the Linux side's veth pair, the tools' build.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../control/paths.js';
import { Netns } from '../nic/netns.js';

export class E2eBenchError extends Error {
  override name = 'E2eBenchError';
}

export const E2E_DIR = join(PACKAGE_ROOT, 'bench', 'e2e');
export const E2E_BUILD = join(E2E_DIR, 'build');

/** Build bench/e2e (needs the guest built first: spserver.elf links libix). */
export function buildE2eTools(): { epollEcho: string; echoload: string; kvload: string; connload: string; spserver: string } {
  try {
    execFileSync('make', ['-s', '-C', E2E_DIR], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer };
    throw new E2eBenchError(`building bench/e2e failed (needs gcc, make and the guest build: npm run build): ${err.stderr?.toString() ?? String(e)}`);
  }
  const t = { epollEcho: join(E2E_BUILD, 'epoll_echo'), echoload: join(E2E_BUILD, 'echoload'), kvload: join(E2E_BUILD, 'kvload'), connload: join(E2E_BUILD, 'connload'), spserver: join(E2E_BUILD, 'spserver.elf') };
  for (const p of Object.values(t)) if (!existsSync(p)) throw new E2eBenchError(`${p} is missing after make -C bench/e2e`);
  return t;
}

/** The Debian tools the benchmark drives, with the package that provides each. */
export const THIRD_PARTY = { sockperf: 'sockperf', memcached: 'memcached', memcaslap: 'libmemcached-tools', taskset: 'util-linux' } as const;

export function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** `ip netns exec NS taskset -c CPUS cmd args` (taskset left out when cpus is empty). */
export function nsArgv(netns: string, cpus: number[], cmd: string, args: string[]): string[] {
  const pin = cpus.length ? ['taskset', '-c', cpus.join(',')] : [];
  return ['netns', 'exec', netns, ...pin, cmd, ...args];
}

export interface ClientRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run a client to completion inside a namespace, bounded by timeoutMs. */
export function runClient(netns: string, cpus: number[], cmd: string, args: string[], timeoutMs: number): Promise<ClientRun> {
  return new Promise((resolve) => {
    execFile('ip', nsArgv(netns, cpus, cmd, args), { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const status = err ? ((err as { code?: unknown }).code as number | null) ?? null : 0;
      resolve({ status: typeof status === 'number' ? status : null, stdout, stderr });
    });
  });
}

export interface BgServer {
  proc: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Start a server in the background inside a namespace (`ip netns exec` and taskset exec the
 * command, so the child's pid is the server's), and wait until it listens on `port`.
 */
export async function startServer(netns: string, cpus: number[], cmd: string, args: string[], port: number, timeoutMs = 10_000): Promise<BgServer> {
  const proc = spawn('ip', nsArgv(netns, cpus, cmd, args), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (proc.exitCode !== null) throw new E2eBenchError(`${cmd} exited (${proc.exitCode}) before listening on port ${port}:\n${out}`);
    const ss = spawnSync('ip', ['netns', 'exec', netns, 'ss', '-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    if (ss.status === 0 && ss.stdout.trim()) return { proc, output: () => out, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new E2eBenchError(`${cmd} did not listen on port ${port} within ${timeoutMs} ms:\n${out}`);
}

/**
 * The Linux side: two namespaces joined by a veth pair, the server's end 10.77.0.1/24 and
 * the client's 10.77.0.2/24. Nothing leaves the two namespaces. remove() deletes both (the
 * veth goes with them); Netns also removes them when the process exits.
 */
export class LinuxLink {
  readonly srv: Netns;
  readonly cli: Netns;
  readonly serverAddress = '10.77.0.1';
  readonly clientAddress = '10.77.0.2';

  constructor() {
    this.srv = new Netns('bench');
    try {
      this.cli = new Netns('benchcli');
    } catch (e) {
      this.srv.remove();
      throw e;
    }
    try {
      this.srv.ip('link', 'add', 'ixe2e0', 'type', 'veth', 'peer', 'name', 'ixe2e1', 'netns', this.cli.name);
      this.srv.ip('addr', 'add', `${this.serverAddress}/24`, 'dev', 'ixe2e0');
      this.cli.ip('addr', 'add', `${this.clientAddress}/24`, 'dev', 'ixe2e1');
      this.srv.ip('link', 'set', 'ixe2e0', 'up');
      this.cli.ip('link', 'set', 'ixe2e1', 'up');
    } catch (e) {
      this.remove();
      throw e;
    }
  }

  remove(): void {
    this.cli.remove();
    this.srv.remove();
  }
}
