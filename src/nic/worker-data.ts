// What the NIC worker thread starts with: the plan, unchanged, and what exists only at run
// time (guest memory, ring addresses, fds, shared buffers). Structured-cloneable.
import type { NicVqAddrs } from '../abi/nic.js';
import type { NicPlan } from './plan.js';
import type { XdpBounce } from './xdp/engine.js';
import type { XskSocket } from './xdp/xsk.js';

export interface WorkerData {
  plan: NicPlan;
  /** guest memory: host address of guest-physical 0, and its size */
  base: number;
  size: number;
  rings: { rx: NicVqAddrs[]; tx: NicVqAddrs[] };
  /** one TAP queue fd per queue pair */
  fds: number[];
  /** Float64Array of NCOUNTERS per queue (stats.ts) */
  stats: SharedArrayBuffer;
  /** the redirection table the control plane rewrites (reta.ts); absent: plan.rss.reta, fixed */
  reta?: SharedArrayBuffer;
  /** Int32Array of control cells (src/abi/nic-ctl.ts) */
  ctl: SharedArrayBuffer;
  kickFd: number;
  stopFd: number;
  wakeFds: number[];
  /** post a message per wake (the caller gave onWake) */
  postWakes: boolean;
  /** the XDP backend: its sockets (fds and mapped rings) and the TX bounce slots */
  xdp?: { sockets: XskSocket[]; bounce: XdpBounce };
  /** the AF_XDP kick thread (xdp_rings = "guest"): the sockets and the ix_xsk_info page */
  xsk?: { sockets: XskSocket[]; infoGpa: number };
  /** a worker other than the production one (benchmarks) gets this */
  extra?: unknown;
}
