/** `ix stop <name>`: ask a running dataplane to stop through its control socket and wait
 * until its process is gone (SIGTERM when the socket does not answer). */
import { reportError } from './errors.js';
import type { Command } from 'commander';
import { entryAlive, Registry, type Entry } from '../control/registry.js';
import { ControlSocketError, request } from '../control/socket.js';

export class LookupError extends Error {
  override name = 'LookupError';
}

/** The live dataplane called `name`, or the only one running when name is omitted. */
export function findDataplane(reg: Registry, name: string | undefined): Entry {
  const live = reg.live();
  if (name !== undefined) {
    const e = live.find((x) => x.name === name);
    if (!e) throw new LookupError(`no dataplane named '${name}' is running` + (live.length ? ` (running: ${live.map((x) => x.name).join(', ')})` : '') + '; `ix ps` lists them');
    return e;
  }
  if (live.length === 1) return live[0]!;
  if (!live.length) throw new LookupError(`no dataplane is running (runtime directory ${reg.dir}); start one with \`ix run <config>\``);
  throw new LookupError(`${live.length} dataplanes are running (${live.map((x) => x.name).join(', ')}): name one`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function stopDataplane(reg: Registry, name: string, timeoutMs: number): Promise<{ entry: Entry; how: 'socket' | 'SIGTERM' }> {
  const e = findDataplane(reg, name);
  let how: 'socket' | 'SIGTERM' = 'socket';
  try {
    await request(e.socket, 'stop');
  } catch (err) {
    if (!(err instanceof ControlSocketError)) throw err;
    // a process that is alive but does not answer (still starting, or wedged) gets SIGTERM,
    // which `ix run` handles the same way
    how = 'SIGTERM';
    try {
      process.kill(e.pid, 'SIGTERM');
    } catch {
      /* gone meanwhile */
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (entryAlive(e)) {
    if (Date.now() > deadline)
      throw new LookupError(`dataplane '${e.name}' (pid ${e.pid}) is still running ${timeoutMs / 1000} s after the stop request; \`kill -9 ${e.pid}\` ends it (the next \`ix ps\` cleans up after it)`);
    await sleep(25);
  }
  return { entry: e, how };
}

export function registerStop(program: Command): void {
  program
    .command('stop')
    .description('stop a running dataplane and wait until it is gone')
    .argument('<name>', 'the dataplane name (see ix ps)')
    .option('--timeout <seconds>', 'how long to wait for it to end', '10')
    .action(async (name: string, opts: { timeout: string }) => {
      const t = Number(opts.timeout);
      try {
        const { entry, how } = await stopDataplane(new Registry(), name, Number.isFinite(t) && t > 0 ? t * 1000 : 10_000);
        process.stdout.write(`stopped ${entry.name} (pid ${entry.pid}${how === 'SIGTERM' ? ', by SIGTERM: the control socket did not answer' : ''})\n`);
      } catch (e) {
        reportError(e, { cmd: 'ix stop', name });
      }
    });
}
