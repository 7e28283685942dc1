// The README's first set-up command installs everything the test suite uses: it runs
// ci/install.sh, which installs every Debian package in ci/apt-packages.txt and then runs
// `npm ci`. Each outside tool a suite runs is listed here with the Debian package that
// provides it; the package must be in ci/apt-packages.txt, and the tool must really be used
// by some test, benchmark helper or CI script (so the list does not rot).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const TOOLS: Record<string, string> = {
  ping: 'iputils-ping',
  ncat: 'ncat',
  ip: 'iproute2',
  memccapable: 'libmemcached-tools',
  memcaslap: 'libmemcached-tools',
  memcached: 'memcached',
  sockperf: 'sockperf',
  'qemu-system-x86_64': 'qemu-system-x86',
  busybox: 'busybox-static',
  python3: 'python3',
  gcc: 'build-essential',
  make: 'build-essential',
  clang: 'clang',
  chromium: 'chromium',
  xz: 'xz-utils',
  setpriv: 'util-linux',
  ethtool: 'ethtool',
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (f === 'node_modules' || f === 'build' || f === 'corpus') return [];
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe('set-up installs what the tests use', () => {
  const listed = new Set(readFileSync('ci/apt-packages.txt', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  const sources = [...files('test'), ...files('ci'), ...files('src/bench'), ...files('src/testing'), ...files('scripts')]
    .filter((f) => /\.(ts|mjs|sh|py|c)$/.test(f) || f.endsWith('/run') || f.endsWith('/init'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');

  it.each(Object.entries(TOOLS))('%s comes from a listed package (%s) and is used', (tool, pkg) => {
    expect(listed.has(pkg), `${pkg} (provides ${tool}) is missing from ci/apt-packages.txt`).toBe(true);
    expect(sources.includes(tool), `${tool} is not used by any test or script: drop it from this list`).toBe(true);
  });

  it('the README set-up runs ci/install.sh, which installs the list and then npm ci', () => {
    const readme = readFileSync('README.md', 'utf8');
    const setup = readme.slice(readme.indexOf('## Set up'), readme.indexOf('## Running a dataplane'));
    expect(setup).toMatch(/```sh\nbash ci\/install\.sh && npx ix run configs\/hello\.toml/);
    const install = readFileSync('ci/install.sh', 'utf8');
    expect(install).toMatch(/ci\/apt-packages\.txt/);
    expect(install).toMatch(/apt-get install/);
    expect(install).toMatch(/npm ci/);
  });
});
