// Network namespaces for NIC tests, demos and benchmarks (docs/nic.md): every TAP device,
// address and client lives inside a namespace created here, named ix-<purpose>-<pid>-<rand>,
// and removed on exit. Stale namespaces of dead processes (same naming) are removed too.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export class NetnsError extends Error {
  override name = 'NetnsError';
}

function ip(args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new NetnsError(`ip ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout;
}

/** Why namespaces cannot be used here, or null if they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root (ip netns and /dev/net/tun need CAP_SYS_ADMIN/CAP_NET_ADMIN)';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return `ip netns does not work: ${(r.stderr || r.error?.message || '').trim()}`;
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove ix-* namespaces whose creating process is gone. */
export function cleanupStaleNetns(): void {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^ix-[a-z0-9]+-(\d+)-[0-9a-f]+$/.exec(name);
    if (m && !alive(Number(m[1]))) spawnSync('ip', ['netns', 'del', name]);
  }
}

export class Netns {
  readonly name: string;
  private removed = false;

  constructor(purpose: string) {
    if (!/^[a-z0-9]{1,12}$/.test(purpose)) throw new NetnsError(`bad namespace purpose '${purpose}'`);
    cleanupStaleNetns();
    this.name = `ix-${purpose}-${process.pid}-${randomBytes(3).toString('hex')}`;
    ip(['netns', 'add', this.name]);
    try {
      ip(['-n', this.name, 'link', 'set', 'lo', 'up']);
    } catch (e) {
      this.remove();
      throw e;
    }
    // a test that dies without its afterAll still leaves nothing behind for long
    process.once('exit', () => this.remove());
  }

  /** `ip -n <ns> ...` */
  ip(...args: string[]): string {
    return ip(['-n', this.name, ...args]);
  }

  /** Run a program inside the namespace (synchronously). */
  exec(cmd: string, args: string[], timeoutMs = 30_000): string {
    return execFileSync('ip', ['netns', 'exec', this.name, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
  }

  /** True if the interface exists in the namespace. */
  hasLink(dev: string): boolean {
    return spawnSync('ip', ['-n', this.name, 'link', 'show', 'dev', dev], { encoding: 'utf8' }).status === 0;
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    spawnSync('ip', ['netns', 'del', this.name]);
  }
}
