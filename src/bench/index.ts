/**
 * `npm run bench -- <name> [--json]`: benchmarks, never part of `npm test`.
 *   trap   cost of one batched call (batch 1, 8, 64) and `ix run` -> first app instruction;
 *          options --rounds=N (runs per protection mode, 5) --boots=N (boots timed, 10)
 *   boundary  every protection boundary the platform offers, side by side (docs/protection.md)
 *   nic    NIC queue path vs a C reflector on a TAP device, and the echo dataplane over AF_XDP
 *          (xdp_rings guest and host) and over TAP vs a C reflector on a veth (docs/nic.md);
 *          options --seconds=N --rounds=N --inflight=N --configs=a,b --backend-spin-us=N
 *   net    the stack's host harness behind a TAP vs Linux TCP over veth: echo RTT
 *   e2e    the dataplane against Linux: sockperf RTT, memcached protocol, echo (docs/bench.md);
 *          options --seconds=N --rounds=N --server-cpus=0,1 --client-cpus=1
 *   wake   waking a halted vCPU: user-space path vs in-kernel irqchip + irqfd (docs/wake.md),
 *          then the echo dataplane at sparse traffic per wake path, polling and Linux
 *          (result kind wake_dp); --probe-only skips the dataplane part
 *   conns  connections at scale: echo throughput and p99 at 1k-250k concurrent connections,
 *          ix and Linux epoll (docs/scale.md); options --counts=1000,10000 --seconds=N
 *   elastic  a load stepping up and down on the echo dataplane with [cores] policy = "auto"
 *          and on cores = 2: per step cores, round trips/s, p99, host CPU time (docs/scale.md);
 *          options --steps=0,256,0 (messages in flight per step) --seconds=N
 *   report [files…]  plots and tables of results files (default: the newest run of each kind)
 * With no name, runs trap, nic and net (e2e only when named). Every run is kept in the
 * history (--history=DIR, default ./bench-history) and ends with a report (--out=DIR,
 * default ./bench-reports/<time>; --no-report skips it).
 */
import { writeFileSync } from 'node:fs';
import { runTrapBench, printTrapBench } from './trap.js';
import { fillPlatform, historyDir, loadHistory, makeRecord, saveRecord, type BenchKind } from './report-history.js';
import { printReportResult, reportCommand, reportDir, writeReport } from './report.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const names = args.filter((a) => !a.startsWith('--'));
/** --NAME=N as a positive integer, or undefined when absent */
function countArg(name: string): number | undefined {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  if (a === undefined) return undefined;
  const n = Number(a.slice(name.length + 3));
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench: --${name} must be a positive integer (got "${a}")`);
    process.exit(2);
  }
  return n;
}
const all = ['trap', 'boundary', 'nic', 'net', 'e2e', 'wake', 'conns', 'elastic'];

if (names[0] === 'report') {
  try {
    printReportResult(reportCommand(names.slice(1), historyDir(args), reportDir(args)));
  } catch (e) {
    console.error(`bench report: ${(e as Error).message}`);
    process.exit(1);
  }
  process.exit(0);
}
// e2e takes minutes and needs sockperf/memcached, boundary repeats trap per mode, wake is a host
// probe, conns and elastic take minutes: they run only when named
const todo = names.length ? names : all.filter((n) => n !== 'e2e' && n !== 'boundary' && n !== 'wake' && n !== 'conns' && n !== 'elastic');
const results: Record<string, unknown> = {};

for (const n of todo) {
  if (!all.includes(n)) {
    console.error(`bench: unknown benchmark "${n}"; choose from ${all.join(', ')}, report`);
    process.exit(2);
  }
}

for (const n of todo) {
  if (n === 'trap') {
    const r = await runTrapBench({ rounds: countArg('rounds'), boots: countArg('boots') });
    results.trap = r;
    if (!json) printTrapBench(r);
  } else if (n === 'boundary') {
    const { runBoundaryBench, printBoundaryBench } = await import('./boundary.js');
    const r = await runBoundaryBench();
    results.boundary = r;
    if (!json) printBoundaryBench(r);
  } else if (n === 'nic') {
    const { runNicBench, printNicBench } = await import('./nic.js');
    const { nicOptionsFromArgs } = await import('./nic-options.js');
    let opts;
    try {
      opts = nicOptionsFromArgs(args);
    } catch (e) {
      console.error(`bench nic: ${(e as Error).message}`);
      process.exit(2);
    }
    const r = await runNicBench(opts);
    results.nic = r;
    if (!json) printNicBench(r);
  } else if (n === 'net') {
    const { runNetBench, printNetBench } = await import('./net.js');
    const r = await runNetBench();
    results.net = r;
    if (!json) printNetBench(r);
  } else if (n === 'e2e') {
    const { runE2eBench, printE2eBench, e2eOptionsFromArgs } = await import('./e2e.js');
    const r = await runE2eBench(e2eOptionsFromArgs(args));
    results.e2e = r;
    if (!json) printE2eBench(r);
  } else if (n === 'conns') {
    const { runConnsBench, printConnsBench, connsOptionsFromArgs } = await import('./conns.js');
    const r = await runConnsBench(connsOptionsFromArgs(args));
    results.conns = r;
    if (!json) printConnsBench(r);
  } else if (n === 'elastic') {
    const { runElasticBench, printElasticBench, elasticOptionsFromArgs } = await import('./elastic.js');
    const r = await runElasticBench(elasticOptionsFromArgs(args));
    results.elastic = r;
    if (!json) printElasticBench(r);
  } else if (n === 'wake') {
    const { runWakeBench, printWakeBench } = await import('./wake.js');
    const r = await runWakeBench();
    results.wake = r;
    if (!json) printWakeBench(r);
    if (!args.includes('--probe-only')) {
      const { runWakeDataplaneBench, printWakeDataplaneBench } = await import('./wake-dataplane.js');
      const d = await runWakeDataplaneBench();
      results.wake_dp = d;
      if (!json) printWakeDataplaneBench(d);
    }
  }
}

const hist = historyDir(args);
const records = Object.entries(results).map(([k, r]) => makeRecord(k as BenchKind, r));
await fillPlatform(records);
for (const r of records) r.file = saveRecord(hist, r);
if (!args.includes('--no-report') && records.length) {
  const rep = writeReport(records, loadHistory(hist), reportDir(args));
  if (!json) printReportResult(rep);
}

const out = `bench-results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(out, JSON.stringify(results, null, 2));
if (json) console.log(JSON.stringify(results));
else console.log(`\nresults written to ${out}`);
