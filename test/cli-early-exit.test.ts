// `ix run` starts its vCPU worker threads first thing (src/cli/prestart.ts). When the run
// then ends early — a refused claim, an invalid config, a usage error — those workers may
// still be loading the KVM binding, and tearing one down at that moment aborted the whole
// process (koffi: "FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw", exit 134) in
// about one run in 25. Each early end must give its documented status, every time.
//
// No KVM is needed: everything here ends before a VM is created. Runs go four at a time.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IX, appElf, tempDir, writeConfig } from './ix-cli.js';

const { dir, cleanup } = tempDir('ix-early-exit-');
afterAll(cleanup);

interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function runIx(args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [IX, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status, signal) => res({ status, signal, stderr }));
  });
}

async function many(n: number, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result[]> {
  const out: Result[] = [];
  for (let i = 0; i < n; i += 4) out.push(...(await Promise.all(Array.from({ length: Math.min(4, n - i) }, () => runIx(args, env)))));
  return out;
}

/** the statuses seen, with the stderr of the first unexpected one */
function summary(rs: Result[], want: number): string {
  const bad = rs.find((r) => r.status !== want);
  const counts = new Map<string, number>();
  for (const r of rs) counts.set(String(r.status ?? r.signal), (counts.get(String(r.status ?? r.signal)) ?? 0) + 1);
  return `statuses ${JSON.stringify([...counts])}${bad ? `; first unexpected stderr:\n${bad.stderr}` : ''}`;
}

// two cores: two workers loading while the run is refused
const config = writeConfig(dir, 'early', `name = "early"\ncores = [0, 1]\nmemory = "64M"\n[app]\npath = "${appElf('hello')}"\n`);

describe('ix run ending before the VM exists', () => {
  it('a refused claim exits 3, every time (40 runs)', async () => {
    const runDir = join(dir, 'run');
    mkdirSync(runDir, { recursive: true });
    // a live holder of CPU 0: this test process
    writeFileSync(join(runDir, 'holder.json'), JSON.stringify({ name: 'holder', pid: process.pid, pidStart: null, cpus: [0], cores: 1 }));
    const rs = await many(40, ['run', config], { IX_RUN_DIR: runDir });
    expect(rs.every((r) => r.status === 3), summary(rs, 3)).toBe(true);
    for (const r of rs) {
      expect(r.stderr).toContain("refused: host CPU 0 is already pinned by dataplane 'holder'");
      expect(r.stderr).not.toContain('FATAL ERROR');
    }
  }, 120_000);

  it('an invalid config exits 2, every time (20 runs)', async () => {
    const bad = writeConfig(dir, 'bad', `name = "bad"\ncores = [0, 1]\nbogus = 1\n`);
    const rs = await many(20, ['run', bad]);
    expect(rs.every((r) => r.status === 2), summary(rs, 2)).toBe(true);
  }, 120_000);

  it('a usage error exits 1 and --help exits 0, every time (20 runs each)', async () => {
    const usage = await many(20, ['run', config, '--no-such-option']);
    expect(usage.every((r) => r.status === 1), summary(usage, 1)).toBe(true);
    expect(usage[0]!.stderr).toContain("unknown option '--no-such-option'");
    const help = await many(20, ['run', config, '--help']);
    expect(help.every((r) => r.status === 0), summary(help, 0)).toBe(true);
  }, 120_000);
});
