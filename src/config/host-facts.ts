// What this host offers, gathered for `ix check`. Pure fact collection, no judgement
// (doctor.ts judges), so tests can inject facts instead of depending on the machine.
// No FFI here: the KVM API version is asked through src/kvm/, loaded lazily.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './load.js';
import { hostFitProblems } from './hostfit.js';

export interface DeviceFacts {
  path: string;
  exists: boolean;
  /** e.g. "crw-rw----" */
  mode: string | null;
  /** e.g. "root:kvm" */
  owner: string | null;
  /** "ok", or the errno code of the failed read/write open (EACCES, ...); null if absent. */
  openRw: string | null;
}

export interface HostFacts {
  node: { version: string };
  kvm: DeviceFacts;
  kvmApi: { version: number | null; state: 'ok' | 'module-missing' | 'failed' | 'skipped'; error: string | null };
  platform: { pvm: boolean; intel: boolean; amd: boolean };
  tun: DeviceFacts;
  netns: { root: boolean; ipTool: boolean; usable: boolean | null; error: string | null };
  cpus: { available: number; online: number };
  guestBuild: { path: string; exists: boolean };
  /**
   * The in-kernel irqchip (informational: ix does not use it yet, docs/wake.md): what
   * KVM_CHECK_EXTENSION says, and the halt/wake probe's answer. Absent when not asked.
   */
  irq?: IrqFacts;
  /** AF_XDP (the "xdp" NIC backend): socket and program load, each "ok" or why not. Absent when not asked. */
  xdp?: { socket: string; program: string };
  /** vhost-net (the "vhost" NIC backend): "ok" with the features, "missing" or "unusable" with why. Absent when not asked. */
  vhost?: { status: 'ok' | 'missing' | 'unusable'; detail: string };
  /** Present when a config file was given to check. */
  config?: { path: string; error: string | null; hostFit: string[]; nicBackend?: string };
}

/** The package root: the nearest directory above this module with ix's package.json. */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown }).name === 'ix') return dir;
      } catch {
        // not ours; keep looking upwards
      }
    }
    const up = dirname(dir);
    if (up === dir) return from;
    dir = up;
  }
}

function idName(file: string, id: number): string {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[2] === String(id) && f[0]) return f[0];
    }
  } catch {
    // no /etc/passwd or /etc/group (containers): fall back to the number
  }
  return String(id);
}

function modeString(mode: number): string {
  const type = (mode & constants.S_IFMT) === constants.S_IFCHR ? 'c' : (mode & constants.S_IFMT) === constants.S_IFDIR ? 'd' : '-';
  const bits = 'rwxrwxrwx';
  let s = type;
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : '-';
  return s;
}

export function deviceFacts(path: string): DeviceFacts {
  let st;
  try {
    st = statSync(path);
  } catch {
    return { path, exists: false, mode: null, owner: null, openRw: null };
  }
  let openRw = 'ok';
  try {
    closeSync(openSync(path, constants.O_RDWR));
  } catch (e) {
    openRw = (e as NodeJS.ErrnoException).code ?? 'error';
  }
  return { path, exists: true, mode: modeString(st.mode), owner: `${idName('/etc/passwd', st.uid)}:${idName('/etc/group', st.gid)}`, openRw };
}


interface KvmLike {
  apiVersion(): number | Promise<number>;
  close?(): void;
}

/** KVM_GET_API_VERSION through src/kvm (the only place allowed to do ioctls). */
export async function kvmApiFacts(load: () => Promise<unknown> = () => import('../kvm/index.js')): Promise<HostFacts['kvmApi']> {
  let mod: { Kvm?: { open?: () => KvmLike | Promise<KvmLike> } };
  try {
    mod = (await load()) as typeof mod;
  } catch (e) {
    return { version: null, state: 'module-missing', error: `the KVM binding (src/kvm) could not be loaded: ${(e as Error).message}` };
  }
  if (typeof mod.Kvm?.open !== 'function') {
    return { version: null, state: 'module-missing', error: 'src/kvm does not export Kvm.open()' };
  }
  let kvm: KvmLike | undefined;
  try {
    kvm = await mod.Kvm.open();
    const version = await kvm.apiVersion();
    return { version, state: 'ok', error: null };
  } catch (e) {
    return { version: null, state: 'failed', error: (e as Error).message };
  } finally {
    try {
      kvm?.close?.();
    } catch {
      // closing a probe fd cannot matter to the report
    }
  }
}

export interface IrqFacts {
  state: 'ok' | 'failed' | 'skipped';
  caps: Record<string, number> | null;
  /** with KVM_CREATE_IRQCHIP, an idle HLT slept inside KVM_RUN (no KVM_EXIT_HLT) */
  haltBlocksInKernel: boolean | null;
  /** every write to an eventfd bound with KVM_IRQFD (MSI route) woke the guest's handler */
  irqfdWakes: boolean | null;
  /** median write(eventfd) -> guest handler exit, µs (noisy; a real-mode guest) */
  wakeMedianUs: number | null;
  error: string | null;
}

interface HaltProbeModule {
  irqCapabilities(): Record<string, number>;
  probeHaltWake(o: { route: 'msi'; samples: number; watchMs: number }): Promise<{
    haltBlocksInKernel: boolean; delivered: number; samples: number; wakeUs: { median: number } | null; error: string | null;
  }>;
}

/** The halt/wake probe of src/vmm/halt-probe.ts (a tiny guest, ~0.5 s), loaded lazily. */
export async function irqFacts(load: () => Promise<unknown> = () => import('../vmm/halt-probe.js')): Promise<IrqFacts> {
  const none = { caps: null, haltBlocksInKernel: null, irqfdWakes: null, wakeMedianUs: null };
  let mod: HaltProbeModule;
  try {
    mod = (await load()) as HaltProbeModule;
  } catch (e) {
    return { state: 'skipped', ...none, error: `the probe (src/vmm/halt-probe) could not be loaded: ${(e as Error).message}` };
  }
  let caps: Record<string, number>;
  try {
    caps = mod.irqCapabilities();
  } catch (e) {
    return { state: 'failed', ...none, error: (e as Error).message };
  }
  if (!caps.irqchip || !caps.irqfd) return { state: 'ok', ...none, caps, error: null };
  try {
    const r = await mod.probeHaltWake({ route: 'msi', samples: 10, watchMs: 100 });
    return {
      state: r.error === null ? 'ok' : 'failed', caps, haltBlocksInKernel: r.haltBlocksInKernel,
      irqfdWakes: r.delivered === r.samples, wakeMedianUs: r.wakeUs?.median ?? null, error: r.error,
    };
  } catch (e) {
    return { state: 'failed', ...none, caps, error: (e as Error).message };
  }
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error) return { ok: false, out: r.error.message };
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/**
 * Whether network namespaces can be created: as root, add and delete a throwaway
 * namespace with a unique ix- name (removed even if the delete is the failing step's
 * cause for concern: a failed add leaves nothing behind).
 */
export function netnsFacts(): HostFacts['netns'] {
  const root = process.getuid?.() === 0;
  const ipTool = run('ip', ['-V']).ok;
  if (!ipTool) return { root, ipTool, usable: null, error: 'the `ip` command (iproute2) was not found' };
  if (!root) return { root, ipTool, usable: null, error: null };
  const name = `ix-check-${process.pid}-${randomBytes(3).toString('hex')}`;
  const add = run('ip', ['netns', 'add', name]);
  if (!add.ok) return { root, ipTool, usable: false, error: `ip netns add failed: ${add.out}` };
  const del = run('ip', ['netns', 'del', name]);
  if (!del.ok) return { root, ipTool, usable: false, error: `ip netns del ${name} failed: ${del.out}` };
  return { root, ipTool, usable: true, error: null };
}

/** AF_XDP support, asked through src/nic/xdp/probe.ts (imported lazily, like the KVM binding). */
export async function xdpFacts(): Promise<NonNullable<HostFacts['xdp']>> {
  try {
    const { probeXdp } = await import('../nic/xdp/probe.js');
    return probeXdp();
  } catch (e) {
    const msg = `could not ask: ${(e as Error).message}`;
    return { socket: msg, program: msg };
  }
}

/** vhost-net support, asked through src/nic/vhost/probe.ts (imported lazily, like the KVM binding). */
export async function vhostFacts(): Promise<NonNullable<HostFacts['vhost']>> {
  try {
    const { probeVhost } = await import('../nic/vhost/probe.js');
    return probeVhost();
  } catch (e) {
    return { status: 'unusable', detail: `could not ask: ${(e as Error).message}` };
  }
}

function configFacts(path: string): NonNullable<HostFacts['config']> {
  try {
    const cfg = loadConfig(path);
    const nicBackend = cfg.nic
      ? `${cfg.nic.backend} (${cfg.nic.backendReason})` + (cfg.nic.backend === 'xdp' ? `; xdp_rings ${cfg.nic.xdpRings} (${cfg.nic.xdpRingsReason})` : '')
      : undefined;
    return { path: cfg.source, error: null, hostFit: hostFitProblems(cfg), ...(nicBackend ? { nicBackend } : {}) };
  } catch (e) {
    return { path, error: (e as Error).message, hostFit: [] };
  }
}

/** Gather every fact `ix check` judges. Side effects: opens devices, adds/removes one netns. */
export async function gatherFacts(opts: { configPath?: string; root?: string; irq?: boolean } = {}): Promise<HostFacts> {
  const kvm = deviceFacts('/dev/kvm');
  const kvmApi: HostFacts['kvmApi'] =
    kvm.openRw === 'ok' ? await kvmApiFacts() : { version: null, state: 'skipped', error: '/dev/kvm cannot be opened' };
  const guestKernel = join(opts.root ?? packageRoot(), 'guest', 'build', 'kernel.elf');
  const facts: HostFacts = {
    node: { version: process.versions.node },
    kvm,
    kvmApi,
    platform: {
      pvm: existsSync('/sys/module/kvm_pvm'),
      intel: existsSync('/sys/module/kvm_intel'),
      amd: existsSync('/sys/module/kvm_amd'),
    },
    tun: deviceFacts('/dev/net/tun'),
    netns: netnsFacts(),
    cpus: { available: availableParallelism(), online: cpus().length },
    guestBuild: { path: guestKernel, exists: existsSync(guestKernel) },
  };
  if (opts.irq === true && kvmApi.state === 'ok') facts.irq = await irqFacts();
  facts.xdp = await xdpFacts();
  facts.vhost = await vhostFacts();
  if (opts.configPath !== undefined) facts.config = configFacts(opts.configPath);
  return facts;
}
