// The host<->guest ABI mirror: src/abi declares every struct shared with the guest once
// (GUEST_STRUCTS) and every shared constant (GUEST_CONSTANTS). This test generates a C
// program that includes every header in guest/include/ix, prints sizeof/offsetof/size of
// every declared struct and field and the value of every constant, and compares. The
// virtqueue's structs come from the guest's driver header (guest/drivers/virtqueue.h).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CORE_COUNTERS, CoreStats, DRIVER_STRUCTS, GUEST_CONSTANTS, GUEST_STRUCTS, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, cName, fieldSize, readStruct, writeStruct, type StructDef,
} from '../src/abi/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ix-abi-layout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const HEADERS = readdirSync(resolve('guest/include/ix')).filter((f) => f.endsWith('.h')).sort();

/** [key, C expression, TypeScript value] for every struct size, field offset, field size and constant. */
function checks(): [string, string, bigint][] {
  const out: [string, string, bigint][] = [];
  for (const s of [...GUEST_STRUCTS, ...DRIVER_STRUCTS]) {
    out.push([`${s.c}.sizeof`, `sizeof(struct ${s.c})`, BigInt(s.size)]);
    for (const [k, f] of Object.entries(s.fields)) {
      const c = cName(k, f);
      out.push([`${s.c}.${k}.offset`, `offsetof(struct ${s.c}, ${c})`, BigInt(f.at)]);
      out.push([`${s.c}.${k}.size`, `sizeof(((struct ${s.c} *)0)->${c})`, BigInt(fieldSize(f))]);
    }
  }
  for (const [k, [v, c]] of Object.entries(GUEST_CONSTANTS)) out.push([k, c, BigInt(v)]);
  out.push(['VIRTQ_DESC_F_NEXT', 'VQ_DESC_F_NEXT', BigInt(VIRTQ_DESC_F_NEXT)], ['VIRTQ_DESC_F_WRITE', 'VQ_DESC_F_WRITE', BigInt(VIRTQ_DESC_F_WRITE)]);
  return out;
}

function cValues(list: [string, string, bigint][]): Map<string, bigint> {
  const src = `#include <stdio.h>
#include <stddef.h>
${HEADERS.map((h) => `#include <ix/${h}>`).join('\n')}
#include "drivers/virtqueue.h"
int main(void) {
${list.map(([k, e]) => `  printf("%s=%llu\\n", "${k}", (unsigned long long)(${e}));`).join('\n')}
  return 0;
}
`;
  const c = join(dir, 'abi.c');
  const exe = join(dir, 'abi');
  writeFileSync(c, src);
  execFileSync('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-I', resolve('guest'), '-I', resolve('guest/include'), '-I', resolve('guest/include/ix'), '-o', exe, c]);
  const out = new Map<string, bigint>();
  for (const l of execFileSync(exe, { encoding: 'utf8' }).trim().split('\n')) {
    const [k, v] = l.split('=') as [string, string];
    out.set(k, BigInt(v));
  }
  return out;
}

describe('guest ABI mirror (src/abi vs every header in guest/include/ix)', () => {
  const list = checks();
  const c = cValues(list);

  it('covers every header and every struct the headers declare', () => {
    expect(HEADERS.length).toBeGreaterThanOrEqual(7);
    const declared = new Set<string>();
    for (const h of HEADERS) {
      const text = execFileSync('cat', [resolve('guest/include/ix', h)], { encoding: 'utf8' });
      for (const m of text.matchAll(/^struct (ix_\w+) \{/gm)) declared.add(m[1]!);
    }
    expect([...declared].sort()).toEqual(GUEST_STRUCTS.map((s: StructDef) => s.c).sort());
  });

  it.each(list.map(([k]) => k))('%s', (k) => {
    const ts = list.find(([key]) => key === k)![2];
    expect(ts).toBe(c.get(k));
  });

  it('every ix_core_stats counter is either exported or one of the two handled apart', () => {
    const exported = new Set<string>(CORE_COUNTERS.map((m) => m.key));
    const rest = Object.keys(CoreStats.fields).filter((k) => !exported.has(k));
    expect(rest.sort()).toEqual(['rxBatches', 'tsc']);
  });

  it('readStruct returns what writeStruct wrote, and refuses what does not fit', () => {
    const dv = new DataView(new ArrayBuffer(CoreStats.size + 8));
    writeStruct(CoreStats, dv, 8, { rxFrames: 5n, rxBatches: [1, 2, 3], tsc: 2 ** 40 });
    const v = readStruct(CoreStats, dv, 8);
    expect([v.rxFrames, v.rxBatches.slice(0, 4), v.tsc]).toEqual([5n, [1n, 2n, 3n, 0n], 2n ** 40n]);
    expect(() => readStruct(CoreStats, dv, 9)).toThrow(/does not fit/);
    expect(() => writeStruct(CoreStats, dv, 8, { rxFrames: -1 })).toThrow(/not a 64-bit unsigned integer/);
  });

  it('the mirror test notices a wrong offset', () => {
    // guard against a comparison that cannot fail: a deliberately shifted value must differ
    const [k, , ts] = list.find(([key]) => key === 'ix_bootinfo.nic.offset')!;
    expect(ts + 8n).not.toBe(c.get(k));
  });
});
