// A NIC worker for the benchmark: the production loop and engine (src/nic/serve.ts) with a
// fake guest reflector (fake-guest.ts) polled in the same thread, so that the backend's own
// per-frame cost is measured without a second thread's wake-ups. Chosen by the benchmark
// through the backend's `worker` option; `extra.bufBase`: one buffer area per queue.
import { workerData } from 'node:worker_threads';
import type { WorkerData } from '../nic/worker-data.js';
import { runNicWorker } from '../nic/serve.js';
import { FakeGuestQueue } from './fake-guest.js';

const init = workerData as WorkerData & { extra: { bufBase: number[] } };
runNicWorker(init, (engine, mem) => {
  const guests = init.extra.bufBase.map((b, q) => new FakeGuestQueue(mem, init.rings.rx[q]!, init.rings.tx[q]!, b));
  for (const g of guests) g.init();
  return {
    attach: () => engine.attach(),
    pollOnce: () => {
      let work = engine.pollOnce();
      for (const g of guests) work += g.reflectOnce();
      return work;
    },
    sleepFds: () => engine.sleepFds(),
    close: () => engine.close(),
  };
});
