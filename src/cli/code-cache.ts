/**
 * Loads a CommonJS bundle through vm.Script with a V8 code cache next to it, so that a start
 * of `ix` does not compile the ~0.6 MB control plane again (about 17 ms of the time from
 * `ix run` to the app's first instruction on these hosts; Node 20 has no built-in compile
 * cache for modules, Node 22's module.enableCompileCache() does the same thing).
 *
 * The cache (`<file>.v8-cache`) is written when the process exits, after the run has
 * compiled the functions it used, if there was none or V8 rejected it (another Node version
 * or V8 flags; V8 checks this itself). Writing is best effort: a read-only installation just
 * runs without a cache. A rebuild removes dist/bundle/ and with it the cache.
 * IX_NO_CODE_CACHE=1 neither reads nor writes it.
 *
 * The code must not use dynamic import(): a vm.Script has no module loader for it
 * (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING); test/bundle.test.ts checks the bundle.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

// Node's own CommonJS wrapper, on the first line so that line numbers stay right
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const WRAP_TAIL = '\n})';

export type CodeCacheState = 'used' | 'missing' | 'rejected' | 'off';

export interface Loaded {
  exports: unknown;
  cache: CodeCacheState;
  /** write the cache now (what the exit hook does); false if it could not be written */
  save(): boolean;
}

export function loadWithCodeCache(file: string, opts: { saveOnExit?: boolean } = {}): Loaded {
  const useCache = !process.env.IX_NO_CODE_CACHE;
  const cacheFile = `${file}.v8-cache`;
  let cachedData: Buffer | undefined;
  if (useCache) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      // none yet
    }
  }
  const script = new Script(WRAP_HEAD + readFileSync(file, 'utf8') + WRAP_TAIL, { filename: file, cachedData });
  const cache: CodeCacheState = !useCache ? 'off' : cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'used';
  const save = (): boolean => {
    const tmp = `${cacheFile}.${process.pid}`;
    try {
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
      return true;
    } catch {
      rmSync(tmp, { force: true });
      return false;
    }
  };
  if ((cache === 'missing' || cache === 'rejected') && opts.saveOnExit !== false) process.once('exit', () => void save());
  const fn = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;
  const mod: { exports: unknown } = { exports: {} };
  fn.call(mod.exports, mod.exports as object, createRequire(file), mod, file, dirname(file));
  return { exports: mod.exports, cache, save };
}
