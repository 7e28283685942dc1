/** `ix` entry point: start vCPU workers early for `ix run`, then load the rest. */
import { fileURLToPath } from 'node:url';
import { prestartFromArgv } from './prestart.js';
import { loadWithCodeCache } from './code-cache.js';

// true in the bundle (scripts/bundle.mjs): the control plane is dist/bundle/main.cjs
declare const __IX_BUNDLE__: boolean | undefined;

prestartFromArgv(process.argv);
const { main } =
  typeof __IX_BUNDLE__ !== 'undefined' && __IX_BUNDLE__
    ? (loadWithCodeCache(fileURLToPath(new URL('./main.cjs', import.meta.url))).exports as typeof import('./main.js'))
    : await import('./main.js');
await main(process.argv);
