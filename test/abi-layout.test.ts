// Keeps src/vmm/abi.ts equal to the C headers in guest/include/ix/: a C program prints the
// sizeof and offsetof of every mirrored field and every shared constant; the test compares.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as abi from '../src/vmm/abi.js';

const dir = mkdtempSync(join(tmpdir(), 'ix-abi-layout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** TS table -> [ts key, C struct, C field or null for sizeof] */
function fields(table: Record<string, number>, struct: string, rename: Record<string, string> = {}): [string, string][] {
  return Object.keys(table).map((k) => {
    if (k === 'size') return [`${struct}.size`, `sizeof(struct ${struct})`];
    const f = rename[k] ?? snake(k);
    return [`${struct}.${k}`, `offsetof(struct ${struct}, ${f})`];
  });
}

const checks: [string, string][] = [
  ...fields(abi.BootInfo, 'ix_bootinfo', { sizeField: 'size', ncpus: 'ncpus', appSharedSize: 'app_shared_size' }),
  ...fields(abi.AppSeg, 'ix_app_seg'),
  ...fields(abi.CpuStatus, 'ix_cpu_status'),
  ...fields(abi.Hcall, 'ix_hcall'),
  ...fields(abi.Fault, 'ix_fault'),
  ...fields({ head: 0, tail: 8, size: 12, dropped: 16, data: 32 }, 'ix_logring').map(
    ([k, e]) => [k, k === 'ix_logring.size' ? 'offsetof(struct ix_logring, size)' : e] as [string, string],
  ),
  ['ix_logring.hdr', 'sizeof(struct ix_logring)'],
  ...fields(abi.IxCall, 'ix_call'),
  ...fields(abi.CoreStats, 'ix_core_stats'),
  ['STATS_BATCH_BUCKETS', 'IX_STATS_BATCH_BUCKETS'],
  ...fields(abi.IxEvent, 'ix_event'),
  ...fields(abi.AppInfo, 'ix_app_info', { callsMax: 'calls_max', eventsMax: 'events_max', heapSize: 'heap_size', tscKhz: 'tsc_khz', bpollDirect: 'bpoll_direct', sharedSize: 'shared_size' }),
  ['MAX_CPUS', 'IX_MAX_CPUS'],
  ['MAX_APP_SEGS', 'IX_MAX_APP_SEGS'],
  ['APP_ARGS_MAX', 'IX_APP_ARGS_MAX'],
  ['BOOTINFO_VERSION', 'IX_BOOTINFO_VERSION'],
  ['HC_PORT', 'IX_HC_PORT'],
  ['KERNEL_PHYS', 'IX_KERNEL_PHYS'],
  ['BOOT_SELFTEST_LOOP', 'IX_BOOT_SELFTEST_LOOP'],
  ['BOOT_SELFTEST_SHORT', 'IX_BOOT_SELFTEST_SHORT'],
  ['HC.appExit', 'IX_HC_APP_EXIT'],
  ['HC.appFault', 'IX_HC_APP_FAULT'],
  ['HC.panic', 'IX_HC_PANIC'],
  ['HC.logKick', 'IX_HC_LOG_KICK'],
  ['HC.idle', 'IX_HC_IDLE'],
  ['PLATFORM.native', 'IX_PLATFORM_NATIVE'],
  ['PLATFORM.pvm', 'IX_PLATFORM_PVM'],
  ['CPU_STATE.booting', 'IX_CPU_BOOTING'],
  ['CPU_STATE.running', 'IX_CPU_RUNNING'],
  ['CPU_STATE.appDone', 'IX_CPU_APP_DONE'],
  ['CPU_STATE.panic', 'IX_CPU_PANIC'],
  ['REG_NAMES.length', 'IX_NREGS'],
];

function tsValue(path: string): number {
  const [a, b] = path.split('.') as [string, string | undefined];
  if (a.startsWith('ix_')) {
    const table = {
      ix_bootinfo: abi.BootInfo, ix_app_seg: abi.AppSeg, ix_cpu_status: abi.CpuStatus, ix_hcall: abi.Hcall,
      ix_fault: abi.Fault, ix_core_stats: abi.CoreStats, ix_logring: { ...abi.LogRing }, ix_call: abi.IxCall, ix_event: abi.IxEvent, ix_app_info: abi.AppInfo,
    }[a] as Record<string, number>;
    if (a === 'ix_logring' && b === 'size') return abi.LogRing.size;
    return table[b!]!;
  }
  const v = (abi as Record<string, unknown>)[a];
  if (b === undefined) return v as number;
  return (v as Record<string, number>)[b]!;
}

function cValues(): Record<string, string> {
  const lines = checks.map(([k, e]) => `  printf("%s=%llu\\n", "${k}", (unsigned long long)(${e}));`).join('\n');
  const src = `#include <stdio.h>
#include <stddef.h>
#include <ix/bootinfo.h>
#include <ix/hypercall.h>
#include <ix/logring.h>
#include <ix/abi.h>
#include <ix/app.h>
int main(void) {
${lines}
  printf("MAGIC=%llu\\n", (unsigned long long)IX_BOOTINFO_MAGIC);
  printf("KERNEL_BASE=%llu\\n", (unsigned long long)IX_KERNEL_BASE);
  return 0;
}
`;
  const c = join(dir, 'abi.c');
  const exe = join(dir, 'abi');
  writeFileSync(c, src);
  execFileSync('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-I', resolve('guest/include'), '-I', resolve('guest/include/ix'), '-o', exe, c]);
  const out: Record<string, string> = {};
  for (const l of execFileSync(exe, { encoding: 'utf8' }).trim().split('\n')) {
    const [k, v] = l.split('=') as [string, string];
    out[k] = v;
  }
  return out;
}

describe('guest ABI mirror (src/vmm/abi.ts vs guest/include/ix/*.h)', () => {
  const c = cValues();
  it.each(checks.map(([k]) => k))('%s', (k) => {
    expect(tsValue(k)).toBe(Number(c[k]));
  });
  it('magic and kernel base', () => {
    expect(abi.BOOTINFO_MAGIC).toBe(BigInt(c['MAGIC']!));
    expect(abi.KERNEL_BASE).toBe(BigInt(c['KERNEL_BASE']!));
  });
  it('the mirror test notices a wrong offset', () => {
    // guard against a comparison that cannot fail: a deliberately shifted value must differ
    expect(tsValue('ix_bootinfo.nic') + 8).not.toBe(Number(c['ix_bootinfo.nic']));
  });
});
