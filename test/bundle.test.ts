// The bundled `ix` command (scripts/bundle.mjs): a tiny ESM entry that loads the CommonJS
// control plane through a V8 code cache (src/cli/code-cache.ts), and CommonJS worker scripts.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWithCodeCache } from '../src/cli/code-cache.js';
import { IX, tempDir } from './ix-cli.js';

const BUNDLE = resolve('dist/bundle');
const { dir, cleanup } = tempDir('ix-bundle-');
afterAll(cleanup);

describe('the bundle', () => {
  it('has the entry, the control plane and both workers, with no dynamic import() in the CommonJS files', () => {
    for (const f of ['index.js', 'main.cjs', 'vcpu-worker.cjs', 'nic-worker.cjs']) expect(existsSync(join(BUNDLE, f)), f).toBe(true);
    // a vm.Script has no loader for import(): it would fail only when that line runs
    for (const f of ['main.cjs', 'vcpu-worker.cjs', 'nic-worker.cjs']) {
      const src = readFileSync(join(BUNDLE, f), 'utf8');
      expect(src.match(/\bimport\s*\(/g) ?? [], f).toEqual([]);
      expect(src, f).not.toMatch(/\bimport\.meta\b/);
    }
  });

  it('runs a command from the bundle and leaves a code cache', () => {
    const r = spawnSync(process.execPath, [IX, '--help'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Usage: ix');
    expect(existsSync(join(BUNDLE, 'main.cjs.v8-cache'))).toBe(true);
  });
});

describe('loadWithCodeCache', () => {
  // each load in a fresh process: within one V8 isolate a second compile of the same source
  // comes from V8's in-memory cache and never consults the cache file
  const CODE_CACHE = resolve('dist/cli/code-cache.js');
  const load = (file: string, env: NodeJS.ProcessEnv = {}): { cache: string; joined: string } => {
    const prog = `import { loadWithCodeCache } from ${JSON.stringify(CODE_CACHE)};
const l = loadWithCodeCache(${JSON.stringify(file)});
console.log(JSON.stringify({ cache: l.cache, joined: l.exports.join('x', 'y') }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', prog], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { cache: string; joined: string };
  };

  it('loads CommonJS, writes the cache at exit, uses it next time, and recompiles when it is rejected or off', () => {
    const file = join(dir, 'mod.cjs');
    writeFileSync(file, "const path = require('node:path');\nexports.join = (a, b) => path.join(a, b);\n");
    expect(load(file)).toEqual({ cache: 'missing', joined: 'x/y' });
    expect(existsSync(`${file}.v8-cache`)).toBe(true);
    expect(load(file)).toEqual({ cache: 'used', joined: 'x/y' });

    writeFileSync(`${file}.v8-cache`, Buffer.from('not a V8 code cache at all'));
    expect(load(file).cache).toBe('rejected');
    // ... and rewritten at that exit
    expect(load(file).cache).toBe('used');

    expect(load(file, { IX_NO_CODE_CACHE: '1' }).cache).toBe('off');
  });

  it('keeps line numbers in stack traces', () => {
    const file = join(dir, 'throws.cjs');
    writeFileSync(file, "exports.f = () => {\n  throw new Error('boom');\n};\n");
    const m = loadWithCodeCache(file, { saveOnExit: false }).exports as { f(): void };
    let stack = '';
    try {
      m.f();
    } catch (e) {
      stack = (e as Error).stack ?? '';
    }
    expect(stack).toContain(`${file}:2:`);
  });
});
