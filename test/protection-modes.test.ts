// The protection boundaries per platform (docs/protection.md): which one "auto" picks and
// which ones the guest refuses, memory isolation under the modes other files do not cover,
// and runaway apps ([app] max_run_ms) under every mode that isolates availability. On PVM
// hosts it runs here; the native modes run in the nested CI VM (ci/nested/inner.sh), where
// every test must pass and none may be skipped, so tests a platform does not have are not
// defined there rather than skipped.
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { requireKvm } from './kvm-env.js';
import { appElf, ix, logRecords, tempDir, writeConfig } from './ix-cli.js';

const run = requireKvm();
const { dir, cleanup } = tempDir('ix-prot-modes-');
afterAll(cleanup);

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

  // natively "auto" above is shared-page-table already: one boot fewer in the nested VM
  if (pvm) it('"shared-page-table" is refused at boot with one line that says why on pvm', () => {
    const r = hello('pshared', 'shared-page-table', false);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ix: pshared: protection "shared-page-table" cannot protect on a kvm_pvm host: the U\/S bit does not separate app from kernel there \(the PVM guest kernel itself runs in hardware ring 3/m);
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

// Memory isolation under the modes no other file covers on this platform: the app cannot
// read the kernel (one boot: each costs ~15 s in the nested CI VM). (test/faults.test.ts
// runs every fault kind under "auto", i.e. page-tables on PVM and shared-page-table
// natively; test/protection-hostswitch.test.ts under pvm-host-switch.)
const memoryModes = pvm ? [] : ['page-tables'];
const memoryFaults: [string, string, string, RegExp][] = [
  // kind argument, reported kind, app symbol of the faulting RIP, faulting address
  ['read-kernel', 'page fault', 'read_kernel', /^0x400000200000$/],
];

if (memoryModes.length) describe.runIf(run).each(memoryModes)('memory isolation under protection = "%s"', (mode) => {
  it.each(memoryFaults)('%s: the app is stopped and reported as a %s', (kind, reported, symbol, addr) => {
    const name = `m-${kind.slice(0, 8)}-${mode.slice(0, 6)}`;
    const r = ix(['run', writeConfig(dir, name, `name = "${name}"\ncores = 1\nprotection = "${mode}"\n[app]\npath = "${appElf('fault')}"\nargs = ["${kind}"]\n`)]);
    expect(r.stdout).not.toMatch(/survived/);
    expect(r.status, r.stderr).toBe(1);
    const faults = logRecords(r.stderr).filter((x) => x.kind !== undefined && x.rip !== undefined);
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatchObject({ kind: reported });
    expect(String(faults[0]!.symbol)).toMatch(new RegExp(`^${symbol}(\\+0x[0-9a-f]+)?$`));
    expect(String(faults[0]!.addr)).toMatch(addr);
  });
});

// [app] max_run_ms (docs/protection.md, "Runaway apps"): an app that never returns to the
// dataplane is stopped by the VMM's interrupt and reported like a fault, under every mode
// that isolates availability on this platform (native ones run in the nested CI VM).
const availabilityModes = pvm ? ['page-tables', 'pvm-host-switch'] : ['shared-page-table', 'page-tables'];

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

  // once per platform, under the mode "auto" picks: the stamp and the check are the same code in every mode
  if (mode === availabilityModes[0]) it('an app that returns in time is never stopped, and its computation is intact', () => {
    const r = faultApp(`busy-${tag}`, ['busy'], 1000);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.match(/busy: 25 rounds, every result checked/g)).toHaveLength(2);
  });
});
