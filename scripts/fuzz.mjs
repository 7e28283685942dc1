#!/usr/bin/env node
// npm run fuzz -- <target> [--seconds N] [--jobs-dir DIR]
// Builds guest/test/fuzz/build/fuzz_<target> (clang, libFuzzer + ASan + UBSan) and runs it
// for N seconds (default 60) on a scratch copy of the target's seed corpus (the committed
// seeds stay small), then replays every committed regression input
// (guest/test/fuzz/regress/<target>/). Prints the total executions; exits non-zero on a
// crash (libFuzzer writes the input as crash-* into the scratch directory, which is kept).
//   npm run fuzz -- list
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dir = join(root, 'guest/test/fuzz');
const TARGETS = ['net', 'kvstore', 'syscall', 'virtqueue'];

const args = process.argv.slice(2);
const target = args[0];
if (!target || target === 'list' || !TARGETS.includes(target)) {
  console.log(`targets: ${TARGETS.join(', ')}\nusage: npm run fuzz -- <target> [--seconds N]`);
  process.exit(target === 'list' ? 0 : 2);
}
const si = args.indexOf('--seconds');
const seconds = si >= 0 ? Number(args[si + 1]) : 60;
if (!(seconds > 0)) {
  console.error('--seconds wants a positive number');
  process.exit(2);
}

// (d) the host virtqueue is TypeScript: a seeded structure-aware loop (not libFuzzer, not
// coverage-guided) run through vitest; FUZZ_SEED picks another seed.
if (target === 'virtqueue') {
  const r = spawnSync('npx', ['vitest', 'run', 'test/virtqueue-fuzz.test.ts'], {
    cwd: root, encoding: 'utf8', env: { ...process.env, FUZZ_SECONDS: String(seconds) },
  });
  const line = /fuzz virtqueue: [^\n]*/.exec(`${r.stdout}`)?.[0];
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout}${r.stderr}`);
    console.error('fuzz virtqueue: FAILED');
    process.exit(1);
  }
  console.log(line ?? 'fuzz virtqueue: done');
  process.exit(0);
}

const bin = join(dir, 'build', `fuzz_${target}`);
const build = spawnSync('make', ['-s', '-C', dir, `build/fuzz_${target}`], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

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

const work = mkdtempSync(join(tmpdir(), `ix-fuzz-${target}-`));
const corpus = join(work, 'corpus');
cpSync(join(dir, 'corpus', target), corpus, { recursive: true });
const run = spawnSync(
  bin,
  [`-max_total_time=${Math.ceil(seconds)}`, '-print_final_stats=1', `-artifact_prefix=${work}/`, '-timeout=25',
    '-rss_limit_mb=2048', corpus],
  { encoding: 'utf8', maxBuffer: 1 << 28 },
);
const out = `${run.stdout}${run.stderr}`;
const execs = /stat::number_of_executed_units:\s*(\d+)/.exec(out)?.[1];
const crashes = readdirSync(work).filter((f) => /^(crash|leak|timeout|oom)-/.test(f));
if (run.status !== 0 || crashes.length > 0) {
  process.stderr.write(out.split('\n').slice(-60).join('\n'));
  console.error(`fuzz ${target}: FAILED after ${execs ?? '?'} executions; inputs kept in ${work}: ${crashes.join(' ')}`);
  process.exit(1);
}
const cov = /DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/.exec(out);
console.log(`fuzz ${target}: ${execs} executions in ${seconds} s, no crash` +
  (cov ? ` (cov ${cov[1]}, features ${cov[2]}, corpus ${cov[3]})` : ''));
rmSync(work, { recursive: true, force: true });
