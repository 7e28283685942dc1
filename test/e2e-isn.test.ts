// RFC 6528 initial sequence numbers on the real dataplane: two boots of the echo dataplane
// (each in the namespace `ix run` makes for it), probed with bare SYNs from the namespace
// (test/fixtures/e2e/isn_probe.py reads the SYN-ACKs). The per-boot secret (RDSEED/RDRAND
// and the host's seed) makes one 4-tuple's ISN differ between boots and between tuples;
// within a boot one tuple's ISN only moves forward with the clock.
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane } from './dataplane-proc.js';

const run = requireNetKvm('the ISN end-to-end test');

const { dir, cleanup } = tempDir('ix-isn-');
afterAll(cleanup);
const PROBE = resolve('test/fixtures/e2e/isn_probe.py');
const PEER = '10.10.0.1';

type Probe = [sport: number, isn: number, t: number][];

async function bootAndProbe(): Promise<Probe> {
  const cfg = writeConfig(
    dir,
    'isn',
    `name = "isn"\ncores = 1\nmemory = "256M"\n[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "32M"\n` +
      `[nic]\nnamespace = true\naddress = "10.10.0.2/24"\ngateway = "${PEER}"\n`,
  );
  const dp = await startDataplane(cfg, /echo: serving/);
  try {
    const r = dp.exec('python3', [PROBE, PEER, dp.address, '7', '50001,50002', '3', '0.2'], 60_000);
    expect(r.status, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { isns: Probe }).isns;
  } finally {
    const { code } = await dp.stop();
    expect(code).toBe(0);
    expect(netnsExists(dp.netns)).toBe(false);
  }
}

/** b - a in sequence space (mod 2^32), as a signed number */
const seqDiff = (a: number, b: number): number => ((b - a) | 0);

describe.runIf(run)('initial sequence numbers (RFC 6528)', () => {
  it('differ across boots and tuples, and advance with the clock per tuple', async () => {
    const a = await bootAndProbe();
    const b = await bootAndProbe();
    console.log(`ISNs boot 1: ${JSON.stringify(a)}\nISNs boot 2: ${JSON.stringify(b)}`);
    for (const isns of [a, b]) {
      const t1 = isns.filter(([p]) => p === 50001);
      const t2 = isns.filter(([p]) => p === 50002);
      expect(t1).toHaveLength(3);
      // another tuple, another ISN
      expect(t1[0]![1]).not.toBe(t2[0]![1]);
      // one tuple: forward only (M, the 4 us clock), never by more than the time between
      for (const t of [t1, t2]) {
        for (let i = 1; i < t.length; i++) {
          const d = seqDiff(t[i - 1]![1], t[i]![1]);
          expect(d).toBeGreaterThan(0);
          expect(d).toBeLessThan(250_000 * (t[i]![2] - t[i - 1]![2] + 1));
        }
      }
    }
    // the same tuple on another boot: another secret, another ISN
    expect(a[0]![1]).not.toBe(b[0]![1]);
    // and not just the clock's doing: the two tuples' offset changed too
    expect(seqDiff(a[0]![1], a[1]![1])).not.toBe(seqDiff(b[0]![1], b[1]![1]));
  }, 120_000);
});
