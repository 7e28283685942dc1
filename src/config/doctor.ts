// `ix check` judgement: turn host facts into a list of checks, each ok / warn / fail /
// skip with a sentence a person can act on. Pure, so every rule is testable with
// injected facts. "fail" means something a dataplane needs is missing (exit status 1);
// "warn" means only some configs or the network tests are affected.
import type { HostFacts } from './host-facts.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckItem {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  hint?: string;
}

/** What the lead's probe boot reports: did a guest reach native mode within 1 s. */
export interface ProbeResult {
  platform: string;
  native: boolean;
  ms: number;
  /** the boundary protection = "auto" resolved to in the probe guest (absent: not known) */
  protection?: string;
}

export type ProbeOutcome = { ran: false } | { ran: true; result: ProbeResult } | { ran: true; error: string };

export interface CheckReport {
  ok: boolean;
  checks: CheckItem[];
  facts: HostFacts;
}

/** The KVM API version every Linux since 2.6.22 reports; ix speaks only this one. */
export const KVM_API_VERSION = 12;
export const NODE_MAJOR_MIN = 20;

function item(id: string, title: string, status: CheckStatus, detail: string, hint?: string): CheckItem {
  return hint === undefined ? { id, title, status, detail } : { id, title, status, detail, hint };
}

function openHint(dev: HostFacts['kvm'], what: string): string | undefined {
  if (dev.openRw === 'EACCES' || dev.openRw === 'EPERM') {
    const group = dev.owner?.split(':')[1];
    return group !== undefined && group !== 'root'
      ? `add this user to the "${group}" group (sudo usermod -aG ${group} $USER, then log in again) or run as root`
      : `give this user read/write access to ${dev.path} (it is ${dev.mode ?? '?'} ${dev.owner ?? '?'}) or run as root; ${what}`;
  }
  return undefined;
}

function device(dev: HostFacts['kvm']): string {
  return `${dev.path} ${dev.mode ?? ''} ${dev.owner ?? ''}`.replace(/\s+/g, ' ').trim();
}

/** Informational: whether `wake = "auto"` wakes idle cores in the host kernel here (docs/wake.md). */
function irqItem(f: NonNullable<HostFacts['irq']>): CheckItem {
  const title = 'in-kernel irqchip';
  if (f.state !== 'ok') return item('irqchip', title, 'skip', `not known: ${f.error ?? 'not probed'}`);
  const caps = f.caps ?? {};
  const have = Object.entries(caps).filter(([, v]) => v > 0).map(([k]) => k);
  const missing = Object.entries(caps).filter(([, v]) => v === 0).map(([k]) => k);
  const capText = `KVM offers ${have.join(', ') || 'none of the interrupt features'}${missing.length > 0 ? ` (not ${missing.join(', ')})` : ''}`;
  if (f.haltBlocksInKernel === null) return item('irqchip', title, 'skip', `${capText}; the halt/wake probe needs IRQCHIP and IRQFD`);
  const hlt = f.haltBlocksInKernel ? 'an idle HLT sleeps inside KVM_RUN' : 'an idle HLT still exits to user space';
  const wake = f.irqfdWakes ? `an irqfd wakes it (median ${f.wakeMedianUs ?? '?'} µs, real-mode probe guest)` : 'an irqfd did not wake it every time';
  const works = f.haltBlocksInKernel && f.irqfdWakes;
  const path = works
    ? 'Informational: wake = "auto" wakes the idle cores of dataplanes with a NIC this way'
    : 'Informational: wake = "auto" keeps waking idle cores through user space';
  return item('irqchip', title, works ? 'ok' : 'skip', `${capText}; ${hlt}; ${wake}. ${path} (docs/wake.md)`);
}

export function evaluate(facts: HostFacts, probe: ProbeOutcome = { ran: false }): CheckReport {
  const c: CheckItem[] = [];

  const major = Number(facts.node.version.split('.')[0]);
  c.push(
    major >= NODE_MAJOR_MIN
      ? item('node', 'Node.js', 'ok', `version ${facts.node.version}`)
      : item('node', 'Node.js', 'fail', `version ${facts.node.version} is too old; ix needs ${NODE_MAJOR_MIN} or newer`, 'install Node.js 20 or newer'),
  );

  const kvm = facts.kvm;
  if (!kvm.exists) {
    c.push(item('kvm-device', '/dev/kvm', 'fail', 'absent: this host offers no KVM', 'enable hardware virtualization (VT-x/AMD-V) in the firmware, load kvm_intel or kvm_amd, or use a VM with nested virtualization or PVM'));
  } else if (kvm.openRw !== 'ok') {
    c.push(item('kvm-device', '/dev/kvm', 'fail', `present (${device(kvm)}) but cannot be opened read/write: ${kvm.openRw}`, openHint(kvm, 'ix needs it to create VMs')));
  } else {
    c.push(item('kvm-device', '/dev/kvm', 'ok', `present (${device(kvm)}), opens read/write`));
  }

  const api = facts.kvmApi;
  if (api.state === 'skipped') {
    c.push(item('kvm-api', 'KVM API version', 'skip', `not asked: ${api.error ?? '/dev/kvm unusable'}`));
  } else if (api.state === 'module-missing') {
    c.push(item('kvm-api', 'KVM API version', 'warn', `unknown: ${api.error ?? 'no KVM binding'}`, 'run `npm run build` so that the KVM binding is available'));
  } else if (api.state === 'failed' || api.version === null) {
    c.push(item('kvm-api', 'KVM API version', 'fail', `KVM_GET_API_VERSION failed: ${api.error ?? 'no answer'}`));
  } else if (api.version !== KVM_API_VERSION) {
    c.push(item('kvm-api', 'KVM API version', 'fail', `version ${api.version}; ix needs ${KVM_API_VERSION}`, 'use a Linux kernel with the stable KVM API (2.6.22 or newer)'));
  } else {
    c.push(item('kvm-api', 'KVM API version', 'ok', `version ${api.version}`));
  }

  const p = facts.platform;
  const kinds = [p.pvm && 'PVM (kvm_pvm)', p.intel && 'hardware VT-x (kvm_intel)', p.amd && 'hardware AMD-V (kvm_amd)'].filter((x): x is string => x !== false);
  if (kinds.length === 0) {
    c.push(item('platform', 'virtualization platform', 'warn', 'unknown: none of kvm_pvm, kvm_intel, kvm_amd is in /sys/module', 'the guest detects its platform at boot; run the probe boot to see whether it reaches native mode'));
  } else {
    const note = p.pvm ? '; supervisor code runs at native speed only through the PVM ABI (the probe boot shows whether the guest gets there)' : '';
    c.push(item('platform', 'virtualization platform', 'ok', kinds.join(' and ') + note));
  }

  const tun = facts.tun;
  if (!tun.exists) {
    c.push(item('tun', '/dev/net/tun', 'warn', 'absent: dataplanes with a [nic] cannot run', 'load the tun module (modprobe tun)'));
  } else if (tun.openRw !== 'ok') {
    c.push(item('tun', '/dev/net/tun', 'warn', `present (${device(tun)}) but cannot be opened read/write: ${tun.openRw}; dataplanes with a [nic] cannot run`, openHint(tun, 'TAP devices need it')));
  } else {
    c.push(item('tun', '/dev/net/tun', 'ok', `present (${device(tun)}), opens read/write`));
  }

  if (facts.xdp !== undefined) {
    const x = facts.xdp;
    if (x.socket === 'ok' && x.program === 'ok')
      c.push(item('xdp', 'AF_XDP', 'ok', 'AF_XDP sockets open and the dataplane\'s XDP program loads: [nic] backend "xdp" (and "auto" with an `interface`) can attach to an existing interface (generic XDP, copy mode)'));
    else
      c.push(item('xdp', 'AF_XDP', 'warn', `unusable: socket: ${x.socket}; program: ${x.program}; configs with backend "xdp" (or an \`interface\`) cannot run, "tap" still can`, 'needs CONFIG_XDP_SOCKETS=y and CONFIG_BPF_SYSCALL=y, and root (CAP_NET_ADMIN, CAP_BPF)'));
  }

  if (facts.vhost !== undefined) {
    const v = facts.vhost;
    if (v.status === 'ok') c.push(item('vhost', 'vhost-net', 'ok', `/dev/vhost-net ${v.detail}: [nic] backend "vhost" can run (one core)`));
    else c.push(item('vhost', 'vhost-net', 'warn', `${v.status}: ${v.detail}; configs with backend "vhost" cannot run, "tap" still can`, 'modprobe vhost_net (CONFIG_VHOST_NET), and run as root'));
  }

  const ns = facts.netns;
  if (!ns.ipTool) {
    c.push(item('netns', 'network namespaces', 'warn', `unusable: ${ns.error ?? 'no ip command'}; \`namespace = true\` configs and the network tests cannot run`, 'install iproute2'));
  } else if (!ns.root) {
    c.push(item('netns', 'network namespaces', 'warn', 'not running as root: `ip netns add` needs root; `namespace = true` configs and the network tests cannot run', 'run as root (or with CAP_SYS_ADMIN and CAP_NET_ADMIN)'));
  } else if (ns.usable !== true) {
    c.push(item('netns', 'network namespaces', 'warn', `unusable: ${ns.error ?? 'ip netns failed'}`));
  } else {
    c.push(item('netns', 'network namespaces', 'ok', 'root; a namespace was created and removed'));
  }

  const cpu = facts.cpus;
  c.push(
    cpu.available >= 1
      ? item('cpus', 'host CPUs', 'ok', `${cpu.available} available to this process (${cpu.online} online); a dataplane may use up to ${cpu.available} cores`)
      : item('cpus', 'host CPUs', 'fail', 'no CPU available to this process'),
  );

  const g = facts.guestBuild;
  c.push(
    g.exists
      ? item('guest-build', 'guest kernel build', 'ok', `${g.path} present`)
      : item('guest-build', 'guest kernel build', 'fail', `${g.path} missing`, 'run `npm run build:guest` (needs gcc and make)'),
  );

  if (!probe.ran) {
    c.push(item('probe-boot', 'probe boot', 'skip', 'not run'));
  } else if ('error' in probe) {
    c.push(item('probe-boot', 'probe boot', 'fail', `failed: ${probe.error}`));
  } else if (probe.result.native) {
    const prot = probe.result.protection !== undefined ? `; protection "auto" chooses "${probe.result.protection}" here` : '';
    c.push(item('probe-boot', 'probe boot', 'ok', `platform ${probe.result.platform}: the guest reached native mode in ${probe.result.ms} ms${prot}`));
  } else {
    c.push(item('probe-boot', 'probe boot', 'fail', `platform ${probe.result.platform}: the guest did not reach native mode within 1 s (${probe.result.ms} ms); it would run emulated, far too slowly`, 'see docs/pvm.md and `ix run --log-level debug`'));
  }

  if (facts.irq !== undefined) c.push(irqItem(facts.irq));

  if (facts.config !== undefined) {
    const cf = facts.config;
    if (cf.error !== null) c.push(item('config', 'config file', 'fail', cf.error));
    else if (cf.hostFit.length > 0) c.push(item('config', 'config file', 'fail', `${cf.path} is valid but does not fit this host:\n${cf.hostFit.join('\n')}`));
    else if (cf.nicBackend?.startsWith('xdp') && facts.xdp && (facts.xdp.socket !== 'ok' || facts.xdp.program !== 'ok'))
      c.push(item('config', 'config file', 'fail', `${cf.path} is valid but its NIC backend ${cf.nicBackend} needs AF_XDP, which this host does not offer (see the AF_XDP line)`));
    else if (cf.nicBackend?.startsWith('vhost') && facts.vhost && facts.vhost.status !== 'ok')
      c.push(item('config', 'config file', 'fail', `${cf.path} is valid but its NIC backend ${cf.nicBackend} needs vhost-net, which this host does not offer (see the vhost-net line)`));
    else c.push(item('config', 'config file', 'ok', `${cf.path} is valid and fits this host${cf.nicBackend ? `; NIC backend ${cf.nicBackend}` : ''}`));
  }

  return { ok: c.every((x) => x.status !== 'fail'), checks: c, facts };
}
