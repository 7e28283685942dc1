/**
 * The first thing `ix run` does: guess the core count from the config file with a cheap look
 * (the real validation comes later) and start that many vCPU workers, so their start-up
 * overlaps config validation and VM setup. A wrong guess only costs time.
 */
import { readFileSync } from 'node:fs';
import { prestartVcpuWorkers } from '../vmm/worker-pool.js';

export function guessCores(text: string): number {
  // elastic cores ([cores] max = N, or cores = { min = .., max = N }): every vCPU is made at start
  const t = /^\s*\[cores\][^[]*?^\s*max\s*=\s*(\d+)/m.exec(text) ?? /^\s*cores\s*=\s*\{[^}]*\bmax\s*=\s*(\d+)/m.exec(text);
  if (t) {
    const n = Number(t[1]);
    return n >= 1 && n <= 16 ? n : 1;
  }
  const m = /^\s*cores\s*=\s*(\d+|\[[^\]]*\])/m.exec(text);
  if (!m) return 1;
  const v = m[1]!;
  const n = v.startsWith('[') ? v.split(',').filter((x) => /\d/.test(x)).length : Number(v);
  return Number.isInteger(n) && n >= 1 && n <= 16 ? n : 1;
}

/** Options of `ix run` that take a value as the next argument (src/cli/main.ts). */
export const VALUE_OPTIONS = new Set(['--log-level', '--metrics-port']);

/** The config path among `ix run`'s arguments: the first operand that is not an option's value. */
export function configArg(args: string[]): string | undefined {
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    if (a === '--') return args[k + 1];
    if (VALUE_OPTIONS.has(a)) k++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

export function prestartFromArgv(argv: string[]): void {
  const i = argv.indexOf('run');
  if (i < 0 || i > 2) return;
  const path = configArg(argv.slice(i + 1));
  if (!path) return;
  try {
    prestartVcpuWorkers(guessCores(readFileSync(path, 'utf8')));
  } catch {
    // unreadable config or no build: `ix run` reports it properly in a moment
  }
}
