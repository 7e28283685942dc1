/**
 * vCPU worker threads, started ahead of need. A worker thread takes ~40 ms to boot and load
 * the KVM binding; `ix run` starts them first thing (src/cli/prestart.ts), in parallel with
 * config validation and VM setup on the main thread, then hands each one its vCPU.
 * This module must stay light: it is loaded before anything else.
 */
import { Worker } from 'node:worker_threads';
import { workerScriptUrl } from '../sys/worker-url.js';

function workerUrl(): URL {
  return workerScriptUrl(import.meta.url, 'vcpu-worker.js');
}

/**
 * A worker must not be stopped while it is still loading the KVM binding: koffi's native
 * module initialisation aborts the whole process ("FATAL ERROR: Error::ThrowAsJavaScriptException
 * napi_throw") when its environment is torn down under it. That is what `process.exit` or
 * `worker.terminate()` did to about one `ix run` in 25 that was refused early. So every
 * worker's 'loaded' message (posted once its imports are evaluated) is awaited before the
 * worker is stopped, and nothing exits the process while a spare is still loading.
 */
interface Spare {
  worker: Worker;
  /** resolves when the worker has loaded its modules, failed, or exited */
  settled: Promise<void>;
}

// The bundle has two copies of this module: in the entry (which prestarts the workers) and in
// the control plane it loads (which takes them). The pool itself lives on globalThis.
const POOL = Symbol.for('ix.vcpu-worker-pool');
const spare: Spare[] = ((globalThis as { [POOL]?: Spare[] })[POOL] ??= []);

function track(worker: Worker): Spare {
  const settled = new Promise<void>((res) => {
    const done = () => {
      worker.off('message', onMsg);
      res();
    };
    const onMsg = (m: { type?: string }) => {
      if (m?.type === 'loaded') done();
    };
    worker.on('message', onMsg);
    worker.once('error', done);
    worker.once('exit', done);
  });
  return { worker, settled };
}

/** Start n workers now; they wait for their vCPU. */
export function prestartVcpuWorkers(n: number): void {
  const url = workerUrl();
  for (let i = 0; i < n; i++) {
    const w = new Worker(url);
    w.unref(); // a spare worker must not keep the process alive
    spare.push(track(w));
  }
}

/** Stop workers once each has finished loading (see above); bounded by `timeoutMs`. */
async function stopWhenLoaded(list: Spare[], timeoutMs = 10_000): Promise<void> {
  await Promise.all(
    list.map(async (s) => {
      s.worker.ref(); // keep the process alive until this worker is stopped
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([s.settled, new Promise<void>((res) => (timer = setTimeout(res, timeoutMs)))]);
      clearTimeout(timer);
      await s.worker.terminate();
    }),
  );
}

/** n workers: spare ones first, new ones for the rest. Spare ones left over are stopped. */
export function takeVcpuWorkers(n: number): Worker[] {
  const out = spare.splice(0, n).map((s) => s.worker);
  if (out.length < n) {
    const url = workerUrl();
    while (out.length < n) out.push(new Worker(url));
  }
  void stopWhenLoaded(spare.splice(0));
  for (const w of out) w.ref();
  return out;
}

/**
 * Stop every spare worker safely. Call before ending the process early (a refused or
 * invalid `ix run`) instead of `process.exit`, which could abort a worker mid-load.
 */
export function releaseSpareVcpuWorkers(): Promise<void> {
  return stopWhenLoaded(spare.splice(0));
}
