// Parsers for the output of the third-party clients the end-to-end benchmark runs (sockperf,
// memcaslap) and of our own echoload. Pure functions: they throw E2eParseError with the
// tool's output when it does not contain what a finished run prints.

export class E2eParseError extends Error {
  override name = 'E2eParseError';
}

export interface RttResult {
  /** completed round trips the client counted */
  observations: number;
  avg_us: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
}

const clip = (s: string) => (s.length > 2000 ? `...${s.slice(-2000)}` : s);
// sockperf colours some lines; strip ANSI escapes before matching
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

/** `sockperf ping-pong --full-rtt` output -> round-trip figures (µs). */
export function parseSockperf(output: string): RttResult {
  const s = plain(output);
  if (/No messages were received/.test(s))
    throw new E2eParseError(`sockperf received no reply: is the server up and speaking the sockperf protocol?\n${clip(s)}`);
  const pct = (p: string) => {
    const m = new RegExp(`percentile ${p.replace('.', '\\.')} =\\s*([0-9.]+)`).exec(s);
    if (!m) throw new E2eParseError(`sockperf output has no ${p} percentile (did the run finish?):\n${clip(s)}`);
    return Number(m[1]);
  };
  const obs = /Total (\d+) observations/.exec(s);
  const avg = /avg-rtt=([0-9.]+)/.exec(s) ?? /avg-lat=([0-9.]+)/.exec(s);
  const max = /<MAX> observation =\s*([0-9.]+)/.exec(s);
  if (!obs || !avg || !max) throw new E2eParseError(`sockperf output lacks its summary (observations, avg-rtt, max):\n${clip(s)}`);
  return { observations: Number(obs[1]), avg_us: Number(avg[1]), p50_us: pct('50.000'), p99_us: pct('99.000'), p999_us: pct('99.900'), max_us: Number(max[1]) };
}

export interface EchoLoadResult {
  conns: number;
  size: number;
  seconds: number;
  round_trips: number;
  rps: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  errors: number;
  corrupt: number;
  open: number;
}

/** bench/e2e/echoload's one JSON line. */
export function parseEchoLoad(output: string): EchoLoadResult {
  const line = output.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new E2eParseError(`echoload printed no result line:\n${clip(output)}`);
  const r = JSON.parse(line) as EchoLoadResult;
  for (const k of ['conns', 'rps', 'p50_us', 'p99_us', 'round_trips', 'errors', 'corrupt'] as const)
    if (typeof r[k] !== 'number') throw new E2eParseError(`echoload result lacks "${k}": ${line}`);
  return r;
}

export interface MemslapResult {
  /** get operations per second over the whole run (the Global line of Get Statistics) */
  get_tps: number;
  get_ops: number;
  avg_us: number;
  /** upper bound of the log2 latency bucket holding the 99th percentile of gets */
  p99_us_le: number;
  /** same for the median */
  p50_us_le: number;
  get_misses: number;
}

/**
 * memcaslap (memaslap 1.0, libmemcached-tools 1.1.4) run with `-S <run time>`: reads the
 * "Get Statistics" tables. memaslap has no percentiles; its "Log2 Dist" histogram (row label
 * k, then counts of the buckets [2^k, 2^(k+1)), [2^(k+1), 2^(k+2)) ... in µs) bounds them.
 */
export function parseMemslap(output: string): MemslapResult {
  const s = plain(output);
  const refused = /CLIENT_ERROR[^\n]*/.exec(s);
  if (refused)
    throw new E2eParseError(
      `the server refused memcaslap's commands (${refused[0].trim()}): memaslap's keys begin with 8 raw bytes, control characters included, which memcached accepts and a server that follows the protocol text strictly refuses`,
    );
  const table = /Get Statistics\s*\nType[^\n]*\n(?:Period[^\n]*\n)?Global\s+(\d+)\s+(\d+)\s+(\d+)\s+[0-9.]+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(s);
  if (!table) throw new E2eParseError(`memcaslap output has no "Get Statistics" Global line (run it with -S equal to -t):\n${clip(s)}`);
  const block = /Get Statistics \(\d+ events\)([\s\S]*?)(?:\n\s*\n|$)/.exec(s);
  const dist = block ? /Log2 Dist:\s*\n([\s\S]*)/.exec(block[1]!) : null;
  if (!dist) throw new E2eParseError(`memcaslap output has no get latency histogram ("Log2 Dist"):\n${clip(s)}`);
  const buckets: { lo: number; count: number }[] = [];
  for (const line of dist[1]!.split('\n')) {
    const m = /^\s*(\d+):\s+([\d\s]+)$/.exec(line);
    if (!m) continue;
    const k = Number(m[1]);
    m[2]!.trim().split(/\s+/).forEach((c, i) => buckets.push({ lo: 2 ** (k + i), count: Number(c) }));
  }
  const total = buckets.reduce((a, b) => a + b.count, 0);
  if (total === 0) throw new E2eParseError(`memcaslap latency histogram is empty:\n${clip(s)}`);
  const bound = (p: number) => {
    let acc = 0;
    for (const b of buckets) {
      acc += b.count;
      if (acc >= p * total) return b.lo * 2;
    }
    return buckets[buckets.length - 1]!.lo * 2;
  };
  const misses = /get_misses:\s*(\d+)/.exec(s);
  return {
    get_ops: Number(table[2]),
    get_tps: Number(table[3]),
    avg_us: Number(table[7]),
    p50_us_le: bound(0.5),
    p99_us_le: bound(0.99),
    get_misses: misses ? Number(misses[1]) : Number(table[4]),
  };
}
