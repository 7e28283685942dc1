// The layout probes: small C programs (test/fixtures/*/…-layout.c, printing through
// test/fixtures/layout-probe.h) that report the sizes, offsets and constants of kernel uapi
// structures as JSON, compiled with the host gcc and compared with a binding's TypeScript tables.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

export interface CLayout {
  structs: Record<string, { size: number; fields: Record<string, number> }>;
  constants: Record<string, number>;
  arrays?: Record<string, number>;
}

/** Compile `source` (a path from the repository root) with -Werror, run it, parse what it prints. */
export function probeLayout(source: string): CLayout {
  const dir = mkdtempSync(join(tmpdir(), 'ix-layout-'));
  try {
    const exe = join(dir, basename(source, '.c'));
    execFileSync('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-o', exe, resolve(source)]);
    return JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as CLayout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The struct checks every probe makes: the same structs on both sides, then each one's size
 * and every offset. `c` is read when the tests run (the probe is built in a beforeAll). */
export function describeStructLayouts(header: string, table: Record<string, { size: number; fields: Record<string, number> }>, c: () => CLayout): void {
  describe(`struct layouts (${header})`, () => {
    it('the C program and the TypeScript table describe the same structs and fields', () => {
      expect(Object.keys(table).sort()).toEqual(Object.keys(c().structs).sort());
      for (const [name, l] of Object.entries(table)) expect(Object.keys(l.fields).sort(), name).toEqual(Object.keys(c().structs[name]!.fields).sort());
    });
    for (const [name, l] of Object.entries(table)) {
      it(`${name}: size and every offset match ${header}`, () => {
        expect({ size: l.size, fields: l.fields }).toEqual(c().structs[name]);
      });
    }
  });
}
