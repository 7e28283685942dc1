// Entry of the NIC backend's worker thread (bundled as dist/bundle/nic-worker.cjs): the
// production loop (serve.ts) over the engine, nothing else.
import { workerData } from 'node:worker_threads';
import type { WorkerData } from './worker-data.js';
import { runNicWorker } from './serve.js';

runNicWorker(workerData as WorkerData);
