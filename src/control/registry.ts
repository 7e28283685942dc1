/**
 * The runtime directory of running dataplanes: one `<name>.json` entry (pid,
 * pinned CPUs, config, socket, namespace) and one `<name>.sock` control socket per
 * dataplane. `ix run` claims its entry before it creates anything, so a second dataplane
 * with the same name or an overlapping pinned CPU list is refused up front; an entry whose
 * process is gone (SIGKILL, a host crash) is recognised as stale and cleaned, together with
 * its socket file and network namespace, by the next `ix run`, `ix ps`, `ix stats` or
 * `ix stop`.
 *
 * Directory: $IX_RUN_DIR if set, else /run/ix for root, else $XDG_RUNTIME_DIR/ix, else
 * /tmp/ix-<uid>.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export class RegistryError extends Error {
  override name = 'RegistryError';
}

/** A refusal because another live dataplane holds the name or a CPU. */
export class ConflictError extends RegistryError {
  override name = 'ConflictError';
  constructor(
    message: string,
    readonly other: Entry,
  ) {
    super(message);
  }
}

export interface Entry {
  name: string;
  pid: number;
  /** the process's start time (clock ticks since boot, /proc/<pid>/stat field 22): tells a
   * live owner from an unrelated process that reused the pid */
  pidStart: number | null;
  /** pinned host CPUs, or null when the host scheduler places the vCPUs */
  cpus: number[] | null;
  cores: number;
  config: string;
  socket: string;
  /** the dataplane's network namespace, once its NIC is up */
  netns: string | null;
  /** the TAP device name, once its NIC is up */
  tap: string | null;
  address: string | null;
  metricsPort: number | null;
  startedAt: string;
}

export function runDir(): string {
  const env = process.env.IX_RUN_DIR;
  if (env) return env;
  if (process.getuid?.() === 0) return '/run/ix';
  if (process.env.XDG_RUNTIME_DIR) return join(process.env.XDG_RUNTIME_DIR, 'ix');
  return `/tmp/ix-${process.getuid?.() ?? 'user'}`;
}

/** Start time of a process in clock ticks since boot, or null if it is gone (or a zombie). */
export function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces and parentheses: split after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // a zombie has ended; it only waits for its parent to collect the exit status
    if (rest[0] === 'Z' || rest[0] === 'X') return null;
    const v = Number(rest[19]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** Is the process that wrote this entry still running? */
export function entryAlive(e: Pick<Entry, 'pid' | 'pidStart'>): boolean {
  if (!Number.isInteger(e.pid) || e.pid <= 0) return false;
  const start = processStart(e.pid);
  if (start === null) return false;
  return e.pidStart === null || e.pidStart === start;
}

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;

function parseEntry(text: string, file: string): Entry {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new RegistryError(`${file} is not JSON`);
  }
  const e = v as Partial<Entry>;
  if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || typeof e.pid !== 'number') throw new RegistryError(`${file} is not a dataplane entry`);
  return {
    name: e.name,
    pid: e.pid,
    pidStart: typeof e.pidStart === 'number' ? e.pidStart : null,
    cpus: Array.isArray(e.cpus) ? e.cpus.filter((c): c is number => typeof c === 'number') : null,
    cores: typeof e.cores === 'number' ? e.cores : 0,
    config: typeof e.config === 'string' ? e.config : '',
    socket: typeof e.socket === 'string' ? e.socket : '',
    netns: typeof e.netns === 'string' ? e.netns : null,
    tap: typeof e.tap === 'string' ? e.tap : null,
    address: typeof e.address === 'string' ? e.address : null,
    metricsPort: typeof e.metricsPort === 'number' ? e.metricsPort : null,
    startedAt: typeof e.startedAt === 'string' ? e.startedAt : '',
  };
}

/** What a stale-entry cleanup removed (for the operator's information). */
export interface StaleCleanup {
  name: string;
  pid: number;
  removed: string[];
}

export class Registry {
  readonly dir: string;

  constructor(dir = runDir()) {
    this.dir = dir;
  }

  entryPath(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  socketPath(name: string): string {
    return join(this.dir, `${name}.sock`);
  }

  private ensureDir(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw new RegistryError(`cannot create the runtime directory ${this.dir}: ${(e as Error).message} (set IX_RUN_DIR to a writable directory)`);
    }
  }

  /** Read one entry; null if there is none or it is unreadable (a half-written file). */
  read(name: string): Entry | null {
    try {
      return parseEntry(readFileSync(this.entryPath(name), 'utf8'), this.entryPath(name));
    } catch {
      return null;
    }
  }

  /** Every entry in the directory, live or stale. */
  all(): Entry[] {
    if (!existsSync(this.dir)) return [];
    const out: Entry[] = [];
    for (const f of readdirSync(this.dir).sort()) {
      if (!f.endsWith('.json')) continue;
      const e = this.read(f.slice(0, -5));
      if (e) out.push(e);
    }
    return out;
  }

  /** Remove what a dead dataplane left behind: its entry, socket file and namespace. */
  cleanStale(e: Entry): StaleCleanup {
    const removed: string[] = [];
    // the namespace name carries its creator's pid (ix-<tag>-<pid>-<rand>); only remove one
    // that the dead owner made
    if (e.netns && new RegExp(`^ix-[a-z0-9]+-${e.pid}-[0-9a-f]+$`).test(e.netns)) {
      if (spawnSync('ip', ['netns', 'del', e.netns], { stdio: 'ignore' }).status === 0) removed.push(`namespace ${e.netns}`);
    }
    for (const p of [e.socket || this.socketPath(e.name), this.entryPath(e.name)]) {
      if (existsSync(p)) {
        rmSync(p, { force: true });
        removed.push(p);
      }
    }
    return { name: e.name, pid: e.pid, removed };
  }

  /** Live entries; stale ones are cleaned on the way (reported through onStale). */
  live(onStale?: (c: StaleCleanup) => void): Entry[] {
    const out: Entry[] = [];
    for (const e of this.all()) {
      if (entryAlive(e)) out.push(e);
      else {
        const c = this.cleanStale(e);
        onStale?.(c);
      }
    }
    // a socket file without an entry belongs to nobody
    if (existsSync(this.dir)) {
      for (const f of readdirSync(this.dir)) {
        if (f.endsWith('.sock') && !existsSync(this.entryPath(f.slice(0, -5)))) rmSync(join(this.dir, f), { force: true });
      }
    }
    return out;
  }

  /**
   * Claim `name` (and the pinned CPUs) for this process. Throws ConflictError naming the
   * other dataplane's pid when a live one holds the name or one of the CPUs. Stale entries
   * are cleaned first. The check-and-create runs under a directory-wide lock so two
   * simultaneous starts cannot both win.
   */
  claim(o: { name: string; cpus: number[] | null; cores: number; config: string; metricsPort?: number | null }, onStale?: (c: StaleCleanup) => void): Claim {
    if (!NAME_RE.test(o.name)) throw new RegistryError(`'${o.name}' is not a valid dataplane name`);
    this.ensureDir();
    return this.locked(() => {
      for (const other of this.live(onStale)) {
        if (other.name === o.name)
          throw new ConflictError(
            `a dataplane named '${o.name}' is already running (pid ${other.pid}, config ${other.config}); stop it with \`ix stop ${o.name}\` or choose another name`,
            other,
          );
        if (o.cpus && other.cpus) {
          const shared = o.cpus.filter((c) => other.cpus!.includes(c));
          if (shared.length)
            throw new ConflictError(
              `host CPU${shared.length > 1 ? 's' : ''} ${shared.join(', ')} ${shared.length > 1 ? 'are' : 'is'} already pinned by dataplane '${other.name}' (pid ${other.pid}); choose other CPUs in \`cores\` or stop it with \`ix stop ${other.name}\``,
              other,
            );
        }
      }
      const entry: Entry = {
        name: o.name,
        pid: process.pid,
        pidStart: processStart(process.pid),
        cpus: o.cpus,
        cores: o.cores,
        config: o.config,
        socket: this.socketPath(o.name),
        netns: null,
        tap: null,
        address: null,
        metricsPort: o.metricsPort ?? null,
        startedAt: new Date().toISOString(),
      };
      // a socket file left by a dead owner would make listen() fail with EADDRINUSE
      rmSync(entry.socket, { force: true });
      this.write(entry);
      return new Claim(this, entry);
    });
  }

  /** Write an entry atomically (readers never see half a file). */
  write(e: Entry): void {
    this.ensureDir();
    const tmp = join(this.dir, `.${e.name}.${process.pid}.tmp`);
    writeFileSync(tmp, `${JSON.stringify(e, null, 2)}\n`, { mode: 0o644 });
    renameSync(tmp, this.entryPath(e.name));
  }

  /** Run f holding <dir>/.lock (O_EXCL file with the holder's pid; a dead holder's lock is broken). */
  private locked<T>(f: () => T): T {
    const lock = join(this.dir, '.lock');
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        const fd = openSync(lock, 'wx', 0o644);
        writeFileSync(fd, `${process.pid} ${processStart(process.pid) ?? ''}\n`);
        closeSync(fd);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RegistryError(`cannot create ${lock}: ${(e as Error).message}`);
        let holder: { pid: number; pidStart: number | null } | null = null;
        try {
          const [p, s] = readFileSync(lock, 'utf8').trim().split(' ');
          holder = { pid: Number(p), pidStart: s ? Number(s) : null };
        } catch {
          /* removed meanwhile, or still being written */
        }
        const age = (() => {
          try {
            return Date.now() - statSync(lock).mtimeMs;
          } catch {
            return 0;
          }
        })();
        if ((holder && !entryAlive(holder)) || age > 10_000) rmSync(lock, { force: true });
        else if (Date.now() > deadline) throw new RegistryError(`${lock} is held by pid ${holder?.pid ?? '?'}; try again, or remove the file if that process is not ix`);
        else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
    try {
      return f();
    } finally {
      rmSync(lock, { force: true });
    }
  }
}

/** This process's registration; release() removes the entry and socket file. */
export class Claim {
  private released = false;
  private readonly onExit = () => this.release();

  constructor(
    readonly registry: Registry,
    readonly entry: Entry,
  ) {
    // last resort for paths that exit without unwinding (process.exit from elsewhere)
    process.once('exit', this.onExit);
  }

  get socketPath(): string {
    return this.entry.socket;
  }

  /** Record facts learnt after the claim (the NIC's namespace, TAP, address). */
  update(p: Partial<Pick<Entry, 'netns' | 'tap' | 'address' | 'metricsPort'>>): void {
    if (this.released) return;
    Object.assign(this.entry, p);
    this.registry.write(this.entry);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    // only remove what is still ours (a stale cleanup by someone else may have replaced it)
    const cur = this.registry.read(this.entry.name);
    if (cur && cur.pid !== process.pid) return;
    rmSync(this.entry.socket, { force: true });
    rmSync(this.registry.entryPath(this.entry.name), { force: true });
  }
}
