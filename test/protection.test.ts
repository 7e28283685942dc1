// protection = "none" (docs/design.md): the app runs in ring 0 and ix_bpoll is a function call,
// so the cost of the protection boundary can be measured. The same apps must work; a fault
// is then a dataplane panic (nothing protects the dataplane), reported with the app symbol.
import { afterAll, describe, expect, it } from 'vitest';
import { requireKvm } from './kvm-env.js';
import { appElf, ix, tempDir, writeConfig } from './ix-cli.js';

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
    const cfgRing3 = writeConfig(dir, 'bring3', `name = "bring3"\ncores = 1\nprotection = "page-tables"\n[app]\npath = "${appElf('bench_trap')}"\n`);
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

describe.runIf(run)('protection names', () => {
  it('"ring3" is still accepted and means page-tables', () => {
    const r = ix(['run', '--json', writeConfig(dir, 'pring3', `name = "pring3"\ncores = 1\nprotection = "ring3"\n[app]\npath = "${appElf('hello')}"\n`)]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ protection: 'page-tables' });
  });
});
