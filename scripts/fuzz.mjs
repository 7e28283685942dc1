#!/usr/bin/env node
// npm run fuzz -- <target> [--seconds N] [--corpus DIR] [--fast] [--scratch]
// npm run fuzz -- totals | list
//
// Builds guest/test/fuzz/build/fuzz_<target> (clang, libFuzzer + ASan + UBSan), replays the
// committed regression inputs (guest/test/fuzz/regress/<target>/: each crashed once), then
// fuzzes for N seconds (default 60) and prints the executions; exits non-zero on a crash.
//
// Corpus: by default a persistent, gitignored directory (.fuzz-corpus/<target>) so runs build
// on each other; the committed seeds (guest/test/fuzz/corpus/<target>) are read as a second
// corpus directory and stay small. Crash inputs go to .fuzz-corpus/<target>-crashes/.
// --scratch: the old behaviour for CI (test/fuzz.test.ts): a throw-away copy of the seeds, no
// ledger entry.
// --fast: fuzz with the build without UBSan (VARIANT=fast: ASan only, about twice the
// executions), then replay the whole corpus with the full build: every input that reached
// new coverage runs once under ASan+UBSan (docs/fuzzing.md says what this misses).
//
// Ledger: every non-scratch run appends one JSON line to .fuzz-corpus/ledger.jsonl (target,
// commit, date, seconds, executions, crashes, variant); `totals` sums it per target.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dir = join(root, 'guest/test/fuzz');
// FUZZ_STORE moves the corpus and ledger directory (the tests use a throw-away one)
const store = process.env.FUZZ_STORE ? resolve(process.env.FUZZ_STORE) : join(root, '.fuzz-corpus');
const ledgerPath = join(store, 'ledger.jsonl');
const TARGETS = ['net', 'kvstore', 'syscall', 'virtqueue', 'xdp'];
// the TypeScript targets: seeded structure-aware loops run through vitest (no sanitizer build)
const NODE_TARGETS = { virtqueue: 'test/virtqueue-fuzz.test.ts', xdp: 'test/xdp-fuzz.test.ts' };
const USAGE = `usage: npm run fuzz -- <target> [--seconds N] [--corpus DIR] [--fast] [--scratch]
       npm run fuzz -- totals | list
targets: ${TARGETS.join(', ')}`;

const args = process.argv.slice(2);
const target = args[0];
if (target === 'totals') {
  printTotals();
  process.exit(0);
}
if (!target || target === 'list' || !TARGETS.includes(target)) {
  console.log(USAGE);
  process.exit(target === 'list' ? 0 : 2);
}
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const seconds = opt('--seconds') === undefined ? 60 : Number(opt('--seconds'));
if (!(seconds > 0)) {
  console.error('fuzz: --seconds wants a positive number of seconds');
  process.exit(2);
}
const scratch = args.includes('--scratch');
const fast = args.includes('--fast');
if (fast && NODE_TARGETS[target]) {
  console.error(`fuzz: --fast is for the libFuzzer targets (${target} has no sanitizer build)`);
  process.exit(2);
}

function commit() {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  const head = r.status === 0 ? r.stdout.trim() : 'unknown';
  // dirty: uncommitted changes to what the targets are built from (docs do not count)
  const d = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'guest', 'src', 'scripts/fuzz.mjs',
    ...Object.values(NODE_TARGETS)], { cwd: root, encoding: 'utf8' });
  return d.status === 0 && d.stdout.trim() !== '' ? `${head}-dirty` : head;
}

function record(entry) {
  if (scratch) return;
  mkdirSync(store, { recursive: true });
  appendFileSync(ledgerPath, `${JSON.stringify(entry)}\n`);
}

function printTotals() {
  if (!existsSync(ledgerPath)) {
    console.log(`fuzz totals: no ledger yet (${ledgerPath}); runs without --scratch write it`);
    return;
  }
  const sums = new Map();
  const lines = readFileSync(ledgerPath, 'utf8').split('\n').filter((l) => l.trim() !== '');
  for (const [n, line] of lines.entries()) {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      console.error(`fuzz totals: line ${n + 1} of ${ledgerPath} is not JSON; skipped`);
      continue;
    }
    const s = sums.get(e.target) ?? { runs: 0, seconds: 0, cpu: 0, cpuExecs: 0, executions: 0, crashes: 0, variants: {}, commits: new Set(), last: '', bySeed: new Map() };
    s.runs++;
    // a seeded loop (node targets) repeats its rounds for the same seed: a longer run of a seed
    // covers every shorter one, so only the longest run per seed counts as distinct (runs
    // recorded before the seed was, all used seed 1)
    if (e.variant === 'node') s.bySeed.set(e.seed ?? 1, Math.max(s.bySeed.get(e.seed ?? 1) ?? 0, e.executions));
    s.seconds += e.seconds;
    if (e.cpuSeconds > 0) {
      s.cpu += e.cpuSeconds;
      s.cpuExecs += e.executions;
    }
    s.executions += e.executions;
    s.crashes += e.crashes;
    s.variants[e.variant] = (s.variants[e.variant] ?? 0) + e.executions;
    s.commits.add(e.commit);
    if (e.date > s.last) s.last = e.date;
    sums.set(e.target, s);
  }
  for (const t of TARGETS) {
    const s = sums.get(t);
    if (!s) continue;
    const v = Object.entries(s.variants).map(([k, x]) => `${k} ${x}`).join(', ');
    const distinct = s.bySeed.size ? [...s.bySeed.values()].reduce((a, b) => a + b, 0) : null;
    const seeds = distinct === null ? '' : ` (distinct: ${distinct} over ${s.bySeed.size} seed${s.bySeed.size === 1 ? '' : 's'}; a seed's rounds repeat in every run of it)`;
    console.log(`${t}: ${s.executions} executions${seeds} in ${s.runs} runs, ${Math.round(s.seconds)} s ` +
      `(${Math.round(s.executions / Math.max(s.seconds, 1))}/s` +
      (s.cpu > 0 ? `, ${Math.round(s.cpuExecs / s.cpu)} per CPU second` : '') + `), ${s.crashes} crashes; ${v}; ` +
      `commits ${[...s.commits].join(' ')}; last ${s.last}`);
  }
}

// (d) the host virtqueue and the XDP engine are TypeScript: seeded structure-aware loops (not
// libFuzzer, not coverage-guided) run through vitest; FUZZ_SEED picks another seed.
if (NODE_TARGETS[target]) {
  const date = new Date().toISOString();
  const at = commit();
  const t0 = Date.now();
  // a fresh seed per run unless FUZZ_SEED names one: the same seed replays the same rounds
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomInt(1, 2 ** 31);
  const r = spawnSync('sh', ['-c', '"$0" "$@"; rc=$?; echo "fuzz-cpu-times"; times; exit $rc',
    'npx', 'vitest', 'run', NODE_TARGETS[target]], {
    cwd: root, encoding: 'utf8', env: { ...process.env, FUZZ_SECONDS: String(seconds), FUZZ_SEED: String(seed) },
  });
  const line = new RegExp(`fuzz ${target}: [^\\n]*`).exec(`${r.stdout}`)?.[0];
  const rounds = Number(/(\d+) executions/.exec(line ?? '')?.[1] ?? 0);
  record({ target, commit: at, date, seconds: (Date.now() - t0) / 1000, cpuSeconds: childCpu(r.stdout), executions: rounds,
    crashes: r.status === 0 ? 0 : 1, variant: 'node', seed });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout}${r.stderr}`);
    console.error(`fuzz ${target}: FAILED (seed ${seed}; again: FUZZ_SEED=${seed} FUZZ_SECONDS=${seconds} npx vitest run ${NODE_TARGETS[target]})`);
    process.exit(1);
  }
  console.log(line ?? `fuzz ${target}: done`);
  process.exit(0);
}

function build(variant) {
  const b = spawnSync('make', ['-s', '-C', dir, `VARIANT=${variant}`,
    `${variant === 'fast' ? 'build-fast' : 'build'}/fuzz_${target}`], { stdio: 'inherit' });
  if (b.status !== 0) {
    console.error(`fuzz ${target}: the ${variant} build failed (make -C guest/test/fuzz VARIANT=${variant})`);
    process.exit(b.status ?? 1);
  }
  return join(dir, variant === 'fast' ? 'build-fast' : 'build', `fuzz_${target}`);
}
const bin = build('san');
const fastBin = fast ? build('fast') : undefined;

// Regression inputs first: each one crashed once and must not any more.
const regress = join(dir, 'regress', target);
if (existsSync(regress)) {
  const files = readdirSync(regress).map((f) => join(regress, f));
  if (files.length > 0) {
    const r = spawnSync(bin, files, { encoding: 'utf8' });
    if (r.status !== 0) {
      process.stderr.write(r.stderr);
      console.error(`fuzz ${target}: a regression input crashes again`);
      process.exit(1);
    }
    console.log(`fuzz ${target}: ${files.length} regression input(s) replayed`);
  }
}

const seeds = join(dir, 'corpus', target);
let work;
let corpusDirs;
let artifacts;
if (scratch) {
  work = mkdtempSync(join(tmpdir(), `ix-fuzz-${target}-`));
  cpSync(seeds, join(work, 'corpus'), { recursive: true });
  corpusDirs = [join(work, 'corpus')];
  artifacts = work;
} else {
  const corpus = resolve(opt('--corpus') ?? join(store, target));
  mkdirSync(corpus, { recursive: true });
  corpusDirs = [corpus, seeds]; // new inputs go to the first
  artifacts = join(store, `${target}-crashes`);
  mkdirSync(artifacts, { recursive: true });
}
const crashFiles = () => readdirSync(artifacts).filter((f) => /^(crash|leak|timeout|oom)-/.test(f));
const before = new Set(crashFiles());

const date = new Date().toISOString();
const at = commit(); // what was built, before anyone edits the tree during the run
const t0 = Date.now();
// through sh, whose `times` reports the CPU time the fuzzer used: on a shared machine the
// executions per CPU second say more about the target than the executions per wall second
const run = spawnSync(
  'sh',
  ['-c', '"$0" "$@"; rc=$?; echo "fuzz-cpu-times"; times; exit $rc', fastBin ?? bin,
    `-max_total_time=${Math.ceil(seconds)}`, '-print_final_stats=1', `-artifact_prefix=${artifacts}/`, '-timeout=25',
    '-rss_limit_mb=2048', ...corpusDirs],
  { encoding: 'utf8', maxBuffer: 1 << 28 },
);
const elapsed = (Date.now() - t0) / 1000;
const cpuSeconds = childCpu(run.stdout);
let out = `${run.stdout}${run.stderr}`;
const execs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(out)?.[1] ?? 0);
let failed = run.status !== 0;

// --fast: the full build runs every corpus input once (the fast build had no UBSan).
let replayed = '';
if (fast && !failed) {
  const r = spawnSync(bin, ['-runs=0', `-artifact_prefix=${artifacts}/`, '-timeout=25', '-rss_limit_mb=2048', ...corpusDirs],
    { encoding: 'utf8', maxBuffer: 1 << 28 });
  out += `${r.stdout}${r.stderr}`;
  if (r.status !== 0) failed = true;
  const inited = /INITED cov: \d+ ft: \d+ corp: (\d+)/.exec(`${r.stderr}`);
  replayed = `, corpus (${inited?.[1] ?? '?'} inputs) replayed with ASan+UBSan`;
}
const crashes = crashFiles().filter((f) => !before.has(f));

/** The children's user + system seconds from sh's `times` (its second line: "1m2.5s 0m0.3s"). */
function childCpu(stdout) {
  const lines = `${stdout}`.split('fuzz-cpu-times\n')[1]?.split('\n') ?? [];
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines[1] ?? '');
  return m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : undefined;
}
record({ target, commit: at, date, seconds: elapsed, cpuSeconds, executions: execs, crashes: failed ? Math.max(crashes.length, 1) : 0,
  variant: fast ? 'asan (corpus replayed with asan+ubsan)' : 'asan+ubsan' });
if (failed || crashes.length > 0) {
  process.stderr.write(out.split('\n').slice(-60).join('\n'));
  console.error(`fuzz ${target}: FAILED after ${execs} executions; inputs kept in ${artifacts}: ${crashes.join(' ')}`);
  process.exit(1);
}
const cov = /DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/.exec(out);
console.log(`fuzz ${target}: ${execs} executions in ${seconds} s, no crash` +
  (cov ? ` (cov ${cov[1]}, features ${cov[2]}, corpus ${cov[3]})` : '') + replayed +
  (fast ? ' [fast build: ASan without UBSan]' : ''));
if (scratch) rmSync(work, { recursive: true, force: true });
