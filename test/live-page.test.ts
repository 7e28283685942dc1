// The live page of `ix run --metrics-port`: an echo dataplane with two TCP clients sending
// from inside its namespace, the page opened in headless Chromium (Debian's `chromium`,
// driven by puppeteer-core; no browser download), and the numbers on the page checked
// against `ix stats --json` taken between two of the page's refreshes: every counter the
// page shows before is <= the one `ix stats` reports, which is <= the one the page shows
// after; the TCP connection gauge is the same. No timing thresholds. A screenshot is kept in
// test-artifacts/live-page.png (gitignored). The browser may reach 127.0.0.1 only: every
// other request is aborted and fails the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireKvm, inCI } from './kvm-env.js';
import { netnsUnavailable } from './net-ns.js';
import { IX, appElf, tempDir, writeConfig } from './ix-cli.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const netWhy = netnsUnavailable();
if (netWhy && inCI) throw new Error(`network namespaces are needed and CI=true: ${netWhy}`);
if (!existsSync(CHROMIUM) && inCI) throw new Error(`${CHROMIUM} is missing and CI=true (ci/apt-packages.txt lists chromium)`);
if (netWhy) console.warn(`skipping the live page test: ${netWhy}`);
else if (!existsSync(CHROMIUM)) console.warn(`skipping the live page test: no ${CHROMIUM} (apt-get install chromium)`);
const run = requireKvm() && !netWhy && existsSync(CHROMIUM);

const { dir, cleanup } = tempDir('ix-live-');
const env = { ...process.env, IX_RUN_DIR: join(dir, 'run'), NO_COLOR: '1' };
const name = `live-${process.pid}`;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  cleanup();
});

type Rec = Record<string, unknown>;
type Report = { uptimeS: number; total: { tcpConns: number }; counters: Record<string, number>[]; nicQueues?: unknown[] | null };

const COUNTERS = ['rxFrames', 'txFrames', 'events', 'bpolls', 'calls', 'exits'];

describe.runIf(run)('ix run --metrics-port: the live page', () => {
  it('shows the counters ix stats --json reports, refreshed, with charts and NIC queues, from 127.0.0.1 only', { timeout: 120_000 + 1000 * Number(process.env.IX_LIVE_PAGE_SECONDS ?? 0) }, async () => {
    const cfg = writeConfig(
      dir,
      name,
      `name = "${name}"\ncores = 1\nmemory = "128M"\n[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "8M"\n[nic]\nnamespace = true\naddress = "10.77.0.2/24"\n`,
    );
    const dp = spawn(process.execPath, [IX, 'run', '--json', cfg, '--metrics-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    children.push(dp);
    const exited = new Promise<number | null>((res) => dp.once('exit', (c) => res(c)));
    const recs: Rec[] = [];
    let buf = '';
    dp.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('{')) recs.push(JSON.parse(line) as Rec);
      }
    });
    const find = (re: RegExp) => recs.find((r) => re.test(String(r.msg)));
    for (let i = 0; i < 600 && !find(/^ready: /); i++) {
      if (dp.exitCode !== null) throw new Error(`ix run ended early: ${JSON.stringify(recs)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(find(/^ready: /), JSON.stringify(recs)).toBeDefined();
    const port = Number(find(/^live page on/)!.port);
    const netns = String(find(/^NIC up/)!.netns);
    const base = `http://127.0.0.1:${port}`;

    // the page's own headers: only its origin; a foreign Host (DNS rebinding) is refused
    const head = await fetch(`${base}/`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-security-policy')).toContain("default-src 'none'");
    const foreign = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: example.com', `${base}/stats.json`], { encoding: 'utf8' });
    if (foreign.status === 0) expect(foreign.stdout).toBe('421');

    // two TCP clients echoing 64 B messages in a loop, persistent connections
    const py = [
      'import socket, sys, time',
      "cs = [socket.create_connection(('10.77.0.2', 7)) for _ in range(2)]",
      "print('up', flush=True)",
      `end = time.time() + ${100 + Number(process.env.IX_LIVE_PAGE_SECONDS ?? 0)}`,
      'while time.time() < end:',
      '    for s in cs:',
      "        s.sendall(b'x' * 64); got = b''",
      '        while len(got) < 64: got += s.recv(64 - len(got))',
    ].join('\n');
    const load = spawn('ip', ['netns', 'exec', netns, 'python3', '-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(load);
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('the echo clients did not connect within 15 s')), 15_000);
      load.stdout!.once('data', () => (clearTimeout(t), res()));
    });

    const { default: puppeteer } = await import('puppeteer-core');
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'],
    });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1200, height: 900 });
      const foreignRequests: string[] = [];
      await page.setRequestInterception(true);
      page.on('request', (req) => {
        if (new URL(req.url()).hostname === '127.0.0.1') void req.continue();
        else {
          foreignRequests.push(req.url());
          void req.abort();
        }
      });
      await page.goto(`${base}/`);
      const updates = async () => Number(await page.$eval('body', (b) => b.dataset.updates));
      const waitUpdates = async (n: number) => page.waitForFunction((k) => Number(document.body.dataset.updates) >= k, { timeout: 30_000 + 2000 * n }, n);
      await waitUpdates(3);
      type Shown = { uptime: number; counters: Record<string, number>; tcpConns: number; nicRows: number; rxPps: number; callsPerS: number; charts: number };
      const shown = (): Promise<Shown> =>
        page.evaluate(() => {
          const counters: Record<string, number> = {};
          for (const td of document.querySelectorAll<HTMLElement>('#counters td[data-k]')) if (td.dataset.core === '0') counters[td.dataset.k!] = Number(td.dataset.v);
          const rate = (k: string) => Number(document.querySelector<HTMLElement>(`#rates td[data-core="0"][data-k="${k}"]`)?.dataset.v);
          return {
            uptime: Number(document.body.dataset.uptime),
            counters,
            tcpConns: rate('tcpConns'),
            rxPps: rate('rxPps'),
            callsPerS: rate('callsPerS'),
            nicRows: document.querySelectorAll('#nic tbody tr').length,
            charts: document.querySelectorAll('#charts .chart polyline').length,
          };
        });
      const before = await shown();
      const s = spawnSync(process.execPath, [IX, 'stats', name, '--json'], { encoding: 'utf8', env, timeout: 30_000 });
      expect(s.status, s.stderr).toBe(0);
      const stats = JSON.parse(s.stdout) as Report;
      // a refresh in flight when ix stats ran may have sampled before it: wait for two more
      await waitUpdates((await updates()) + 2);
      const after = await shown();

      expect(before.uptime).toBeLessThanOrEqual(stats.uptimeS);
      expect(stats.uptimeS).toBeLessThanOrEqual(after.uptime);
      for (const k of COUNTERS) {
        const v = stats.counters[0]![k]!;
        expect(before.counters[k], k).toBeLessThanOrEqual(v);
        expect(v, k).toBeLessThanOrEqual(after.counters[k]!);
      }
      expect(after.counters.rxFrames).toBeGreaterThan(before.counters.rxFrames!);
      expect(after.rxPps).toBeGreaterThan(0);
      expect(after.callsPerS).toBeGreaterThan(0);
      expect(stats.total.tcpConns).toBe(2);
      expect(before.tcpConns).toBe(2);
      expect(after.tcpConns).toBe(2);
      expect(after.nicRows).toBe(stats.nicQueues?.length ?? 0);
      expect(after.nicRows).toBeGreaterThan(0);
      expect(after.charts).toBe(7);
      expect(foreignRequests).toEqual([]);

      // IX_LIVE_PAGE_SECONDS=N: N more refreshes before the screenshot (fuller charts for docs)
      const more = Number(process.env.IX_LIVE_PAGE_SECONDS ?? 0);
      if (more > 0) await waitUpdates((await updates()) + more);
      const out = resolve('test-artifacts');
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: join(out, 'live-page.png') as `${string}.png`, fullPage: true });
    } finally {
      await browser.close();
      load.kill('SIGKILL');
      dp.kill('SIGTERM');
      await exited;
    }
  });
});
