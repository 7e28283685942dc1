/** `ix stats [name]`: live per-core rates of a running dataplane, read through its control
 * socket (the dataplane answers from the guest's shared-memory counters, no exits). */
import { reportError } from './errors.js';
import { InvalidArgumentError, type Command } from 'commander';
import { Registry } from '../control/registry.js';
import { request } from '../control/socket.js';
import { renderReport, type StatsReport } from '../control/stats.js';
import { findDataplane, LookupError } from './stop.js';

interface StatsOpts {
  json?: boolean;
  prometheus?: boolean;
  watch?: boolean;
  count?: number;
}

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of 1 or more');
  return n;
};

async function once(socket: string, o: StatsOpts): Promise<string> {
  if (o.prometheus) return String(await request(socket, 'metrics'));
  const r = (await request(socket, 'stats')) as StatsReport;
  return o.json ? `${JSON.stringify(r)}\n` : renderReport(r);
}

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description('live per-core rates of a running dataplane: packets, batch sizes, calls per bpoll, events, TCP connections, drops, idle share')
    .argument('[name]', 'the dataplane (default: the only one running)')
    .option('--json', 'one JSON object per report')
    .option('--prometheus', 'the raw counters in Prometheus text format')
    .option('-w, --watch', 'refresh once a second until interrupted or the dataplane ends')
    .option('--count <n>', 'with --watch: stop after n reports', positive)
    .action(async (name: string | undefined, o: StatsOpts) => {
      const reg = new Registry();
      try {
        const e = findDataplane(reg, name);
        const clear = Boolean(o.watch && process.stdout.isTTY && !o.json);
        for (let i = 0; ; i++) {
          const text = await once(e.socket, o);
          process.stdout.write(clear ? `\x1b[H\x1b[2J${text}` : text);
          if (!o.watch || (o.count !== undefined && i + 1 >= o.count)) break;
          await new Promise((r) => setTimeout(r, 1000));
        }
      } catch (err) {
        reportError(err, { cmd: 'ix stats', name });
      }
    });
}
