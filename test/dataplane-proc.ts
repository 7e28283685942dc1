// Runs `ix run <config>` as a child process for end-to-end tests: waits until the NIC is up
// and the app serves, exposes the namespace, stops it and checks that nothing is left.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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

/** `inNetns`: run ix inside that existing namespace (the XDP backend attaches to an interface there). */
export async function startDataplane(config: string, readyPattern: RegExp, timeoutMs = READY_MS, inNetns?: string): Promise<RunningDataplane> {
  const cmd = [process.execPath, IX, 'run', '--json', config];
  const proc = inNetns ? spawn('ip', ['netns', 'exec', inNetns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
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
