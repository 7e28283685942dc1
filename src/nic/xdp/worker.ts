// Entry of the XDP backend's worker thread (bundled as dist/bundle/nic-xdp-worker.cjs): the
// production loop (serve.ts) over the XDP engine.
import { workerData } from 'node:worker_threads';
import type { WorkerData } from '../worker-data.js';
import { runNicWorkerWith } from '../serve.js';
import { EngineError } from '../events.js';
import { XdpEngine } from './engine.js';

runNicWorkerWith(workerData as WorkerData, (init, env) => {
  if (!init.xdp) throw new EngineError('the XDP worker started without sockets (workerData.xdp)');
  return new XdpEngine(init.plan, { ...env, rings: init.rings, sockets: init.xdp.sockets, bounce: init.xdp.bounce });
});
