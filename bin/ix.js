#!/usr/bin/env node
// The `ix` command. `npm run build` (run by `npm ci` through `prepare`) compiles the control
// plane to dist/ and bundles the command into dist/bundle/ (one file loads much faster than
// hundreds of modules: it shortens the time from `ix run` to the app's first instruction).
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/bundle/index.js', import.meta.url);
const plain = new URL('../dist/cli/index.js', import.meta.url);
const mtime = (u) => (existsSync(fileURLToPath(u)) ? statSync(fileURLToPath(u)).mtimeMs : -1);
// A bundle older than the last `tsc` output is stale (someone ran only tsc): use dist/ then.
const entry = mtime(bundle) >= mtime(plain) && mtime(bundle) > 0 ? bundle : plain;
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('ix: the control plane is not built; run `npm ci` (or `npm run build`) in the ix checkout first\n');
  process.exit(1);
}
await import(entry.href);
