// `ix run` prestarts its vCPU workers from a cheap look at argv and the config file
// (src/cli/prestart.ts). It must find the config path however the options are written, or
// the workers start late and the time to the app's first instruction grows by ~40 ms.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { VALUE_OPTIONS, configArg, guessCores } from '../src/cli/prestart.js';
import { IX } from './ix-cli.js';

describe('prestart', () => {
  it('finds the config path past options and their values', () => {
    expect(configArg(['dp.toml'])).toBe('dp.toml');
    expect(configArg(['--json', 'dp.toml'])).toBe('dp.toml');
    expect(configArg(['--log-level', 'debug', 'dp.toml'])).toBe('dp.toml');
    expect(configArg(['--log-level=debug', 'dp.toml'])).toBe('dp.toml');
    expect(configArg(['--metrics-port', '0', '--selftest', 'dp.toml', '--json'])).toBe('dp.toml');
    expect(configArg(['dp.toml', '--log-level', 'warn'])).toBe('dp.toml');
    expect(configArg(['--', '-odd.toml'])).toBe('-odd.toml');
    expect(configArg(['--json'])).toBeUndefined();
  });

  it('knows every option of `ix run` that takes a value', () => {
    const help = spawnSync(process.execPath, [IX, 'run', '--help'], { encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    const withValue = [...help.stdout.matchAll(/^\s+(?:-\w, )?(--[a-z-]+) <[^>]+>/gm)].map((m) => m[1]);
    expect(withValue.length).toBeGreaterThan(0);
    expect(new Set(withValue)).toEqual(VALUE_OPTIONS);
  });

  it('guesses the core count from the config text', () => {
    expect(guessCores('name = "a"\ncores = 3\n')).toBe(3);
    expect(guessCores('cores = [0, 2, 5]\n')).toBe(3);
    expect(guessCores('name = "a"\n')).toBe(1);
    expect(guessCores('cores = 99\n')).toBe(1);
    expect(guessCores('name = "a"\n[cores]\nmin = 1\nmax = 4\n[app]\n')).toBe(4);
    expect(guessCores('cores = { min = 1, max = 3 }\n')).toBe(3);
  });
});
