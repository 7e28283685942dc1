// Where a worker thread's script is. Worker scripts must be compiled JS: next to the importing
// module in dist/ (`<name>.js`) or in the bundle (dist/bundle/, a CommonJS file, which is
// preferred when present). Under vitest the importing module is a .ts source in
// src/<dir>/ (or deeper): then the compiled twin in dist/<dir>/ is used (npm test builds first).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export class WorkerScriptError extends Error {
  override name = 'WorkerScriptError';
}

/**
 * `importer`: the caller's import.meta.url; `script`: the compiled module next to it, e.g.
 * 'worker.js'; `bundled`: its name in dist/bundle/ (default: `script` with .cjs), where every
 * worker sits in one directory, e.g. 'nic-worker.cjs'.
 */
export function workerScriptUrl(importer: string, script: string, bundled = script.replace(/\.js$/, '.cjs')): URL {
  const here = fileURLToPath(importer);
  const src = here.lastIndexOf('/src/');
  const dir = here.endsWith('.ts') && src >= 0 ? `${here.slice(0, src)}/dist/${here.slice(src + 5).replace(/[^/]+$/, '')}` : here.replace(/[^/]+$/, '');
  for (const f of [dir + bundled, dir + script]) if (existsSync(f)) return pathToFileURL(f);
  throw new WorkerScriptError(`worker script ${dir + script} not found; run npm run build`);
}
