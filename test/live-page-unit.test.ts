// The live page's server side without a dataplane: routes, headers (CSP, no-store), the
// loopback Host check, /stats.json errors, NIC queue rates in the stats report, and that the
// page's script parses and asks for nothing outside its own origin.
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { LIVE_PAGE_CSS, LIVE_PAGE_HTML, LIVE_PAGE_JS } from '../src/control/live-page.js';
import { startMetricsServer } from '../src/control/socket.js';
import { rates, type Sample } from '../src/control/stats.js';
import type { QueueStats } from '../src/nic/stats.js';

/** GET with a chosen Host header (fetch does not let a page set it) */
function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((res, rej) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host } }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body }));
    });
    req.on('error', rej);
    req.end();
  });
}

describe('the live page server', () => {
  it('serves the page, its script and style, /stats.json and /metrics on 127.0.0.1, with a same-origin CSP', async () => {
    let fail = false;
    const m = await startMetricsServer(
      0,
      () => 'ix_up 1\n',
      async () => {
        if (fail) throw new Error('the dataplane is stopping');
        return { name: 'x', cores: [] };
      },
    );
    try {
      const page = await get(m.port, '/');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['content-security-policy']).toMatch(/^default-src 'none'; script-src 'self'; connect-src 'self'/);
      expect(page.body).toBe(LIVE_PAGE_HTML);
      expect((await get(m.port, '/live.js')).body).toBe(LIVE_PAGE_JS);
      expect((await get(m.port, '/live.css')).headers['content-type']).toBe('text/css; charset=utf-8');
      const s = await get(m.port, '/stats.json?t=1');
      expect(s.status).toBe(200);
      expect(JSON.parse(s.body)).toEqual({ name: 'x', cores: [] });
      expect((await get(m.port, '/metrics')).body).toBe('ix_up 1\n');
      expect((await get(m.port, '/metrics', `localhost:${m.port}`)).status).toBe(200);
      // a name that resolved to 127.0.0.1 elsewhere (DNS rebinding) gets nothing
      for (const p of ['/', '/stats.json', '/metrics']) expect((await get(m.port, p, 'attacker.example')).status).toBe(421);
      expect((await get(m.port, '/nothing')).status).toBe(404);
      fail = true;
      const e = await get(m.port, '/stats.json');
      expect(e.status).toBe(503);
      expect(e.body).toContain('stopping');
    } finally {
      await m.close();
    }
  });

  it('without a stats source, / stays the Prometheus text', async () => {
    const m = await startMetricsServer(0, () => 'ix_up 1\n');
    try {
      expect((await get(m.port, '/')).body).toBe('ix_up 1\n');
      expect((await get(m.port, '/live.js')).status).toBe(404);
    } finally {
      await m.close();
    }
  });

  it("the page's script parses and references only its own origin", () => {
    expect(() => new Function(LIVE_PAGE_JS)).not.toThrow();
    for (const text of [LIVE_PAGE_HTML, LIVE_PAGE_JS, LIVE_PAGE_CSS]) expect(text.replace('http://www.w3.org/2000/svg', '')).not.toMatch(/https?:\/\/|\/\/[a-z]/i);
  });
});

describe('NIC queue rates in the stats report', () => {
  const q = (o: Partial<QueueStats>) => ({ rx_frames: 0, tx_frames: 0, rx_steered_copies: 0, wakeups: 0, rx_drop_no_buffer: 0, tx_drop_runt: 0, ...o }) as QueueStats;
  const core = { cpu: 0, rxBatches: [], nicDrops: 0, exits: 0, hypercallExits: 0, kickExits: 0, haltExits: 0 } as unknown as Sample['cores'][number];
  it('per queue pair per second; null without a NIC', () => {
    const a: Sample = { t: 0, cores: [core], nic: [q({ rx_frames: 10 })] };
    const b: Sample = { t: 2000, cores: [core], nic: [q({ rx_frames: 210, tx_frames: 100, rx_steered_copies: 4, wakeups: 6, rx_drop_no_buffer: 3, tx_drop_runt: 1 })] };
    expect(rates(a, b).nicQueues).toEqual([{ queue: 0, rxFramesPerS: 100, txFramesPerS: 50, rxBytesPerS: 0, txBytesPerS: 0, rxSteeredCopiesPerS: 2, dropsPerS: 2, ringFullPerS: 1.5, refusedPerS: 0, wakeupsPerS: 3 }]);
    expect(rates({ ...a, nic: null }, b).nicQueues).toBeNull();
  });
});
