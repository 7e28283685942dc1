// The NIC bench's summary: one row per configuration (medians over the rounds) with its packet
// rate relative to the C reflector on the TAP (the ceiling) and, for the configurations
// on the veth pair, to the C reflector on that veth. Pure; src/bench/nic.ts prints it and
// src/bench/report-tables.ts renders the same cells in the report.
import { VETH_CONFIGS, type NicBenchConfig } from './nic-options.js';
import type { PingResult } from '../testing/nic-tools.js';

export interface NicBenchRow {
  config: NicBenchConfig;
  pps_1: number;
  rtt_p50_us: number;
  rtt_p99_us: number;
  pps_n: number;
  rtt_p50_us_n: number;
  lost: number;
  /** pps / c-reflector's pps of the same run, 1 and N in flight (null: no c-reflector measured) */
  ratio_1?: number | null;
  ratio_n?: number | null;
  /** the same against c-reflector-veth, for the configurations on the veth pair */
  veth_ratio_1?: number | null;
  veth_ratio_n?: number | null;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

const ratio = (v: number, ref: number | undefined): number | null => (ref !== undefined && ref > 0 && Number.isFinite(v) ? v / ref : null);

/** Rows from the raw runs, keyed `<config>/1` and `<config>/<inflight>`. */
export function buildNicRows(configs: readonly NicBenchConfig[], raw: Record<string, PingResult[]>, inflight: number): NicBenchRow[] {
  const rows = configs.map((config) => {
    const one = raw[`${config}/1`] ?? [];
    const n = raw[`${config}/${inflight}`] ?? [];
    return {
      config,
      pps_1: Math.round(median(one.map((r) => r.pps))),
      rtt_p50_us: median(one.map((r) => r.rtt_p50_us)),
      rtt_p99_us: median(one.map((r) => r.rtt_p99_us)),
      pps_n: Math.round(median(n.map((r) => r.pps))),
      rtt_p50_us_n: median(n.map((r) => r.rtt_p50_us)),
      lost: [...one, ...n].reduce((a, r) => a + r.lost, 0),
    };
  });
  const tap = rows.find((r) => r.config === 'c-reflector');
  const veth = rows.find((r) => r.config === 'c-reflector-veth');
  return rows.map((r) => ({
    ...r,
    ratio_1: r === tap ? null : ratio(r.pps_1, tap?.pps_1),
    ratio_n: r === tap ? null : ratio(r.pps_n, tap?.pps_n),
    ...(VETH_CONFIGS.includes(r.config) && r !== veth ? { veth_ratio_1: ratio(r.pps_1, veth?.pps_1), veth_ratio_n: ratio(r.pps_n, veth?.pps_n) } : {}),
  }));
}

const fmtRatio = (a: number | null | undefined, b: number | null | undefined): string =>
  a == null && b == null ? '-' : `${a == null ? '-' : a.toFixed(2)} / ${b == null ? '-' : b.toFixed(2)}`;

/** The table's heading and cells (numbers are formatted by the renderer). */
export function nicTableCells(n: { options: { inflight: number }; rows: NicBenchRow[] }): { head: string[]; rows: (string | number)[][] } {
  const k = n.options.inflight;
  return {
    head: ['config', 'pkt/s, 1 in flight', 'RTT p50 µs', 'RTT p99 µs', `pkt/s, ${k} in flight`, `RTT p50 µs, ${k} in flight`, `vs c-reflector, 1 / ${k}`, `vs c-reflector-veth, 1 / ${k}`, 'lost'],
    rows: n.rows.map((x) => [x.config, x.pps_1, x.rtt_p50_us, x.rtt_p99_us, x.pps_n, x.rtt_p50_us_n, fmtRatio(x.ratio_1, x.ratio_n), fmtRatio(x.veth_ratio_1, x.veth_ratio_n), x.lost]),
  };
}

/** Issue 11's benchmark target: the XDP backend's packet rate at least this share of the C reflector's. */
export const XDP_TARGET = 0.7;

/** One line per XDP row measured next to c-reflector: its ratio at N in flight against the target. */
export function xdpTargetLines(rows: NicBenchRow[], inflight: number): string[] {
  return rows
    .filter((r) => (r.config === 'xdp-guest' || r.config === 'xdp-host') && r.ratio_n != null)
    .map((r) => `target: ${r.config} pkt/s at ${inflight} in flight >= ${XDP_TARGET} x c-reflector: ${r.ratio_n!.toFixed(2)}, ${r.ratio_n! >= XDP_TARGET ? 'met' : 'not met'} in this run`);
}
