// The kvstore app's host-compiled unit tests (guest/apps/kvstore/test/kvtest.c) under
// AddressSanitizer and UBSan: buddy allocator, store (LRU eviction, expiry, flush), and the
// connection + protocol layers driven through a fake ixev that checks zero-copy rules
// (replies unchanged until acknowledged, input given back in order, pause on a full queue).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('kvstore unit tests (host, ASan/UBSan)', () => {
  it('builds and passes', () => {
    const build = spawnSync('make', ['-s', '-C', 'guest/apps/kvstore/test'], { encoding: 'utf8', timeout: 120_000 });
    expect(build.status, `${build.stdout}${build.stderr}`).toBe(0);
    const run = spawnSync('guest/apps/kvstore/test/build/kvtest', [], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
    // guest/test/lib/check.c: the summary line on stderr, FAIL lines before it
    expect(run.stderr).toMatch(/kvtest: all checks passed/);
    expect(run.stderr).not.toMatch(/^FAIL/m);
  }, 180_000);
});
