// Entry of the AF_XDP kick thread (xdp_rings = "guest"; bundled as dist/bundle/nic-xsk-worker.cjs):
// the production loop (serve.ts) over XskKicker, which only kicks TX and wakes halted cores.
import { workerData } from 'node:worker_threads';
import type { WorkerData } from '../worker-data.js';
import { runNicWorkerWith } from '../serve.js';
import { EngineError } from '../events.js';
import { XskKicker } from './kicker.js';

runNicWorkerWith(workerData as WorkerData, (init, env) => {
  if (!init.xsk) throw new EngineError('the AF_XDP kick thread started without sockets (workerData.xsk)');
  return new XskKicker(init.plan.nqueues, { ...env, sockets: init.xsk.sockets, infoGpa: init.xsk.infoGpa });
});
