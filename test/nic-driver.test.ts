// Runs the host-compiled unit tests of the guest virtio-net driver (guest/drivers) against
// the fake device in guest/test/drivers, and of its glue to the stack's mbufs/netif_tx,
// built with AddressSanitizer and UBSan.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('guest virtio-net driver (host unit tests, sanitizers)', () => {
  it('passes guest/test/drivers', () => {
    const r = spawnSync('make', ['-s', '-C', 'guest/test/drivers', 'test'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) console.error(r.stdout, r.stderr);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('virtio-net driver tests: all passed');
    expect(r.stdout).toContain('vnet netif tests: all passed');
  });
});
