// Builds and locates the C helpers under bench/nic (nicping client, TAP and veth reflectors) that the
// NIC tests and the NIC benchmark run inside a namespace.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export class NicToolsError extends Error {
  override name = 'NicToolsError';
}

/** Repository root: src/testing/x.ts or dist/testing/x.js -> ../.. */
export function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export function buildNicTools(): { nicping: string; reflector: string; vethReflector: string } {
  const dir = join(repoRoot(), 'bench', 'nic');
  try {
    execFileSync('make', ['-s', '-C', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer };
    throw new NicToolsError(`building bench/nic failed (needs gcc and make): ${err.stderr?.toString() ?? String(e)}`);
  }
  const nicping = join(dir, 'build', 'nicping');
  const reflector = join(dir, 'build', 'reflector');
  const vethReflector = join(dir, 'build', 'veth_reflector');
  if (![nicping, reflector, vethReflector].every((p) => existsSync(p))) throw new NicToolsError(`bench/nic/build is missing its tools after make`);
  return { nicping, reflector, vethReflector };
}

export interface PingResult {
  sent: number;
  received: number;
  lost: number;
  corrupt: number;
  send_retries: number;
  seconds: number;
  pps: number;
  rtt_p50_us: number;
  rtt_p99_us: number;
  per_port: number[];
}
