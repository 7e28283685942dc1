// TCP's host unit tests (guest/test/net/{timer,tcp_*}_test.c, ASan/UBSan on): the timer
// wheel against a brute-force model, and TCP against a scripted peer (handshakes both
// ways, data, every close sequence, RST/SYN checks, backlog; RTO backoff, fast retransmit,
// out-of-order/duplicates, zero window probes, delayed ACK, window update; NewReno partial ACKs,
// limited transmit, early retransmit, keepalive, events deferred when the event array is full
// and delivered by the next net_events_begin; RACK-TLP for the SACK sender: lost
// retransmissions, tail loss probes, reordering, 2-3 segment windows, RTO, no-SACK-blocks
// fallback). Each binary ends with a leak
// check (no TCP control block, no mbuf left) and exits non-zero on any failed check.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { NET_BUILD, buildNetTests } from './net-ns.js';

const run = promisify(execFile);

async function runUnit(name: string, timeout = 60_000): Promise<string> {
  try {
    // stack-use-after-return: a scratch control block on the stack (the SYN cookie's
    // SYN-ACK) must never end up linked into the timer wheel
    const env = { ...process.env, ASAN_OPTIONS: `detect_stack_use_after_return=1:${process.env.ASAN_OPTIONS ?? ''}` };
    const { stdout, stderr } = await run(path.join(NET_BUILD, name), [], { timeout, env });
    return stdout + stderr;
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${name} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

describe('TCP host unit tests (sanitizers on)', () => {
  beforeAll(() => buildNetTests(), 300_000);

  it('timer wheel matches a brute-force model (arm/cancel/run/next-deadline)', async () => {
    const out = await runUnit('timer_test');
    expect(out).toContain('timer_test: all checks passed');
    expect(out).not.toMatch(/^FAIL/m);
  });

  for (const name of ['tcp_basic_test', 'tcp_loss_test', 'tcp_recovery_test', 'tcp_rack_test', 'tcp_syncookie_test', 'tcp_isn_test', 'tcp_copy_test', 'tcp_scale_test', 'tcp_migrate_test']) {
    it(name, async () => {
      const out = await runUnit(name);
      expect(out).toContain('all checks passed');
      expect(out).not.toMatch(/^FAIL/m);
    });
  }
});
