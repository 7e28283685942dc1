// The CLI's one error table (src/cli/errors.ts): every error class in src/ is either in it or
// named as one that never reaches the `ix` command, and each maps to its exit status and text.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLE, NOT_CLI_ERRORS, describeError } from '../src/cli/errors.js';
import { SysError } from '../src/sys/errors.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('the CLI error table', () => {
  it('knows every error class declared in src/', () => {
    const declared = new Set<string>();
    for (const f of sources('src')) for (const m of readFileSync(f, 'utf8').matchAll(/class (\w+Error) extends (?:\w+)?Error/g)) declared.add(m[1]!);
    expect(declared.size).toBeGreaterThan(20);
    const missing = [...declared].filter((n) => !(n in ERROR_TABLE) && !NOT_CLI_ERRORS.has(n));
    expect(missing).toEqual([]);
    // and no entry names a class that no longer exists
    const stale = [...Object.keys(ERROR_TABLE), ...NOT_CLI_ERRORS].filter((n) => !declared.has(n));
    expect(stale).toEqual([]);
  });

  it('maps config errors to 2, refusals to 3, failures to 1, and unknown errors to null', () => {
    const named = (name: string, message: string) => Object.assign(new Error(message), { name });
    expect(describeError(named('ConfigError', 'x.toml: cores: too many'), { cmd: 'ix run' })).toEqual({ exitCode: 2, text: 'x.toml: cores: too many' });
    expect(describeError(named('RegistryError', 'held by pid 7'), { cmd: 'ix run', name: 'echo' })).toEqual({ exitCode: 3, text: 'ix: echo: refused: held by pid 7' });
    expect(describeError(named('RegistryError', 'no such dataplane'), { cmd: 'ix stop', name: 'echo' })).toEqual({ exitCode: 1, text: 'ix stop: no such dataplane' });
    expect(describeError(new SysError('KVM_RUN', 22), { cmd: 'ix run' })).toMatchObject({ exitCode: 1, text: expect.stringMatching(/^ix: KVM_RUN failed: EINVAL/) });
    expect(describeError(new TypeError('a bug'), { cmd: 'ix run' })).toBeNull();
    expect(describeError('not an error', { cmd: 'ix run' })).toBeNull();
  });
});
