// Helpers for tests that run the `ix` command as a user would.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const IX = resolve('bin/ix.js');
export const appElf = (n: string) => resolve('guest/build/apps', `${n}.elf`);

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeConfig(dir: string, name: string, body: string): string {
  const p = join(dir, `${name}.toml`);
  writeFileSync(p, body);
  return p;
}

export function ix(args: string[], timeoutMs = 60_000) {
  const r = spawnSync(process.execPath, [IX, ...args], { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** JSON log records (pino) from stderr */
export function logRecords(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
