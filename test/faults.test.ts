// Fault isolation (docs/design.md): an app that touches dataplane memory, writes its read-only
// event array, executes an invalid instruction or hands the trap a call array it does not
// own is stopped; the dataplane reports kind, RIP with the app's symbol, address and
// registers; the host exits non-zero with a one-line reason once no app is left.
import { afterAll, describe, expect, it } from 'vitest';
import { requireKvm } from './kvm-env.js';
import { appElf, ix, logRecords, tempDir, writeConfig } from './ix-cli.js';

const run = requireKvm();
const { dir, cleanup } = tempDir('ix-faults-');
afterAll(cleanup);

function faultRun(kind: string, cores = 1, extra: string[] = []) {
  const cfg = writeConfig(dir, `${kind}-${cores}`, `name = "fault"\ncores = ${cores}\n[app]\npath = "${appElf('fault')}"\nargs = ${JSON.stringify([kind, ...extra])}\n`);
  const r = ix(['run', cfg]);
  const faults = logRecords(r.stderr).filter((x) => x.kind !== undefined && x.rip !== undefined);
  return { ...r, faults };
}

const cases: [string, string, string, RegExp][] = [
  // kind argument, reported kind, app symbol of the faulting RIP, faulting address
  ['read-kernel', 'page fault', 'read_kernel', /^0x400000200000$/],
  ['write-events', 'page fault', 'write_events', /^0x7f20000000$/],
  ['invalid-op', 'invalid instruction', 'invalid_op', /^0x0$/],
  ['bad-calls', 'bad call array', 'ix_bpoll', /^0x400000200000$/],
];

describe.runIf(run)('fault isolation', () => {
  it.each(cases)('%s: the app is stopped and reported as a %s in %s', (kind, reported, symbol, addr) => {
    const r = faultRun(kind);
    expect(r.stdout).not.toMatch(/survived/);
    expect(r.status).toBe(1);
    expect(r.faults).toHaveLength(1);
    const f = r.faults[0]!;
    expect(f.kind).toBe(reported);
    expect(String(f.symbol)).toMatch(new RegExp(`^${symbol}(\\+0x[0-9a-f]+)?$`));
    expect(String(f.addr)).toMatch(addr);
    const regs = f.regs as Record<string, string>;
    expect(Object.keys(regs)).toEqual(expect.arrayContaining(['rax', 'rsp', 'rip', 'rflags', 'r15']));
    expect(regs.rip).toBe(f.rip);
    // one line on stderr says why the dataplane ended
    expect(r.stderr).toMatch(/^ix: fault: no app left: 1 of 1 cores stopped their app after a fault$/m);
  });

  it('a write to the read-only event array is a protection fault (present page, write, user)', () => {
    const f = faultRun('write-events').faults[0]!;
    expect(f.error).toBe('0x7');
  });

  it('bad pointers inside a call fail that call (EFAULT/EINVAL/ENOSYS) and the app goes on', () => {
    const r = faultRun('bad-log-ptr');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/every bad argument was refused/);
    expect(r.faults).toHaveLength(0);
  });

  it('a fault on one core leaves the other core running to its normal exit', () => {
    const r = faultRun('invalid-op', 2, ['core=1']);
    expect(r.faults).toHaveLength(1);
    expect(r.faults[0]!.cpu).toBe(1);
    expect(r.stdout).toMatch(/\[fault core 0\] core 0: not the faulting core/);
    const exits = logRecords(r.stderr).filter((x) => x.msg === 'app on core 0 exited with status 0');
    expect(exits).toHaveLength(1);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ix: fault: no app left: 1 of 2 cores stopped their app after a fault$/m);
  });
});
