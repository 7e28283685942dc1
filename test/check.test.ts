// `ix check`: judgement of injected host facts (so the tests do not depend on this host),
// the --json shape, the exit status, the probe-boot hook, and one real gathering run.
import { spawnSync } from 'node:child_process';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerCheck, renderText, runCheck, type CheckDeps, type HostFacts, type ProbeResult } from '../src/cli/check.js';
import { evaluate, KVM_API_VERSION } from '../src/config/doctor.js';
import { deviceFacts, gatherFacts, irqFacts, kvmApiFacts, packageRoot } from '../src/config/host-facts.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A host that has everything. Each test breaks one thing. */
function goodFacts(): HostFacts {
  return {
    node: { version: '20.20.2' },
    kvm: { path: '/dev/kvm', exists: true, mode: 'crw-rw----', owner: 'root:kvm', openRw: 'ok' },
    kvmApi: { version: KVM_API_VERSION, state: 'ok', error: null },
    platform: { pvm: false, intel: true, amd: false },
    tun: { path: '/dev/net/tun', exists: true, mode: 'crw-rw-rw-', owner: 'root:root', openRw: 'ok' },
    netns: { root: true, ipTool: true, usable: true, error: null },
    cpus: { available: 4, online: 4 },
    guestBuild: { path: '/opt/ix/guest/build/kernel.elf', exists: true },
  };
}

function statusOf(facts: HostFacts, id: string): string | undefined {
  return evaluate(facts).checks.find((c) => c.id === id)?.status;
}

describe('evaluate (injected facts)', () => {
  it('a complete host is ready; the probe boot is reported "not run"', () => {
    const r = evaluate(goodFacts());
    expect(r.ok).toBe(true);
    expect(r.checks.map((c) => c.id)).toEqual(['node', 'kvm-device', 'kvm-api', 'platform', 'tun', 'netns', 'cpus', 'guest-build', 'probe-boot']);
    expect(r.checks.filter((c) => c.status !== 'ok').map((c) => [c.id, c.status, c.detail])).toEqual([['probe-boot', 'skip', 'not run']]);
  });

  it('no /dev/kvm: fail, and the API version is not asked', () => {
    const f = goodFacts();
    f.kvm = { path: '/dev/kvm', exists: false, mode: null, owner: null, openRw: null };
    f.kvmApi = { version: null, state: 'skipped', error: '/dev/kvm cannot be opened' };
    const r = evaluate(f);
    expect(r.ok).toBe(false);
    expect(r.checks.find((c) => c.id === 'kvm-device')).toMatchObject({ status: 'fail', detail: 'absent: this host offers no KVM' });
    expect(r.checks.find((c) => c.id === 'kvm-api')).toMatchObject({ status: 'skip' });
  });

  it('/dev/kvm without permission: fail with a hint naming its group', () => {
    const f = goodFacts();
    f.kvm.openRw = 'EACCES';
    const c = evaluate(f).checks.find((x) => x.id === 'kvm-device')!;
    expect(c.status).toBe('fail');
    expect(c.detail).toBe('present (/dev/kvm crw-rw---- root:kvm) but cannot be opened read/write: EACCES');
    expect(c.hint).toContain('add this user to the "kvm" group');
  });

  it('KVM API version: 12 ok, other fails, ioctl failure fails, missing binding only warns', () => {
    const f = goodFacts();
    f.kvmApi = { version: 11, state: 'ok', error: null };
    expect(statusOf(f, 'kvm-api')).toBe('fail');
    expect(evaluate(f).ok).toBe(false);
    f.kvmApi = { version: null, state: 'failed', error: 'KVM_GET_API_VERSION: EINVAL' };
    expect(statusOf(f, 'kvm-api')).toBe('fail');
    f.kvmApi = { version: null, state: 'module-missing', error: 'no src/kvm' };
    expect(statusOf(f, 'kvm-api')).toBe('warn');
    expect(evaluate(f).ok).toBe(true);
  });

  it('platform: PVM, VT-x, AMD-V, unknown', () => {
    const f = goodFacts();
    f.platform = { pvm: true, intel: false, amd: false };
    expect(evaluate(f).checks.find((c) => c.id === 'platform')!.detail).toMatch(/^PVM \(kvm_pvm\)/);
    f.platform = { pvm: false, intel: false, amd: true };
    expect(evaluate(f).checks.find((c) => c.id === 'platform')!.detail).toBe('hardware AMD-V (kvm_amd)');
    f.platform = { pvm: false, intel: true, amd: false };
    expect(evaluate(f).checks.find((c) => c.id === 'platform')!.detail).toBe('hardware VT-x (kvm_intel)');
    f.platform = { pvm: false, intel: false, amd: false };
    expect(statusOf(f, 'platform')).toBe('warn');
    expect(evaluate(f).ok).toBe(true);
  });

  it('missing TUN or namespaces only warn (they matter for [nic] configs and network tests)', () => {
    const f = goodFacts();
    f.tun = { path: '/dev/net/tun', exists: false, mode: null, owner: null, openRw: null };
    f.netns = { root: false, ipTool: true, usable: null, error: null };
    const r = evaluate(f);
    expect(r.ok).toBe(true);
    expect(r.checks.find((c) => c.id === 'tun')).toMatchObject({ status: 'warn', detail: 'absent: dataplanes with a [nic] cannot run' });
    expect(r.checks.find((c) => c.id === 'netns')!.detail).toContain('not running as root');
    f.netns = { root: true, ipTool: false, usable: null, error: 'the `ip` command (iproute2) was not found' };
    expect(evaluate(f).checks.find((c) => c.id === 'netns')!.hint).toBe('install iproute2');
    f.netns = { root: true, ipTool: true, usable: false, error: 'ip netns add failed: Operation not permitted' };
    expect(evaluate(f).checks.find((c) => c.id === 'netns')).toMatchObject({ status: 'warn', detail: 'unusable: ip netns add failed: Operation not permitted' });
  });

  it('missing guest build fails with the command to build it', () => {
    const f = goodFacts();
    f.guestBuild.exists = false;
    const r = evaluate(f);
    expect(r.ok).toBe(false);
    expect(r.checks.find((c) => c.id === 'guest-build')).toMatchObject({ status: 'fail', detail: '/opt/ix/guest/build/kernel.elf missing', hint: 'run `npm run build:guest` (needs gcc and make)' });
  });

  it('old Node fails; no CPUs fails', () => {
    const f = goodFacts();
    f.node.version = '18.19.0';
    expect(statusOf(f, 'node')).toBe('fail');
    const g = goodFacts();
    g.cpus = { available: 0, online: 0 };
    expect(statusOf(g, 'cpus')).toBe('fail');
  });

  it('probe boot: native ok, not native fails, error fails', () => {
    const ok = evaluate(goodFacts(), { ran: true, result: { platform: 'pvm', native: true, ms: 120 } });
    expect(ok.checks.find((c) => c.id === 'probe-boot')).toMatchObject({ status: 'ok', detail: 'platform pvm: the guest reached native mode in 120 ms' });
    expect(ok.ok).toBe(true);
    const slow = evaluate(goodFacts(), { ran: true, result: { platform: 'pvm', native: false, ms: 1000 } });
    expect(slow.ok).toBe(false);
    const err = evaluate(goodFacts(), { ran: true, error: 'KVM_RUN: EFAULT' });
    expect(err.checks.find((c) => c.id === 'probe-boot')).toMatchObject({ status: 'fail', detail: 'failed: KVM_RUN: EFAULT' });
  });

  it('a config: invalid fails, not fitting fails, fitting is ok', () => {
    const f = goodFacts();
    f.config = { path: '/srv/dp.toml', error: '1 problem in dataplane config /srv/dp.toml ...', hostFit: [] };
    expect(evaluate(f).checks.at(-1)).toMatchObject({ id: 'config', status: 'fail' });
    f.config = { path: '/srv/dp.toml', error: null, hostFit: ['cores = 8: this host offers 4 CPUs'] };
    expect(evaluate(f).checks.at(-1)!.detail).toBe('/srv/dp.toml is valid but does not fit this host:\ncores = 8: this host offers 4 CPUs');
    f.config = { path: '/srv/dp.toml', error: null, hostFit: [] };
    expect(evaluate(f)).toMatchObject({ ok: true });
  });
});

/** Run `ix check ...` through commander with injected facts; returns output and exit code. */
async function cli(args: string[], facts: HostFacts, extra: Partial<CheckDeps> = {}): Promise<{ out: string; code: number | undefined; configPath: string | undefined }> {
  let out = '';
  let code: number | undefined;
  let configPath: string | undefined;
  const program = new Command().exitOverride();
  registerCheck(program, {
    gather: async (o) => {
      configPath = o.configPath;
      return facts;
    },
    write: (t) => void (out += t),
    setExitCode: (c) => void (code = c),
    ...extra,
  });
  await program.parseAsync(['node', 'ix', 'check', ...args]);
  return { out, code, configPath };
}

describe('ix check command', () => {
  it('--json prints the report: ok, checks[{id,title,status,detail,hint?}], facts', async () => {
    const facts = goodFacts();
    facts.tun.openRw = 'EPERM';
    const { out, code } = await cli(['--json'], facts);
    const j = JSON.parse(out) as Record<string, unknown>;
    expect(Object.keys(j).sort()).toEqual(['checks', 'facts', 'ok']);
    expect(j['ok']).toBe(true);
    expect(j['facts']).toEqual(facts);
    const checks = j['checks'] as Record<string, unknown>[];
    for (const c of checks) {
      expect(Object.keys(c).every((k) => ['id', 'title', 'status', 'detail', 'hint'].includes(k))).toBe(true);
      expect(['ok', 'warn', 'fail', 'skip']).toContain(c['status']);
      expect(typeof c['detail']).toBe('string');
    }
    expect(checks.find((c) => c['id'] === 'tun')).toMatchObject({ status: 'warn' });
    expect(code).toBe(0);
  });

  it('exit status 1 when something needed is missing, with a text report saying so', async () => {
    const facts = goodFacts();
    facts.guestBuild.exists = false;
    const { out, code } = await cli([], facts);
    expect(code).toBe(1);
    expect(out).toMatch(/FAIL {2}guest kernel build +\/opt\/ix\/guest\/build\/kernel.elf missing/);
    expect(out).toContain('-> run `npm run build:guest`');
    expect(out.trimEnd().split('\n').at(-1)).toBe('not ready: 1 needed thing is missing (FAIL above)');
  });

  it('exit status 0 on a complete host; warnings are counted', async () => {
    const facts = goodFacts();
    facts.platform = { pvm: false, intel: false, amd: false };
    const { out, code } = await cli([], facts);
    expect(code).toBe(0);
    expect(out.trimEnd().split('\n').at(-1)).toBe('ready: everything needed is present (1 warning: some configs or tests cannot run)');
    expect(out).toContain('--    probe boot');
  });

  it('passes the config argument to the fact gathering', async () => {
    const { configPath } = await cli(['configs/echo.toml'], goodFacts());
    expect(configPath).toBe('configs/echo.toml');
  });

  it('calls the probe-boot hook when given', async () => {
    const probe = async (): Promise<ProbeResult> => ({ platform: 'vmx', native: true, ms: 42 });
    const { out, code } = await cli(['--json'], goodFacts(), { probeBoot: probe });
    const j = JSON.parse(out) as { checks: { id: string; status: string; detail: string }[] };
    expect(j.checks.find((c) => c.id === 'probe-boot')).toEqual({ id: 'probe-boot', title: 'probe boot', status: 'ok', detail: 'platform vmx: the guest reached native mode in 42 ms' });
    expect(code).toBe(0);
    const failing = await cli([], goodFacts(), { probeBoot: () => Promise.reject(new Error('no kernel')) });
    expect(failing.code).toBe(1);
    expect(failing.out).toContain('probe boot');
    expect(failing.out).toContain('failed: no kernel');
  });

  it('renderText lists every check', async () => {
    const r = await runCheck({}, { gather: async () => goodFacts() });
    const text = renderText(r);
    for (const c of r.checks) expect(text).toContain(c.title);
  });
});

describe('KVM API version through src/kvm (injected module)', () => {
  it('asks Kvm.open().apiVersion() and closes the handle', async () => {
    let closed = 0;
    const mod = { Kvm: { open: () => ({ apiVersion: () => 12, close: () => void closed++ }) } };
    expect(await kvmApiFacts(async () => mod)).toEqual({ version: 12, state: 'ok', error: null });
    expect(closed).toBe(1);
  });
  it('accepts async open and apiVersion', async () => {
    const mod = { Kvm: { open: async () => ({ apiVersion: async () => 12 }) } };
    expect(await kvmApiFacts(async () => mod)).toMatchObject({ version: 12, state: 'ok' });
  });
  it('tolerates the module being absent or incomplete', async () => {
    expect(await kvmApiFacts(() => Promise.reject(new Error('Cannot find module')))).toMatchObject({ version: null, state: 'module-missing' });
    expect(await kvmApiFacts(async () => ({}))).toEqual({ version: null, state: 'module-missing', error: 'src/kvm does not export Kvm.open()' });
  });
  it('reports a failing ioctl and still closes', async () => {
    let closed = 0;
    const mod = { Kvm: { open: () => ({ apiVersion: () => { throw new Error('KVM_GET_API_VERSION failed: EBADF'); }, close: () => void closed++ }) } };
    expect(await kvmApiFacts(async () => mod)).toEqual({ version: null, state: 'failed', error: 'KVM_GET_API_VERSION failed: EBADF' });
    expect(closed).toBe(1);
  });
});

describe('in-kernel irqchip (informational; injected halt/wake probe)', () => {
  const caps = { irqchip: 1, irqfd: 1, splitIrqchip: 1, irqRouting: 4096, haltPoll: 1, tscDeadlineTimer: 1 };
  const probe = (over: object = {}) => async () => ({
    irqCapabilities: () => caps,
    probeHaltWake: async () => ({ haltBlocksInKernel: true, delivered: 10, samples: 10, wakeUs: { median: 42 }, error: null, ...over }),
  });

  it('HLT sleeping in the kernel and woken by an irqfd is an ok item, never a failure', async () => {
    const f = goodFacts();
    f.irq = await irqFacts(probe());
    expect(f.irq).toEqual({ state: 'ok', caps, haltBlocksInKernel: true, irqfdWakes: true, wakeMedianUs: 42, error: null });
    const it = evaluate(f).checks.find((c) => c.id === 'irqchip')!;
    expect(it.status).toBe('ok');
    expect(it.detail).toMatch(/irqchip, irqfd.*sleeps inside KVM_RUN; an irqfd wakes it \(median 42 µs.*Informational: wake = "auto" wakes the idle cores of dataplanes with a NIC this way/);
  });

  it('a HLT that still exits, a failed probe or a missing module are skips, and the report stays ok', async () => {
    const f = goodFacts();
    f.irq = await irqFacts(probe({ haltBlocksInKernel: false }));
    expect(evaluate(f).checks.find((c) => c.id === 'irqchip')).toMatchObject({ status: 'skip', detail: expect.stringMatching(/still exits to user space.*keeps waking idle cores through user space/) });
    expect(evaluate(f).ok).toBe(true);
    f.irq = await irqFacts(probe({ error: 'the probe guest did not reach its HLT within 5 s' }));
    expect(evaluate(f).checks.find((c) => c.id === 'irqchip')).toMatchObject({ status: 'skip', detail: expect.stringMatching(/did not reach its HLT/) });
    f.irq = await irqFacts(() => Promise.reject(new Error('Cannot find module')));
    expect(f.irq.state).toBe('skipped');
    expect(evaluate(f).ok).toBe(true);
  });

  it('without IRQFD the probe is not run', async () => {
    let ran = false;
    const f = await irqFacts(async () => ({ irqCapabilities: () => ({ ...caps, irqfd: 0 }), probeHaltWake: async () => { ran = true; } }));
    expect(ran).toBe(false);
    expect(f).toMatchObject({ state: 'ok', haltBlocksInKernel: null });
  });
});

describe('fact gathering on this host', () => {
  it('finds the package root and reports devices it cannot see as absent', () => {
    expect(packageRoot()).toBe(root);
    expect(deviceFacts('/dev/ix-no-such-device')).toEqual({ path: '/dev/ix-no-such-device', exists: false, mode: null, owner: null, openRw: null });
    const nul = deviceFacts('/dev/null');
    expect(nul).toMatchObject({ exists: true, mode: 'crw-rw-rw-', openRw: 'ok' });
  });

  it('gathers a complete, well-typed set of facts (values depend on the host)', async () => {
    const f = await gatherFacts({ configPath: join(root, 'test', 'fixtures', 'configs', 'many-problems.toml') });
    expect(typeof f.kvm.exists).toBe('boolean');
    expect(['ok', 'module-missing', 'failed', 'skipped']).toContain(f.kvmApi.state);
    if (f.kvmApi.state === 'ok') expect(f.kvmApi.version).toBe(KVM_API_VERSION);
    expect(f.cpus.available).toBeGreaterThanOrEqual(1);
    expect(f.guestBuild.path).toBe(join(root, 'guest', 'build', 'kernel.elf'));
    expect(f.config?.error).toContain('6 problems in dataplane config');
    // The throwaway namespace (if one was made) is gone again.
    const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(list.stdout ?? '').not.toContain(`ix-check-${process.pid}-`);
    const r = evaluate(f);
    expect(r.checks.length).toBeGreaterThanOrEqual(10);
  });
});
