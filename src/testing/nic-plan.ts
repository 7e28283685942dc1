// A NIC plan for tests and benchmarks: planNic() over a small fixed [nic] config, with the
// knobs a test turns. By default it has no TAP: the test hands the backend datagram fds.
import type { NicPlan } from '../nic/plan.js';
import { planNic } from '../nic/plan.js';

export interface TestNicPlanOptions {
  nqueues?: number;
  queueSize?: number;
  reta?: number[];
  io?: NicPlan['backend']['io'];
  cpu?: number;
  spinUs?: number;
  idleTimeoutMs?: number;
  tap?: NicPlan['tap'];
  /** [nic] rss_key (80 hex digits); default: a random key, as a real run gets */
  rssKey?: string;
}

export function testNicPlan(o: TestNicPlanOptions = {}): NicPlan {
  const nq = o.nqueues ?? 1;
  const plan = planNic(
    { backend: 'tap', backendReason: 'test', interface: null, macGiven: true, tap: null, namespace: false, mac: '02:00:00:00:00:09', address: '10.0.0.2', prefix: 24, gateway: '10.0.0.1', arp: [], rssTableSize: 128, rssKey: o.rssKey ?? null, backendSpinUs: o.spinUs ?? 20, xdpRings: null, xdpRingsReason: null },
    nq,
    { tag: 'test' },
  );
  return {
    ...plan,
    queueSize: o.queueSize ?? plan.queueSize,
    rss: { key: plan.rss.key, reta: o.reta ?? plan.rss.reta },
    backend: {
      ...plan.backend,
      io: o.io ?? plan.backend.io,
      cpu: o.cpu ?? null,
      idleTimeoutMs: o.idleTimeoutMs ?? plan.backend.idleTimeoutMs,
    },
    tap: o.tap ?? null,
  };
}
