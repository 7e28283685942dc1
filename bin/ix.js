#!/usr/bin/env node
// The `ix` command. The control plane is compiled from src/ to dist/ by `npm run build`
// (run automatically by `npm ci` through the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('ix: the control plane is not built; run `npm ci` (or `npm run build`) in the ix checkout first\n');
  process.exit(1);
}
await import(entry.href);
