/** `ix scale <name> <n>`: make a running dataplane with elastic cores ([cores] min / max) use
 * n cores, through its control socket (src/control/scale.ts; docs/scale.md). */
import { reportError } from './errors.js';
import { InvalidArgumentError, type Command } from 'commander';
import { Registry } from '../control/registry.js';
import { request } from '../control/socket.js';
import type { ElasticReport, ScaleEvent } from '../control/scale.js';
import { findDataplane } from './stop.js';

const count = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of cores, 1 or more');
  return n;
};

export function registerScale(program: Command): void {
  program
    .command('scale')
    .description('change the number of cores a running dataplane with [cores] min / max uses (flow groups move between cores)')
    .argument('<name>', 'the dataplane (see ix ps)')
    .argument('<cores>', 'the cores to use, from [cores] min to max', count)
    .option('--json', 'print the change as JSON')
    .action(async (name: string, cores: number, o: { json?: boolean }) => {
      try {
        const e = findDataplane(new Registry(), name);
        const r = (await request(e.socket, 'scale', 120_000, { cores })) as ScaleEvent & { elastic: ElasticReport };
        process.stdout.write(
          o.json
            ? `${JSON.stringify(r)}\n`
            : `${e.name}: ${r.from} -> ${r.to} cores (${r.groupsMoved} flow groups moved in ${r.ms.toFixed(3)} ms, with ${r.connsMoved} TCP connections); flow groups per core: ${r.elastic.groupsPerCore.join(' ')}\n`,
        );
      } catch (err) {
        reportError(err, { cmd: 'ix scale', name });
      }
    });
}
