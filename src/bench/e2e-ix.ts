// The dataplane side of the end-to-end benchmark: `ix run --json <generated config>` as a
// child process with its NIC in a fresh namespace (TAP or vhost-net backend) or on one end of
// a veth pair (XDP backend, clients on the other end), pinned to the given host CPUs; ready when
// the "NIC up" log line has named the namespace and the app accepts a TCP connection on its
// port (apps print different banners; a connection is what the clients need).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../control/paths.js';
import { E2eBenchError } from './e2e-proc.js';

export interface IxApp {
  /** config name (also the namespace tag: ix-<name>-<pid>-<hex>) */
  name: string;
  elf: string;
  args: string[];
  ports: number[];
  heap: string;
  /** guest memory (default "256M") */
  memory?: string;
}

export interface RunningIx {
  proc: ChildProcess;
  netns: string;
  address: string;
  stop: () => Promise<{ code: number | null; summary: Record<string, unknown> | null }>;
}

export const IX_ADDRESS = '10.10.0.2';
/** The Linux side of the dataplane's TAP in its namespace (the config's gateway). */
export const IX_GATEWAY = '10.10.0.1';

/** The XDP backend's link (src/testing/xdp-link.ts): the interface to attach to, the dataplane's address. */
export interface IxXdp {
  ifname: string;
  address: string;
  /** namespace holding the interface (ix runs there) and the clients' namespace */
  dpNetns: string;
  clientNetns: string;
  /** [nic] xdp_rings (absent: the config default) */
  rings?: 'guest' | 'host';
}

/** The dataplane's NIC: the TAP backend in a fresh namespace (undefined), the same TAP
 * served by the kernel's vhost-net ('vhost'), or AF_XDP on a veth pair (an IxXdp). */
export type IxNic = IxXdp | 'vhost' | undefined;

/** `top`: top-level keys of the config (absent: the config defaults, "auto" for both). */
export function writeIxConfig(dir: string, app: IxApp, cpus: number[], backendSpinUs?: number, nic?: IxNic, top: { protection?: string; wake?: string; schedSliceUs?: number; idlePollUs?: number } = {}): string {
  const xdp = typeof nic === 'object' ? nic : undefined;
  const q = (s: string) => JSON.stringify(s); // TOML basic strings accept JSON escapes
  const body = [
    `name = ${q(app.name)}`,
    `cores = [${cpus.join(', ')}]`,
    `memory = ${q(app.memory ?? '256M')}`,
    ...(top.protection !== undefined ? [`protection = ${q(top.protection)}`] : []),
    ...(top.wake !== undefined ? [`wake = ${q(top.wake)}`] : []),
    ...(top.schedSliceUs !== undefined ? [`sched_slice_us = ${top.schedSliceUs}`] : []),
    ...(top.idlePollUs !== undefined ? [`idle_poll_us = ${top.idlePollUs}`] : []),
    `[app]`,
    `path = ${q(app.elf)}`,
    `args = [${app.args.map(q).join(', ')}]`,
    `heap = ${q(app.heap)}`,
    `ports = [${app.ports.join(', ')}]`,
    `[nic]`,
    ...(xdp
      ? [`backend = "xdp"`, `interface = ${q(xdp.ifname)}`, `address = "${xdp.address}/24"`, ...(xdp.rings ? [`xdp_rings = ${q(xdp.rings)}`] : [])]
      : [...(nic === 'vhost' ? [`backend = "vhost"`] : []), `namespace = true`, `address = "${IX_ADDRESS}/24"`, `gateway = "${IX_GATEWAY}"`]),
    ...(backendSpinUs !== undefined ? [`backend_spin_us = ${backendSpinUs}`] : []),
    '',
  ].join('\n');
  const p = join(dir, `${app.name}${xdp ? `-xdp${xdp.rings ? `-${xdp.rings}` : ''}` : nic === 'vhost' ? '-vhost' : ''}.toml`);
  writeFileSync(p, body);
  return p;
}

/** One TCP connect from inside the namespace (bash's /dev/tcp), bounded to 1 s. */
function accepts(netns: string, address: string, port: number): boolean {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'timeout', '1', 'bash', '-c', `exec 3<>/dev/tcp/${address}/${port}`], { stdio: 'ignore' });
  return r.status === 0;
}

/** The `ix run` children still running: a bench that exits (process.exit from its signal
 * handler, an uncaught error) sends each SIGTERM, so a dataplane never outlives its bench when
 * only the bench's pid is signalled (a terminal's Ctrl-C reaches the whole group anyway). */
const live = new Set<ChildProcess>();
let exitHook = false;
function track(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const p of live) p.kill('SIGTERM');
  });
}

/** With `xdp`, ix runs in the interface's namespace and `netns` is the clients' namespace. */
export async function startIx(config: string, port: number, timeoutMs = 30_000, xdp?: IxXdp): Promise<RunningIx> {
  const argv = [process.execPath, join(PACKAGE_ROOT, 'bin', 'ix.js'), 'run', '--json', config];
  const proc = xdp ? spawn('ip', ['netns', 'exec', xdp.dpNetns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc);
  let out = '';
  let err = '';
  let errAll = '';
  let nic: Record<string, unknown> | undefined;
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => {
    const s = d.toString();
    err += s;
    if (errAll.length < 100_000) errAll += s;
    let nl;
    while ((nl = err.indexOf('\n')) >= 0) {
      const line = err.slice(0, nl);
      err = err.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        const r = JSON.parse(line) as Record<string, unknown>;
        if (r.netns !== undefined && String(r.msg).startsWith('NIC up')) nic = r;
      } catch {
        /* not a log record */
      }
    }
  });
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(t);
    let summary: Record<string, unknown> | null = null;
    try {
      summary = JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, unknown>;
    } catch {
      summary = null;
    }
    return { code, summary };
  };
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (nic) {
      const address = String(nic.address).split('/')[0]!;
      const netns = xdp ? xdp.clientNetns : String(nic.netns);
      if (accepts(netns, address, port)) return { proc, netns, address, stop };
    }
    if (proc.exitCode !== null) throw new E2eBenchError(`ix run ${config} exited early (${proc.exitCode}):\n${out}\n${errAll}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new E2eBenchError(`the dataplane (${config}) was not serving within ${timeoutMs} ms:\n${out}\n${errAll}`);
}
