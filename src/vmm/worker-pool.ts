/**
 * vCPU worker threads, started ahead of need. A worker thread takes ~40 ms to boot and load
 * the KVM binding; `ix run` starts them first thing (src/cli/prestart.ts), in parallel with
 * config validation and VM setup on the main thread, then hands each one its vCPU.
 * This module must stay light: it is loaded before anything else.
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function workerUrl(): URL {
  // From dist/ the worker sits next to this file; from src/ (tests) use the build.
  const here = new URL('./vcpu-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL('../../dist/vmm/vcpu-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error('the vCPU worker is not built: run `npm run build` first');
}

const spare: Worker[] = [];

/** Start n workers now; they wait for their vCPU. */
export function prestartVcpuWorkers(n: number): void {
  const url = workerUrl();
  for (let i = 0; i < n; i++) {
    const w = new Worker(url);
    w.unref(); // a spare worker must not keep the process alive
    spare.push(w);
  }
}

/** n workers: spare ones first, new ones for the rest. Spare ones left over are stopped. */
export function takeVcpuWorkers(n: number): Worker[] {
  const out = spare.splice(0, n);
  if (out.length < n) {
    const url = workerUrl();
    while (out.length < n) out.push(new Worker(url));
  }
  for (const w of spare.splice(0)) void w.terminate();
  for (const w of out) w.ref();
  return out;
}
