// The benchmark report without running a benchmark: results of every kind in the shapes the
// benches write, history records, the comparison against previous runs (flagged only beyond
// the run-to-run spread) and the report directory (report.md + SVG plots).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compare, loadHistory, makeRecord, readRecords, saveRecord, type RunRecord } from '../src/bench/report-history.js';
import { writeReport } from '../src/bench/report.js';
import { plotsFor } from '../src/bench/report-plots.js';
import { ELASTIC_HEAD, elasticCells, tableFor, textTable } from '../src/bench/report-tables.js';
import type { ConnloadResult } from '../src/bench/conns.js';
import type { ElasticStep } from '../src/bench/elastic.js';
import { tempDir } from './ix-cli.js';

const { dir, cleanup } = tempDir('ix-report-');
afterAll(cleanup);

const trap = (scale: number) => ({
  platform: 'pvm',
  perCall: [1, 8, 64].map((batch) => ({ batch, usPerCall: [1, 2, 3].map((x) => (x * scale) / batch), medianUs: (2 * scale) / batch, minUs: scale / batch, maxUs: (3 * scale) / batch })),
  perCallNone: [1, 8, 64].map((batch) => ({ batch, usPerCall: [0.1], medianUs: 0.1 / batch, minUs: 0.1 / batch, maxUs: 0.1 / batch })),
  bootToApp: { samplesMs: [200, 300], medianMs: 250, minMs: 200, maxMs: 300 },
});
const ping = (pps: number) => ({ sent: 1, received: 1, lost: 0, corrupt: 0, send_retries: 0, seconds: 1, pps, rtt_p50_us: 10, rtt_p99_us: 30, per_port: [] });
const nic = {
  options: { seconds: 1, rounds: 2, inflight: 32, payload: 64, flows: 8, queues: 1, configs: ['c-reflector', 'backend'], backendSpinUs: 20, guestSpinUs: 20 },
  rows: [
    { config: 'c-reflector', pps_1: 20000, rtt_p50_us: 8, rtt_p99_us: 20, pps_n: 60000, rtt_p50_us_n: 30, lost: 0 },
    { config: 'backend', pps_1: 9000, rtt_p50_us: 36, rtt_p99_us: 80, pps_n: 30000, rtt_p50_us_n: 60, lost: 0 },
  ],
  raw: { 'c-reflector/1': [ping(19000), ping(21000)], 'c-reflector/32': [ping(55000), ping(65000)], 'backend/1': [ping(8000), ping(10000)], 'backend/32': [ping(29000), ping(31000)] },
};
const boundary = {
  platform: 'pvm',
  rounds: 3,
  modes: { none: { 'null crossing': { samples: [0.05], median: 0.05, min: 0.04, max: 0.06 } }, 'page-tables': { 'null crossing': { samples: [30], median: 30, min: 25, max: 40 } } },
  refused: {},
};
const rtt = (p50: number) => ({ observations: 100, avg_us: p50, p50_us: p50, p99_us: p50 * 2, p999_us: p50 * 3, max_us: p50 * 5 });
const echo = (conns: number, rps: number) => ({ conns, size: 64, seconds: 1, round_trips: rps, rps, p50_us: 20, p90_us: 30, p99_us: 50, p999_us: 90, max_us: 200, errors: 0, corrupt: 0, open: conns });
const e2e = {
  options: { seconds: 1, rounds: 1, serverCpus: [0], clientCpus: [1], echoConns: [1, 16], kvConns: 32, backendSpinUs: null },
  host: { cpus: 2, load1_start: 0, load1_end: 0 },
  rows: [{ metric: 'echo round trips/s, 1 conn', ix: 40000, linux: 16000, ratio: 2.5, goal: '>= 3', met: false, ix_range: [39000, 41000], linux_range: [15000, 17000] }],
  notes: [],
  errors: [],
  samples: { rtt_block: { ix: [rtt(21)], linux: [rtt(60)] }, echo_1: { ix: [echo(1, 40000)], linux: [echo(1, 16000)] }, echo_16: { ix: [echo(16, 70000)], linux: [echo(16, 190000)] } },
};
const wake = [
  { idleMs: 2, route: 'user', haltPollNs: null, wakeUs: { min: 20, median: 40, p90: 60, max: 300 }, haltBlocksInKernel: true, delivered: 200, samples: 200 },
  { idleMs: 2, route: 'msi', haltPollNs: 200000, wakeUs: { min: 5, median: 8, p90: 12, max: 90 }, haltBlocksInKernel: true, delivered: 200, samples: 200 },
  { idleMs: 0, route: 'pic', haltPollNs: 0, wakeUs: null, haltBlocksInKernel: true, delivered: 0, samples: 200 },
];
const connload = (rps: number, p99: number) => ({ rtt_per_s: rps, p99_us: p99 }) as ConnloadResult;
const elasticRows: ElasticStep[] = [
  { dataplane: 'elastic', step: 0, inFlight: 0, cores: 1, result: null, cpuS: 0.5, wallS: 6 },
  { dataplane: 'elastic', step: 1, inFlight: 256, cores: 2, result: connload(12345.6, 900), cpuS: 3, wallS: 6 },
  { dataplane: 'fixed', step: 0, inFlight: 0, cores: 2, result: null, cpuS: 1, wallS: 6 },
  { dataplane: 'fixed', step: 1, inFlight: 256, cores: 2, result: connload(11000, 800), error: 'connload exit 1', cpuS: 6, wallS: 6 },
];
const elastic = { timeline: [0, 1, 2].map((t) => ({ t_s: t, cores: t + 1, rps: 1000 * (t + 1), p99_us: 100 })) };

describe('bench report', () => {
  it('draws every kind: SVG with a title and a caption naming platform, host and time', () => {
    const kinds = { trap: trap(100), boundary, nic, e2e, wake, elastic } as const;
    for (const [kind, result] of Object.entries(kinds)) {
      const r = makeRecord(kind as RunRecord['kind'], result, new Date('2026-01-02T03:04:05Z'));
      const plots = plotsFor(r);
      expect(plots.length, kind).toBeGreaterThan(0);
      for (const p of plots) {
        expect(p.svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
        expect(p.svg).toContain('2026-01-02 03:04:05 UTC');
        expect(p.svg).toContain(`platform ${r.platform}`);
        expect(p.svg).not.toMatch(/NaN|undefined|Infinity/);
        expect(p.svg.trimEnd().endsWith('</svg>')).toBe(true);
      }
    }
    // a run whose points all failed still draws (saying so), without NaN coordinates
    const empty = plotsFor(makeRecord('e2e', { ...e2e, samples: { rtt_block: { ix: [], linux: [{ ...rtt(1), p50_us: 0, p99_us: 0, p999_us: 0, max_us: 0 }] } } }));
    expect(empty[0]!.svg).toContain('no data in this run');
    expect(empty[0]!.svg).not.toMatch(/NaN|Infinity/);
    // the tables as the benches print them
    expect(tableFor(makeRecord('e2e', e2e))).toContain('| echo round trips/s, 1 conn | 40.0 k (39.0 k-41.0 k) | 16.0 k (15.0 k-17.0 k) | 2.5 | >= 3 | no |');
    expect(tableFor(makeRecord('nic', nic))).toContain('| backend | 9000 | 36 | 80 | 30.0 k | 60 | - | - | 0 |'); // a result from before the ratios: no ratio claimed
    expect(tableFor(makeRecord('wake', wake)).at(-2)).toBe('| 0 | pic | 0 | true | 0/200 | - | - | - | - |');
    // elastic: the terminal and report.md tables come from the same cells
    const run = { ...elastic, knobs: 'policy = "auto"', conns: 64, seconds: 6, steps: [0, 256], rows: elasticRows };
    const md = tableFor(makeRecord('elastic', run));
    expect(md.slice(0, 4)).toEqual([
      '| dataplane | step | in flight | cores | round trips/s | p99 µs | host CPU s |',
      '|---|---|---|---|---|---|---|',
      '| elastic | 0 | 0 | 1 | - | - | 0.50 |',
      '| elastic | 1 | 256 | 2 | 12346 | 900 | 3.00 |',
    ]);
    expect(md).toContain('host CPU over all steps: elastic 3.50 s, fixed 7.00 s (elastic 50 % less).');
    expect(md).toContain('- fixed step 1: connload exit 1');
    expect(textTable(ELASTIC_HEAD, elasticCells(run), run.rows.map((x) => x.error))).toEqual([
      'dataplane  step  in flight  cores  round trips/s  p99 µs  host CPU s',
      'elastic       0          0      1              -       -        0.50',
      'elastic       1        256      2          12346     900        3.00',
      'fixed         0          0      2              -       -        1.00',
      'fixed         1        256      2          11000     800        6.00  (connload exit 1)',
    ]);
    expect(tableFor(makeRecord('elastic', elastic))[0]).toBe('| metric | value | min-max in the run |');
    const names = plotsFor(makeRecord('e2e', e2e)).map((p) => p.file);
    expect(names).toEqual(['e2e-rtt_block-cdf.svg', 'e2e-echo-throughput.svg', 'e2e-echo-cdf.svg']);
  });

  it('flags a metric only when it moved by more than the run-to-run spread', () => {
    const m = (v: number, range?: [number, number]) => [{ name: 'x', value: v, unit: 'µs', range }];
    // previous 100, 110 (spread 10 %): 112 is inside, 150 is out
    expect(compare(m(112), [m(100), m(110)])[0]!.moved).toBe(false);
    expect(compare(m(150), [m(100), m(110)])[0]!.moved).toBe(true);
    // one previous run without a range: the spread is unknown, nothing is claimed
    expect(compare(m(150), [m(100)])[0]!.moved).toBeNull();
    // a wide within-run range covers the move
    expect(compare(m(150, [60, 180]), [m(100)])[0]!.moved).toBe(false);
    expect(compare(m(150), [])).toEqual([]);
    // a one-sample range (min = max) is no spread either
    expect(compare(m(150, [150, 150]), [m(100, [100, 100])])[0]!.moved).toBeNull();
  });

  it('keeps history per kind and host, and reports the newest run against the previous ones', () => {
    const hist = join(dir, 'hist');
    for (const [i, scale] of [100, 105, 300].entries()) saveRecord(hist, makeRecord('trap', trap(scale), new Date(Date.UTC(2026, 0, 1 + i))));
    saveRecord(hist, makeRecord('nic', nic, new Date(Date.UTC(2026, 0, 5))));
    const other = makeRecord('trap', trap(1000), new Date(Date.UTC(2026, 0, 2)));
    other.host = { ...other.host, name: 'elsewhere' };
    saveRecord(hist, other);
    const h = loadHistory(hist);
    expect(h.map((r) => r.kind)).toEqual(['trap', 'trap', 'trap', 'trap', 'nic']);
    const newest = h.filter((r) => r.kind === 'trap').pop()!;
    const out = join(dir, 'report');
    const rep = writeReport([newest, h.find((r) => r.kind === 'nic')!], h, out);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('### Against 2 previous trap run(s) on this host');
    expect(md).toContain('### Against 0 previous nic run(s) on this host');
    expect(md).toMatch(/\| µs\/call, batch 1 \| 600 µs \| 205 µs \| 2 \| 2\.93 \| .* \| \*\*moved up\*\* \|/);
    expect(rep.flagged.map((c) => c.metric)).toContain('µs/call, batch 1');
    for (const f of rep.plots) {
      expect(existsSync(join(out, f))).toBe(true);
      expect(md).toContain(`](${f})`);
    }
    expect(rep.plots).toEqual(['trap-cost.svg', 'history-trap.svg', 'nic-pps.svg', 'nic-latency-cdf.svg']);
    expect(readFileSync(join(out, 'history-trap.svg'), 'utf8')).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('reads the older bench-results-<time>.json files too', () => {
    const f = join(dir, 'bench-results-2026-02-03T04-05-06-789Z.json');
    writeFileSync(f, JSON.stringify({ trap: trap(100), nic }));
    const rs = readRecords(f);
    expect(rs.map((r) => [r.kind, r.time, r.platform])).toEqual([
      ['trap', '2026-02-03T04:05:06.789Z', 'pvm'],
      ['nic', '2026-02-03T04:05:06.789Z', 'host (no guest)'],
    ]);
    writeFileSync(f, JSON.stringify({ nothing: 1 }));
    expect(() => readRecords(f)).toThrow(/no benchmark results/);
  });
});
