// The README's "A dataplane on an interface you already have (AF_XDP)", run as written: the
// commands are read from the README's two shell blocks of that section (so the README cannot
// drift from what works), each line run by bash from the repository root. The `ix run` line
// runs in the background until its "ready" line; the second block then talks to it, checks
// what each command printed, and stops it. Root + /dev/kvm + namespaces; fails under CI=true
// when it cannot run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';

const run = requireNetKvm("the README's XDP story");

const NAMESPACES = ['ixlan', 'ixlan-peer'];

/** the shell blocks of the README section whose heading starts with `heading` */
function readmeBlocks(heading: string): string[][] {
  const md = readFileSync('README.md', 'utf8');
  const start = md.indexOf(`## ${heading}`);
  if (start < 0) throw new Error(`README.md has no section "## ${heading}"`);
  const end = md.indexOf('\n## ', start + 3);
  const section = md.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]!.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
}

function sh(line: string, timeoutMs = 30_000) {
  const r = spawnSync('bash', ['-c', line], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function dropNamespaces(): void {
  const have = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const ns of NAMESPACES) if (new RegExp(`^${ns}( |$)`, 'm').test(have)) spawnSync('ip', ['netns', 'del', ns]);
}

describe.runIf(run)("the README's AF_XDP story, as written", () => {
  let dp: ChildProcess | undefined;
  afterAll(() => {
    if (dp && dp.exitCode === null) dp.kill('SIGKILL');
    dropNamespaces();
  });

  it('shares lan0 with Linux: the dataplane echoes, Linux answers ping, ix stop leaves nothing attached', async () => {
    const [setup, talk] = readmeBlocks('A dataplane on an interface you already have');
    expect(setup?.at(-1)).toMatch(/ix run configs\/lan\.toml/);
    expect(talk).toHaveLength(5);
    dropNamespaces(); // a namespace left by an earlier, killed run
    for (const line of setup!.slice(0, -1)) {
      const r = sh(line);
      expect(r.status, `${line}\n${r.stderr}`).toBe(0);
    }

    // terminal 1: `ix run`, in the foreground there; here in the background until "ready"
    dp = spawn('bash', ['-c', `exec ${setup!.at(-1)!}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    dp.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    dp.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((res) => dp!.once('exit', (code) => res(code)));
    const t0 = Date.now();
    while (!/ready: lan runs its app/.test(log)) {
      if (dp.exitCode !== null) throw new Error(`ix run exited early (${dp.exitCode}):\n${log}`);
      if (Date.now() - t0 > Number(process.env.IX_E2E_READY_MS ?? 30_000)) throw new Error(`ix run not ready:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(log).toMatch(/NIC up.*xdp/i);

    // terminal 2, line by line
    const echo = sh(talk![0]!);
    expect(echo.status, echo.stderr).toBe(0);
    expect(echo.stdout).toBe('hello\n');
    const ping = sh(talk![1]!);
    expect(ping.status, ping.stderr).toBe(0);
    expect(ping.stdout).toContain('2 packets transmitted, 2 received');
    const stop = sh(talk![2]!, 60_000);
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stdout).toMatch(/^stopped lan \(pid \d+\)\n$/);
    expect(await exited).toBe(0);
    const link = sh('ip -n ixlan link show lan0');
    expect(link.status, link.stderr).toBe(0);
    expect(link.stdout).not.toMatch(/xdp/);
    for (const line of talk!.slice(3)) expect(sh(line).status, line).toBe(0);
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toMatch(/^ixlan/m);
  });
});
