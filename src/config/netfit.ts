// Does guest memory hold what the configured connections need? Each dataplane core carves
// its TCP state (NET_MEMORY.bytesPerConnection per connection), its mbuf pool and its app
// heap from guest memory; the shared region and the kernel's fixed share come on top. A
// config that cannot fit is refused here, naming both ways out, rather than by the guest
// stopping at boot with "out of guest memory".
import { NET_MEMORY } from './defaults.js';
import type { ConfigIssue } from './errors.js';
import { ALLOWED } from './schema.js';
import type { DataplaneConfig } from './types.js';

const MiB = 1024 * 1024;

/** Bytes of guest memory a config needs at least (0 for the parts a NIC-less guest lacks). */
export function netMemoryNeed(cfg: Pick<DataplaneConfig, 'cores' | 'app' | 'nic' | 'net'>): number {
  const perCore = cfg.app.heapBytes + (cfg.nic !== null ? NET_MEMORY.mbufPoolBytes + cfg.net.maxConnections * NET_MEMORY.bytesPerConnection : 0);
  return NET_MEMORY.fixedBytes + cfg.app.sharedBytes + cfg.cores.count * perCore;
}

/** The issue to report when `memory` cannot hold the configured connections, else null. */
export function netMemoryIssue(cfg: DataplaneConfig, rawValue: unknown): ConfigIssue | null {
  if (cfg.nic === null) return null;
  const need = netMemoryNeed(cfg);
  if (need <= cfg.memoryBytes) return null;
  const mib = (n: number): string => `${Math.ceil(n / MiB)} MiB`;
  const room = cfg.memoryBytes - netMemoryNeed({ ...cfg, net: { maxConnections: 0 } });
  const fits = Math.max(0, Math.floor(room / cfg.cores.count / NET_MEMORY.bytesPerConnection));
  return {
    path: 'net.max_connections',
    present: rawValue !== undefined,
    value: rawValue ?? cfg.net.maxConnections,
    problem:
      `guest memory is too small: ${cfg.cores.count} core(s) x ${cfg.net.maxConnections} connections need ${mib(need)} with the heaps and mbuf pools, ` +
      `memory is ${mib(cfg.memoryBytes)}; raise \`memory\` to at least ${mib(need)} or lower max_connections to ${fits}`,
    allowed: ALLOWED['net.max_connections'],
  };
}
