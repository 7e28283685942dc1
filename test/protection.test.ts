// protection = "none" (docs/design.md): the app runs in ring 0 and ix_bpoll is a function call,
// so the cost of the protection boundary can be measured. The same apps must work; a fault
// is then a dataplane panic (nothing protects the dataplane), reported with the app symbol.
import { afterAll, describe, expect, it } from 'vitest';
import { requireKvm } from './kvm-env.js';
import { existsSync } from 'node:fs';
import { appElf, ix, logRecords, tempDir, writeConfig } from './ix-cli.js';

const run = requireKvm();
const { dir, cleanup } = tempDir('ix-prot-');
afterAll(cleanup);

describe.runIf(run)('protection = "none"', () => {
  it('runs hello on 2 cores with calls as plain function calls', () => {
    const cfg = writeConfig(dir, 'hnone', `name = "hnone"\ncores = 2\nprotection = "none"\n[app]\npath = "${appElf('hello')}"\n`);
    const r = ix(['run', cfg]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual(['[hnone core 0] hello from core 0 of 2 (hello.elf)', '[hnone core 1] hello from core 1 of 2 (hello.elf)']);
    expect(r.stderr).toMatch(/unprotected/);
  });

  it('runs the trap benchmark app without trapping (bpoll costs far less than a trap)', () => {
    const cfgNone = writeConfig(dir, 'bnone', `name = "bnone"\ncores = 1\nprotection = "none"\n[app]\npath = "${appElf('bench_trap')}"\n`);
    const cfgRing3 = writeConfig(dir, 'bring3', `name = "bring3"\ncores = 1\n[app]\npath = "${appElf('bench_trap')}"\n`);
    const cycles = (out: string) => Number(/batch=1 traps=\d+ cycles=(\d+)/.exec(out)![1]);
    const none = ix(['run', cfgNone]);
    const ring3 = ix(['run', cfgRing3]);
    expect(none.status, none.stderr).toBe(0);
    expect(ring3.status, ring3.stderr).toBe(0);
    // not a timing assertion: a trap needs two CR3 writes and a sysret (thousands of cycles
    // on any platform), a function call tens; a factor of 10 cannot be noise
    expect(cycles(none.stdout) * 10).toBeLessThan(cycles(ring3.stdout));
  });

  it('an app fault is a dataplane panic, reported with the app symbol', () => {
    const cfg = writeConfig(dir, 'fnone', `name = "fnone"\ncores = 1\nprotection = "none"\n[app]\npath = "${appElf('fault')}"\nargs = ["invalid-op"]\n`);
    const r = ix(['run', cfg]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ix: fnone: cpu0: kernel panic: kernel #UD invalid opcode .* \(invalid_op\)/m);
  });
});

// The platform the guest will find: "pvm" on kvm_pvm hosts, "native" under hardware
// virtualization (the nested CI VM sets IX_EXPECT_PLATFORM=native).
const platform = process.env.IX_EXPECT_PLATFORM ?? (existsSync('/sys/module/kvm_pvm') ? 'pvm' : 'native');
const pvm = platform === 'pvm';

describe.runIf(run)('choosing the boundary', () => {
  const hello = (name: string, prot: string, json = true) =>
    ix(['run', ...(json ? ['--json'] : []), writeConfig(dir, name, `name = "${name}"\ncores = 1\n${prot ? `protection = "${prot}"\n` : ''}[app]\npath = "${appElf('hello')}"\n`)]);
  const auto = pvm ? 'page-tables' : 'shared-page-table';

  it(`"auto" (the default) picks ${auto} on ${platform}, and ix run says so`, () => {
    const r = hello('pauto', '');
    expect(r.status, r.stderr).toBe(0);
    const rec = logRecords(r.stderr).find((x) => String(x.msg).startsWith('protection: '));
    expect(rec).toMatchObject({ protection: auto, configured: 'auto', platform, msg: `protection: ${auto} (chosen by "auto" for this platform)` });
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ protection: auto });
  });

  it('"ring3" is still accepted and means page-tables', () => {
    const r = hello('pring3', 'ring3');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ protection: 'page-tables' });
  });

  it(`"shared-page-table" is ${pvm ? 'refused at boot with one line that says why' : 'enforced'} on ${platform}`, () => {
    const r = hello('pshared', 'shared-page-table', !pvm);
    if (pvm) {
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^ix: pshared: protection "shared-page-table" cannot protect on a kvm_pvm host: the U\/S bit does not separate app from kernel there \(the PVM guest kernel itself runs in hardware ring 3/m);
    } else {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/hello from core 0 of 1/);
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ protection: 'shared-page-table' });
    }
  });

  it(`"pvm-host-switch" is ${pvm ? 'enforced' : 'refused with one line'} on ${platform}`, () => {
    const r = hello('phs', 'pvm-host-switch', pvm);
    if (pvm) {
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ protection: 'pvm-host-switch' });
    } else {
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^ix: phs: protection "pvm-host-switch" needs a kvm_pvm host/m);
    }
  });
});

// Memory isolation under every mode that isolates it on this platform: the app cannot read,
// write or jump into the kernel, nor write what it is given read-only, nor hand the kernel a
// call array it does not own. (test/faults.test.ts checks the default mode in more detail.)
const memoryModes = pvm ? ['page-tables', 'pvm-host-switch'] : ['page-tables', 'shared-page-table'];
const memoryFaults: [string, string, string, RegExp][] = [
  // kind argument, reported kind, app symbol of the faulting RIP, faulting address
  ['read-kernel', 'page fault', 'read_kernel', /^0x400000200000$/],
  ['write-events', 'page fault', 'write_events', /^0x7f20000000$/],
  ['jump-kernel', 'page fault', 'jump_kernel', /^0x400000200000$/],
  ['bad-calls', 'bad call array', 'ix_bpoll', /^0x400000200000$/],
];

describe.runIf(run).each(memoryModes)('memory isolation under protection = "%s"', (mode) => {
  it.each(memoryFaults)('%s: the app is stopped and reported as a %s', (kind, reported, symbol, addr) => {
    const name = `m-${kind.slice(0, 8)}-${mode.slice(0, 6)}`;
    const r = ix(['run', writeConfig(dir, name, `name = "${name}"\ncores = 1\nprotection = "${mode}"\n[app]\npath = "${appElf('fault')}"\nargs = ["${kind}"]\n`)]);
    expect(r.stdout).not.toMatch(/survived/);
    expect(r.status, r.stderr).toBe(1);
    const faults = logRecords(r.stderr).filter((x) => x.kind !== undefined && x.rip !== undefined);
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatchObject({ kind: reported });
    // jump-kernel faults at the kernel address itself; its caller is the app's
    if (kind !== 'jump-kernel') expect(String(faults[0]!.symbol)).toMatch(new RegExp(`^${symbol}(\\+0x[0-9a-f]+)?$`));
    expect(String(faults[0]!.addr)).toMatch(addr);
  });
});

// [app] max_run_ms (docs/protection.md, "Runaway apps"): an app that never returns to the
// dataplane is stopped by the VMM's interrupt and reported like a fault, under every mode
// that isolates availability on this platform (native ones run in the nested CI VM).
const availabilityModes = pvm ? ['page-tables', 'pvm-host-switch'] : ['page-tables', 'shared-page-table'];

describe.runIf(run).each(availabilityModes)('runaway apps under protection = "%s"', (mode) => {
  const tag = mode.replace(/[^a-z]/g, '').slice(0, 10);
  const faultApp = (name: string, args: string[], maxRunMs: number) =>
    ix(['run', writeConfig(dir, name, `name = "${name}"\ncores = 2\nprotection = "${mode}"\n[app]\npath = "${appElf('fault')}"\nargs = ${JSON.stringify(args)}\nmax_run_ms = ${maxRunMs}\n`)]);

  it('an app spinning in ring 3 is stopped and reported; the other core goes on; the host exits non-zero', () => {
    const name = `spin-${tag}`;
    const r = faultApp(name, ['spin', 'core=0'], 100);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/core 0\] spin: running without returning/);
    expect(r.stdout).toMatch(/core 1\] core 1: not the faulting core/);
    const recs = logRecords(r.stderr);
    expect(recs.find((x) => x.msg === 'app on core 1 exited with status 0')).toBeDefined();
    const faults = recs.filter((x) => x.kind !== undefined && x.rip !== undefined);
    expect(faults).toHaveLength(1);
    const f = faults[0]!;
    expect(f).toMatchObject({ cpu: 0, kind: 'runaway app' });
    expect(String(f.symbol)).toMatch(/^spin(\+0x[0-9a-f]+)?$/); // stopped where it spun
    const ms = Number(/ran (\d+) ms without returning/.exec(String(f.msg))?.[1]);
    expect(ms).toBeGreaterThanOrEqual(50); // the host waited max_run_ms on its clock; the guest's agrees to within half
    expect(r.stderr).toMatch(new RegExp(`^ix: ${name}: no app left: 1 of 2 cores stopped their app after a fault$`, 'm'));
  });

  it('an app that returns in time is never stopped, and its computation is intact', () => {
    const r = faultApp(`busy-${tag}`, ['busy'], 1000);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.match(/busy: 25 rounds, every result checked/g)).toHaveLength(2);
  });
});
