/**
 * The live page of `ix run --metrics-port N`: http://127.0.0.1:N/ shows the per-core rates
 * `ix stats` shows (the same report, fetched from /stats.json once a second), the raw
 * counters, the NIC queues and small charts of the last five minutes. Hand-written HTML, CSS
 * and JS served by `ix run` itself: no build step, no third-party request (the page's
 * Content-Security-Policy allows only its own origin).
 */

export const LIVE_PAGE_CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'";

export const LIVE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ix dataplane</title>
<link rel="stylesheet" href="live.css">
<script src="live.js" defer></script>
</head>
<body data-updates="0">
<header><h1 id="name">ix dataplane</h1><p id="meta">connecting…</p></header>
<section><h2>Rates per core <small>(over the last interval, as <code>ix stats</code>)</small></h2>
<table id="rates"><thead><tr><th>core</th><th>rx pkt/s</th><th>tx pkt/s</th><th>events/s</th><th>calls/s</th><th>bpolls/s</th><th>calls/bpoll</th><th>idle</th><th>exits/s</th><th>kicks/s</th><th>halts/s</th><th>TCP conns</th><th>drops/s</th></tr></thead><tbody></tbody></table></section>
<section><h2>Last five minutes <small>(all cores)</small></h2><div id="charts"></div></section>
<section><h2>NIC queues</h2><table id="nic"><thead><tr><th>queue</th><th>rx frames/s</th><th>tx frames/s</th><th>rx B/s</th><th>tx B/s</th><th>steered copies/s</th><th>drops/s</th><th>ring full/s</th><th>refused/s</th><th>wakeups/s</th></tr></thead><tbody></tbody></table></section>
<section><h2>Counters <small>(since start)</small></h2>
<table id="counters"><thead><tr><th>core</th><th>rx frames</th><th>tx frames</th><th>events</th><th>bpolls</th><th>calls</th><th>exits</th><th>drops</th><th>NIC drops</th></tr></thead><tbody></tbody></table></section>
<footer>Prometheus text: <a href="metrics">/metrics</a> · JSON: <a href="stats.json">/stats.json</a> (the report of <code>ix stats --json</code>)</footer>
</body>
</html>
`;

export const LIVE_PAGE_CSS = `body{font:14px/1.4 system-ui,Helvetica,Arial,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em;margin:0}h2{font-size:1.05em;margin:1.2em 0 .4em}small{color:#666;font-weight:normal}
#meta{color:#555;margin:.2em 0}#meta.stale{color:#b00}
table{border-collapse:collapse}th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}th{background:#f6f6f6}
tr.total td{font-weight:bold}
#charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{border:1px solid #ddd;padding:6px 8px;width:270px}.chart .t{font-size:12px;color:#444}.chart .v{font-size:18px;font-weight:bold}
.chart svg{display:block;width:270px;height:60px}
footer{margin-top:2em;color:#666;font-size:12px}
`;

export const LIVE_PAGE_JS = `'use strict';
const KEEP = 300; // one point a second: five minutes
const CHARTS = [
  ['rxPps', 'rx pkt/s'], ['txPps', 'tx pkt/s'], ['eventsPerS', 'events/s'], ['idleShare', 'idle share'],
  ['exitsPerS', 'exits/s'], ['tcpConns', 'TCP connections'], ['dropsPerS', 'drops/s'],
];
const RATE_COLS = ['rxPps', 'txPps', 'eventsPerS', 'callsPerS', 'bpollsPerS', 'callsPerBpoll', 'idleShare', 'exitsPerS', 'kickExitsPerS', 'haltExitsPerS', 'tcpConns', 'dropsPerS'];
const NIC_COLS = ['rxFramesPerS', 'txFramesPerS', 'rxBytesPerS', 'txBytesPerS', 'rxSteeredCopiesPerS', 'dropsPerS', 'ringFullPerS', 'refusedPerS', 'wakeupsPerS'];
const COUNTER_COLS = ['rxFrames', 'txFrames', 'events', 'bpolls', 'calls', 'exits', 'drops', 'nicDrops'];
const hist = Object.fromEntries(CHARTS.map(([k]) => [k, []]));
const SVGNS = 'http://www.w3.org/2000/svg';

function fmt(k, v) {
  if (v === null || v === undefined) return '-';
  if (k === 'idleShare') return (v * 100).toFixed(1) + '%';
  if (k === 'callsPerBpoll') return v.toFixed(1);
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e4) return String(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(2) + 'M';
  if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return a >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1);
}
function cell(tr, k, v, core) {
  const td = document.createElement('td');
  td.textContent = fmt(k, v);
  td.dataset.k = k;
  td.dataset.core = core;
  td.dataset.v = v === null || v === undefined ? '' : String(v);
  tr.appendChild(td);
}
function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map(([label, obj, cols, cls]) => {
    const tr = document.createElement('tr');
    if (cls) tr.className = cls;
    const th = document.createElement('td');
    th.textContent = label;
    tr.appendChild(th);
    for (const k of cols) cell(tr, k, obj[k], label);
    return tr;
  }));
}
function chart(key, title) {
  const xs = hist[key];
  const div = document.createElement('div');
  div.className = 'chart';
  div.dataset.k = key;
  const t = document.createElement('div');
  t.className = 't';
  const v = document.createElement('div');
  v.className = 'v';
  v.textContent = xs.length ? fmt(key, xs[xs.length - 1]) : '-';
  const vals = xs.filter((x) => x !== null);
  const max = Math.max(key === 'idleShare' ? 1 : 0, ...vals);
  t.textContent = title + ' (max ' + fmt(key, max) + ', ' + xs.length + ' s)';
  const svg = document.createElementNS(SVGNS, 'svg');
  // the x axis spans the points kept so far, at least a minute, at most five
  const span = Math.min(KEEP, Math.max(60, xs.length));
  svg.setAttribute('viewBox', '0 0 ' + span + ' 60');
  svg.setAttribute('preserveAspectRatio', 'none');
  const pts = xs.map((x, i) => x === null ? null : [span - xs.length + i, 58 - (max > 0 ? (x / max) * 54 : 0)]).filter(Boolean);
  const line = document.createElementNS(SVGNS, 'polyline');
  line.setAttribute('points', pts.map((p) => p[0] + ',' + p[1].toFixed(1)).join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#0072B2');
  line.setAttribute('stroke-width', '1.5');
  line.setAttribute('vector-effect', 'non-scaling-stroke');
  const base = document.createElementNS(SVGNS, 'line');
  for (const [a, b] of [['x1', 0], ['x2', span], ['y1', 58], ['y2', 58]]) base.setAttribute(a, b);
  base.setAttribute('stroke', '#ccc');
  svg.append(base, line);
  div.append(t, v, svg);
  return div;
}
// calls/s is not in the report: the traps' rate times the calls each carried
const withCalls = (c) => Object.assign({}, c, { callsPerS: c.bpollsPerS * (c.callsPerBpoll ?? 0) });
function render(r) {
  document.getElementById('name').textContent = 'ix dataplane ' + r.name;
  const meta = document.getElementById('meta');
  meta.className = '';
  meta.textContent = 'pid ' + r.pid + ', up ' + Math.round(r.uptimeS) + ' s, ' + r.cores.length + ' core(s); rates over the last ' + r.intervalS.toFixed(1) + ' s; refreshed ' + new Date().toLocaleTimeString();
  const multi = r.cores.length > 1;
  fill(document.querySelector('#rates tbody'), [...r.cores.map((c) => [String(c.cpu), withCalls(c), RATE_COLS]), ...(multi ? [['all', withCalls(r.total), RATE_COLS, 'total']] : [])]);
  fill(document.querySelector('#counters tbody'), r.counters.map((c) => [String(c.cpu), c, COUNTER_COLS]));
  fill(document.querySelector('#nic tbody'), (r.nicQueues || []).map((q) => [String(q.queue), q, NIC_COLS]));
  for (const [k] of CHARTS) {
    hist[k].push(r.total[k] ?? null);
    if (hist[k].length > KEEP) hist[k].shift();
  }
  document.getElementById('charts').replaceChildren(...CHARTS.map(([k, t]) => chart(k, t)));
  document.body.dataset.uptime = String(r.uptimeS);
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
}
async function tick() {
  try {
    const res = await fetch('stats.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(await res.text());
    render(await res.json());
  } catch (e) {
    const meta = document.getElementById('meta');
    meta.className = 'stale';
    meta.textContent = 'no answer from the dataplane (' + (e && e.message ? e.message : e) + '); retrying';
  }
  setTimeout(tick, 1000);
}
tick();
`;
