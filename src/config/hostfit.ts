// Runtime checks of a valid config against THIS host: CPUs that exist, memory that fits,
// an app file that is there. Kept apart from the parser so that parsing stays pure and
// configs can be validated on any machine (`ix check` on a laptop, CI without KVM).
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { VHOST_MISSING, VHOST_NET_DEV } from '../nic/vhost/abi.js';
import { availableParallelism, totalmem } from 'node:os';
import { HostFitError } from './errors.js';
import type { DataplaneConfig } from './types.js';

export interface HostInfo {
  /** CPUs this process may run on (os.availableParallelism()). */
  cpus: number;
  totalMemBytes: number;
  fileKind(path: string): 'file' | 'missing' | 'not-a-file' | 'unreadable';
  /** /dev/vhost-net exists (absent: not asked, taken as present) */
  vhostNet?: boolean;
}

export function currentHost(): HostInfo {
  return {
    cpus: availableParallelism(),
    totalMemBytes: totalmem(),
    vhostNet: existsSync(VHOST_NET_DEV),
    fileKind(path) {
      try {
        if (!statSync(path).isFile()) return 'not-a-file';
        accessSync(path, constants.R_OK);
        return 'file';
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
      }
    },
  };
}

/** Every reason this config cannot run here, one sentence each (empty when it fits). */
export function hostFitProblems(cfg: DataplaneConfig, host: HostInfo = currentHost()): string[] {
  const out: string[] = [];
  const range = host.cpus === 1 ? 'CPU 0' : `CPUs 0 to ${host.cpus - 1}`;
  if (cfg.cores.cpus !== null) {
    const missing = cfg.cores.cpus.filter((c) => c >= host.cpus);
    if (missing.length > 0) {
      out.push(`cores = [${cfg.cores.cpus.join(', ')}]: CPU ${missing.join(', ')} not available here; this host offers ${range}`);
    }
    const dup = cfg.cores.cpus.find((c, i) => cfg.cores.cpus!.indexOf(c) !== i);
    if (dup !== undefined) out.push(`cores: CPU ${dup} is listed twice; each vCPU needs its own host CPU`);
  } else if (cfg.cores.count > host.cpus) {
    out.push(`cores = ${cfg.cores.count}: this host offers ${host.cpus} CPU${host.cpus === 1 ? '' : 's'}; each dataplane core needs its own host CPU, lower \`cores\``);
  }
  if (cfg.memoryBytes > host.totalMemBytes) {
    const mib = (n: number): string => `${Math.floor(n / 2 ** 20)} MiB`;
    out.push(`memory = ${mib(cfg.memoryBytes)}: more than this host's ${mib(host.totalMemBytes)} of RAM; lower \`memory\``);
  }
  if (cfg.nic?.backend === 'vhost' && host.vhostNet === false) out.push(`nic.backend = "vhost": ${VHOST_NET_DEV} is missing; ${VHOST_MISSING}`);
  const kind = host.fileKind(cfg.app.path);
  if (kind === 'missing') out.push(`app.path: ${cfg.app.path} does not exist; build the guest apps (npm run build:guest) or fix the path (it is relative to the config file)`);
  else if (kind === 'not-a-file') out.push(`app.path: ${cfg.app.path} is not a regular file; point it at the application ELF`);
  else if (kind === 'unreadable') out.push(`app.path: ${cfg.app.path} cannot be read by this user; fix its permissions`);
  return out;
}

/** Throw HostFitError when the config cannot run on this host. `ix run` calls this. */
export function checkHostFit(cfg: DataplaneConfig, host: HostInfo = currentHost()): void {
  const problems = hostFitProblems(cfg, host);
  if (problems.length > 0) throw new HostFitError(cfg.source, problems);
}
