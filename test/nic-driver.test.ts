// Runs the host-compiled unit tests of the guest virtio-net driver (guest/drivers) against
// the fake device in guest/test/drivers, and of its glue to the stack's mbufs/netif_tx,
// and of the AF_XDP ring driver against a fake kernel side of the rings (guest/drivers/xsk.c),
// built with AddressSanitizer and UBSan.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('guest virtio-net driver (host unit tests, sanitizers)', () => {
  it('passes guest/test/drivers', () => {
    const r = spawnSync('make', ['-s', '-C', 'guest/test/drivers', 'test'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) console.error(r.stdout, r.stderr);
    expect(r.status).toBe(0);
    // guest/test/lib/check.c: one summary line per binary on stderr, FAIL lines before it
    expect(r.stderr).toContain('test_virtio_net: all checks passed');
    expect(r.stderr).toContain('test_vnet_netif: all checks passed');
    expect(r.stderr).toContain('test_xsk: all checks passed');
    expect(r.stderr).not.toMatch(/^FAIL/m);
  });
});
