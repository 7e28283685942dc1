// `ix check`'s probe boot, for real: the guest must reach native execution within a second.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requireKvm } from './kvm-env.js';
import { probeBoot } from '../src/control/probe.js';
import { ix } from './ix-cli.js';

const run = requireKvm();

describe.runIf(run)('probe boot', () => {
  it('reaches native mode on this host in under a second', async () => {
    const r = await probeBoot();
    expect(r.native).toBe(true);
    expect(r.platform).toBe(process.env.IX_EXPECT_PLATFORM ?? (existsSync('/sys/module/kvm_pvm') ? 'pvm' : 'native'));
    expect(r.ms).toBeLessThan(1000);
  });

  it('`ix check --json` includes the probe result', () => {
    const r = ix(['check', '--json']);
    const report = JSON.parse(r.stdout) as { checks: { id: string; status: string; detail: string }[] };
    const probe = report.checks.find((c) => /probe/.test(c.id));
    expect(probe?.status).toBe('ok');
    expect(probe?.detail).toMatch(/native mode/);
  });
});
