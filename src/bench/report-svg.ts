/**
 * A small SVG writer for the benchmark report: line charts (CDFs, time series, throughput
 * against connections) and grouped bar charts with min-max whiskers. Scales and paths come
 * from d3-scale and d3-shape; the markup is written here, so rendering needs no browser and
 * no DOM. Every chart carries a title and a caption line (what, platform, host, when).
 */
import { scaleBand, scaleLinear, scaleLog } from 'd3-scale';
import { line } from 'd3-shape';

/** Okabe-Ito: distinguishable with the common colour-vision deficiencies */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

const W = 720;
const H = 400;
const M = { top: 58, right: 170, bottom: 52, left: 70 };

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface ChartText {
  title: string;
  /** what was measured, on which platform and host, when */
  caption: string;
  xLabel: string;
  yLabel: string;
}

export interface LineSeries {
  name: string;
  points: [number, number][];
  /** draw as steps (a CDF) instead of straight segments */
  step?: boolean;
}

export interface BarSeries {
  name: string;
  values: (number | null)[];
  /** min-max whiskers per group (null: none) */
  ranges?: ([number, number] | null)[];
}

const fmt = (v: number): string => {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
};

function frame(t: ChartText, body: string[], legend: string[]): string {
  const x0 = M.left;
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  // legend labels are cut to fit the right margin; the whole name is the tooltip
  const cut = (n: string) => (n.length > 24 ? `${n.slice(0, 23)}…` : n);
  const items = legend.map(
    (name, i) =>
      `<g transform="translate(${W - M.right + 14},${M.top + 6 + i * 20})"><title>${esc(name)}</title><rect width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="18" y="10">${esc(cut(name))}</text></g>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${x0}" y="22" font-size="15" font-weight="bold">${esc(t.title)}</text>`,
    `<text x="${x0}" y="40" font-size="11" fill="#555">${esc(t.caption)}</text>`,
    ...body,
    `<text x="${x0 + iw / 2}" y="${H - 10}" text-anchor="middle">${esc(t.xLabel)}</text>`,
    `<text transform="translate(16,${M.top + ih / 2}) rotate(-90)" text-anchor="middle">${esc(t.yLabel)}</text>`,
    ...items,
    '</svg>',
    '',
  ].join('\n');
}

type Scale = ((v: number) => number) & { ticks(n?: number): number[] };

function axes(x: Scale | null, y: Scale, xTicks: [number, string][] | null, yTicks?: [number, string][]): string[] {
  const ih = H - M.top - M.bottom;
  const iw = W - M.left - M.right;
  const out: string[] = [];
  for (const [v, label] of yTicks ?? y.ticks(6).map((v) => [v, fmt(v)] as [number, string])) {
    const py = y(v);
    out.push(`<line x1="${M.left}" x2="${M.left + iw}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 6}" y="${py + 4}" text-anchor="end">${esc(label)}</text>`);
  }
  const ticks = xTicks ?? (x ? x.ticks(8).map((v) => [x(v), fmt(v)] as [number, string]) : []);
  for (const [px, label] of ticks) {
    out.push(`<line x1="${px}" x2="${px}" y1="${M.top + ih}" y2="${M.top + ih + 5}" stroke="#333"/>`);
    out.push(`<text x="${px}" y="${M.top + ih + 18}" text-anchor="middle">${esc(label)}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${M.left + iw}" y1="${M.top + ih}" y2="${M.top + ih}" stroke="#333"/>`);
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ih}" stroke="#333"/>`);
  return out;
}

/** Lines (or steps) on linear or log axes. */
export function lineChart(t: ChartText, series: LineSeries[], o: { xLog?: boolean; xInteger?: boolean; yMin?: number; yMax?: number; yTicks?: [number, string][] } = {}): string {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  if (!xs.length) return frame(t, [`<text x="${M.left + iw / 2}" y="${M.top + ih / 2}" text-anchor="middle" fill="#888">no data in this run</text>`], []);
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (!(xMax > xMin)) [xMin, xMax] = [xMin * 0.9 || 0, xMax * 1.1 || 1];
  const log = o.xLog && xMin > 0;
  // a log axis spans the data with a little room (nice() would round out to whole decades)
  const x = (log ? scaleLog().domain([xMin / 1.15, xMax * 1.15]) : scaleLinear().domain([xMin, xMax]).nice()).range([M.left, M.left + iw]) as unknown as Scale;
  const y = scaleLinear()
    .domain([o.yMin ?? Math.min(0, ...ys), o.yMax ?? (Math.max(...ys) || 1)])
    .range([M.top + ih, M.top])
    .nice() as unknown as Scale;
  const xTicks = log ? logTicks(x, xMin / 1.15, xMax * 1.15) : o.xInteger ? x.ticks(8).filter(Number.isInteger).map((v) => [x(v), fmt(v)] as [number, string]) : null;
  const body = axes(x, y, xTicks, o.yTicks);
  series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const stepped: [number, number][] = s.step ? pts.flatMap((p, j) => (j ? [[p[0], pts[j - 1]![1]] as [number, number], p] : [p])) : pts;
    const d = line<[number, number]>()
      .x((p) => x(p[0]))
      .y((p) => y(p[1]))(stepped);
    const c = PALETTE[i % PALETTE.length];
    body.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="2"/>`);
    for (const p of pts) body.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${c}"/>`);
  });
  return frame(t, body, series.map((s) => s.name));
}

function logTicks(x: Scale, lo: number, hi: number): [number, string][] {
  const out: [number, string][] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push([x(v), fmt(v)]);
    }
  return out;
}

/** Grouped bars (one group per category, one bar per series), optional min-max whiskers. */
export function barChart(t: ChartText, groups: string[], series: BarSeries[], o: { yLog?: boolean } = {}): string {
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const vals = series.flatMap((s) => [...s.values, ...(s.ranges ?? []).flatMap((r) => r ?? [])]).filter((v): v is number => v !== null && v > 0);
  const top = Math.max(...vals, 1);
  const bottom = Math.min(...vals, top);
  const y = (o.yLog ? scaleLog().domain([bottom / 2, top * 1.2]) : scaleLinear().domain([0, top * 1.05])).range([M.top + ih, M.top]).nice() as unknown as Scale;
  const gx = scaleBand().domain(groups).range([M.left, M.left + iw]).padding(0.2);
  const bx = scaleBand()
    .domain(series.map((s) => s.name))
    .range([0, gx.bandwidth()])
    .padding(0.08);
  const body = axes(null, y, groups.map((g) => [(gx(g) ?? 0) + gx.bandwidth() / 2, g]));
  const base = M.top + ih;
  series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length];
    groups.forEach((g, j) => {
      const v = s.values[j];
      if (v === null || v === undefined || !(v > 0 || !o.yLog)) return;
      const px = (gx(g) ?? 0) + (bx(s.name) ?? 0);
      const py = y(v);
      body.push(`<rect x="${px.toFixed(1)}" y="${py.toFixed(1)}" width="${bx.bandwidth().toFixed(1)}" height="${(base - py).toFixed(1)}" fill="${c}"><title>${esc(`${s.name}, ${g}: ${fmt(v)}`)}</title></rect>`);
      const r = s.ranges?.[j];
      if (r) {
        const cx = px + bx.bandwidth() / 2;
        body.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y(Math.max(r[0], o.yLog ? bottom / 2 : 0)).toFixed(1)}" y2="${y(r[1]).toFixed(1)}" stroke="#222" stroke-width="1.5"/>`);
      }
    });
  });
  return frame(t, body, series.map((s) => s.name));
}
