// protection = "pvm-host-switch" (docs/protection.md), on kvm_pvm hosts: the host switches
// CR3 on SYSCALL/SYSRET and events from the app reach user-level stubs that report them
// with SYSCALL. The same apps run (hello, echo end to end, kvstore); every fault kind stops
// only its app, with the same report as under "page-tables"; a forged event report gains
// nothing; an app that makes its own vCPU triple-fault loses that core only, and the host
// says so. Elsewhere the mode is refused with a clear message (tested where the guest is
// native: test/nested.test.ts runs the nested suite).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { requireKvm } from './kvm-env.js';
import { appElf, ix, logRecords, tempDir, writeConfig } from './ix-cli.js';
import { startDataplane, type RunningDataplane } from './dataplane-proc.js';
import { netnsUnavailable } from '../src/nic/netns.js';

const pvm = existsSync('/sys/module/kvm_pvm');
const run = requireKvm() && pvm;
const net = run && !netnsUnavailable();
const memcTools = spawnSync('which', ['memccapable']).status === 0;
const { dir, cleanup } = tempDir('ix-hostswitch-');
afterAll(cleanup);
const MODE = 'protection = "pvm-host-switch"\n';
const NIC = '[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "10.10.0.1"\n';

function faultRun(kind: string, cores = 1, extra: string[] = [], nic = false) {
  const cfg = writeConfig(dir, `${kind}-${cores}`, `name = "hsfault"\ncores = ${cores}\n${MODE}[app]\npath = "${appElf('fault')}"\nargs = ${JSON.stringify([kind, ...extra])}\n${nic ? NIC : ''}`);
  const r = ix(['run', cfg]);
  const faults = logRecords(r.stderr).filter((x) => x.kind !== undefined && x.rip !== undefined);
  return { ...r, faults };
}

describe.runIf(run)('protection = "pvm-host-switch"', () => {
  it('runs hello on 2 cores and says which boundary it enforces', () => {
    const cfg = writeConfig(dir, 'hello', `name = "hshello"\ncores = 2\n${MODE}[app]\npath = "${appElf('hello')}"\n`);
    const r = ix(['run', '--json', cfg]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/hello from core 0 of 2/);
    expect(r.stdout).toMatch(/hello from core 1 of 2/);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ platform: 'pvm', protection: 'pvm-host-switch' });
  });

  const cases: [string, string, string, RegExp, string | null][] = [
    // kind argument, reported kind, app symbol of the faulting RIP, faulting address, error code
    ['read-kernel', 'page fault', 'read_kernel', /^0x400000200000$/, '0x4'],
    ['write-events', 'page fault', 'write_events', /^0x7f20000000$/, '0x7'],
    ['invalid-op', 'invalid instruction', 'invalid_op', /^0x0$/, null],
    ['bad-calls', 'bad call array', 'ix_bpoll', /^0x400000200000$/, null],
    ['privileged', 'general protection fault', 'privileged', /^0x0$/, null],
    ['divide', 'divide error', 'divide', /^0x0$/, null],
  ];
  it.each(cases)('%s: the app is stopped and reported as a %s in %s', (kind, reported, symbol, addr, error) => {
    const r = faultRun(kind);
    expect(r.stdout).not.toMatch(/survived/);
    expect(r.status).toBe(1);
    expect(r.faults).toHaveLength(1);
    const f = r.faults[0]!;
    expect(f.kind).toBe(reported);
    expect(String(f.symbol)).toMatch(new RegExp(`^${symbol}(\\+0x[0-9a-f]+)?$`));
    expect(String(f.addr)).toMatch(addr);
    if (error !== null) expect(f.error).toBe(error);
    expect((f.regs as Record<string, string>).rip).toBe(f.rip);
    expect(r.stderr).toMatch(/^ix: hsfault: no app left: 1 of 1 cores stopped their app after a fault$/m);
  });

  it('a jump into the kernel\'s address range is an instruction fetch fault (not mapped for the app)', () => {
    const f = faultRun('jump-kernel').faults[0]!;
    expect(f.kind).toBe('page fault');
    expect(f.rip).toBe('0x400000200000');
    expect(f.addr).toBe('0x400000200000');
    expect(f.error).toBe('0x14'); // not present, user, instruction fetch
  });

  it('a forged event report: a claimed interrupt is harmless, a frame in kernel memory stops the app', () => {
    const r = faultRun('hostile-report');
    expect(r.stdout).toMatch(/a claimed interrupt was harmless/);
    expect(r.faults).toHaveLength(1);
    expect(r.faults[0]).toMatchObject({ kind: 'bad event report', addr: '0x400000200000' });
    expect(String(r.faults[0]!.symbol)).toMatch(/^hostile_report\+0x/);
    expect(r.status).toBe(1);
  });

  it('an app that faults with RSP on unmapped memory crashes its vCPU; the other core goes on', () => {
    const r = faultRun('bad-rsp', 2, ['core=1']);
    expect(r.stdout).toMatch(/\[hsfault core 0\] core 0: not the faulting core/);
    expect(logRecords(r.stderr).filter((x) => x.msg === 'app on core 0 exited with status 0')).toHaveLength(1);
    expect(r.faults).toHaveLength(1);
    const f = r.faults[0]!;
    expect(f).toMatchObject({ cpu: 1, kind: 'vCPU crashed (triple fault)' });
    expect(String(f.symbol)).toMatch(/^bad_rsp\+0x/);
    expect(String(f.msg)).toMatch(/does not isolate availability/);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ix: hsfault: no app left: 1 of 2 cores stopped their app after a fault \(1 by crashing its vCPU.*\)$/m);
  });

  it('a runaway app with RSP on unmapped memory: the [app] max_run_ms interrupt crashes its vCPU; the other core goes on', () => {
    const cfg = writeConfig(dir, 'spin-bad-rsp', `name = "hsspin"\ncores = 2\n${MODE}[app]\npath = "${appElf('fault')}"\nargs = ["spin-bad-rsp", "core=1"]\nmax_run_ms = 100\n`);
    const r = ix(['run', cfg]);
    expect(r.stdout).toMatch(/\[hsspin core 0\] core 0: not the faulting core/);
    const faults = logRecords(r.stderr).filter((x) => x.kind !== undefined && x.rip !== undefined);
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatchObject({ cpu: 1, kind: 'vCPU crashed (triple fault)' });
    expect(String(faults[0]!.symbol)).toMatch(/^spin_bad_rsp\+0x/);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ix: hsspin: no app left: 1 of 2 cores stopped their app after a fault \(1 by crashing its vCPU.*\)$/m);
  });

  it('under "page-tables" the same runaway app is stopped and reported (the interrupt uses the RSP0 stack)', () => {
    const cfg = writeConfig(dir, 'pt-spin-bad-rsp', `name = "ptspin"\ncores = 1\nprotection = "page-tables"\n[app]\npath = "${appElf('fault')}"\nargs = ["spin-bad-rsp"]\nmax_run_ms = 100\n`);
    const r = ix(['run', cfg]);
    const f = logRecords(r.stderr).find((x) => x.kind !== undefined && x.rip !== undefined)!;
    expect(f).toMatchObject({ kind: 'runaway app' });
    expect(String(f.symbol)).toMatch(/^spin_bad_rsp\+0x/);
    expect((f.regs as Record<string, string>).rsp).toBe('0x1000');
  });

  it('under "page-tables" the same bad RSP is an ordinary fault report (events use the RSP0 stack)', () => {
    const cfg = writeConfig(dir, 'pt-bad-rsp', `name = "ptfault"\ncores = 1\nprotection = "page-tables"\n[app]\npath = "${appElf('fault')}"\nargs = ["bad-rsp"]\n`);
    const r = ix(['run', cfg]);
    const f = logRecords(r.stderr).find((x) => x.kind !== undefined && x.rip !== undefined)!;
    expect(f).toMatchObject({ kind: 'invalid instruction' });
    expect(String(f.symbol)).toMatch(/^bad_rsp\+0x/);
  });

  it.runIf(net)('a write to the read-only RX buffer pool is a protection fault (present, write, user)', () => {
    const r = faultRun('write-rxpool', 1, [], true);
    expect(r.faults).toHaveLength(1);
    expect(r.faults[0]).toMatchObject({ kind: 'page fault', addr: '0x7e00000000', error: '0x7' });
  });

  async function serve(name: string, body: string, ready: RegExp, use: (dp: RunningDataplane) => void): Promise<void> {
    const dp = await startDataplane(writeConfig(dir, name, body), ready);
    try {
      use(dp);
    } finally {
      const { code, summary } = await dp.stop();
      expect(code).toBe(0);
      expect(summary).toMatchObject({ protection: 'pvm-host-switch' });
    }
  }

  it.runIf(net)('echo end to end: TCP connections, UDP datagrams, a 20 MB echo, ping', async () => {
    const client = resolve('test/fixtures/e2e/echo_client.py');
    const body = `name = "hsecho"\ncores = 2\nmemory = "256M"\n${MODE}[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "32M"\n${NIC}`;
    await serve('echo', body, /echo: serving/, (dp) => {
      const c = (cmd: string, n: number) => {
        const r = dp.exec('python3', [client, dp.address, '7', cmd, String(n)]);
        expect(r.status, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as Record<string, unknown>;
      };
      expect(c('tcp-many', 200)).toEqual({ conns: 200, ok: 200 });
      expect(c('udp-many', 200)).toEqual({ datagrams: 200, ok: 200 });
      expect(c('bulk', 20)).toMatchObject({ received: 20 << 20, sha_match: true });
      expect(dp.exec('ping', ['-c', '3', '-i', '0.2', dp.address]).stdout).toMatch(/3 received/);
    });
  });

  it.runIf(net && memcTools)('kvstore: memccapable passes', async () => {
    const body = `name = "hskv"\ncores = 1\nmemory = "256M"\n${MODE}[app]\npath = "${appElf('kvstore')}"\nargs = ["port=11211"]\nheap = "64M"\n${NIC}`;
    await serve('kv', body, /kvstore: memcached protocol on TCP port 11211/, (dp) => {
      const r = dp.exec('memccapable', ['-a', '-h', dp.address, '-p', '11211', '-t', '5']);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/All tests passed/);
    });
  });
});
