// Where a worker thread's script is. Worker scripts must be compiled JS: next to the importing
// module in dist/ (`<name>.js`) or in the bundle (dist/bundle/, a CommonJS `<name>.cjs`, which
// is preferred when present). Under vitest the importing module is a .ts source in
// src/<dir>/: then the compiled twin in dist/<dir>/ is used (npm test builds first).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export class WorkerScriptError extends Error {
  override name = 'WorkerScriptError';
}

/** `importer`: the caller's import.meta.url; `script`: e.g. 'nic-worker.js'. */
export function workerScriptUrl(importer: string, script: string): URL {
  const here = fileURLToPath(importer);
  const dir = here.endsWith('.ts') ? here.replace(/\/src\/([^/]+)\/[^/]+\.ts$/, '/dist/$1/') : here.replace(/[^/]+$/, '');
  const js = dir + script;
  for (const f of [js.replace(/\.js$/, '.cjs'), js]) if (existsSync(f)) return pathToFileURL(f);
  throw new WorkerScriptError(`worker script ${js} not found; run npm run build`);
}

/** A worker script of src/net (nic-worker.js, fake-guest-worker.js). */
export function netWorkerUrl(script: string): URL {
  return workerScriptUrl(import.meta.url, script);
}
