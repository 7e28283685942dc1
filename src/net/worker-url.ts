// Worker scripts must be compiled JS (in dist/bundle/, CommonJS .cjs). Under vitest the importing module is the .ts source in
// src/net, so point at its compiled twin in dist/net (npm test builds first).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export class WorkerScriptError extends Error {
  override name = 'WorkerScriptError';
}

export function netWorkerUrl(script: string): URL {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith('.ts')
    ? here.replace(/\/src\/net\/[^/]+\.ts$/, `/dist/net/${script}`)
    : here.replace(/[^/]+\.c?js$/, script);
  // the bundle (dist/bundle/) has CommonJS twins of the worker scripts
  const cjs = js.replace(/\.js$/, '.cjs');
  if (existsSync(cjs)) return pathToFileURL(cjs);
  if (!existsSync(js)) throw new WorkerScriptError(`worker script ${js} not found; run npm run build`);
  return pathToFileURL(js);
}
