/** `ix exec <name> -- <command...>`: run an ordinary tool inside a running dataplane's
 * network namespace (where the Linux side of its NIC lives), e.g. ping or ncat. */
import { reportError } from './errors.js';
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { Registry } from '../control/registry.js';
import { findDataplane, LookupError } from './stop.js';

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description("run a command inside a running dataplane's network namespace (ix exec echo -- ping -c 3 10.10.0.2)")
    .argument('<name>', 'the dataplane (see ix ps)')
    .argument('<command...>', 'the command and its arguments (put -- before it)')
    .allowUnknownOption()
    .action((name: string, command: string[]) => {
      try {
        const e = findDataplane(new Registry(), name);
        if (!e.netns) throw new LookupError(`dataplane '${name}' has no network namespace (its config has no [nic] with namespace = true)`);
        const r = spawnSync('ip', ['netns', 'exec', e.netns, ...command], { stdio: 'inherit' });
        if (r.error) throw new LookupError(`cannot run ${command[0]} in ${e.netns}: ${r.error.message}`);
        process.exitCode = r.status ?? 1;
      } catch (err) {
        reportError(err, { cmd: 'ix exec', name });
      }
    });
}
