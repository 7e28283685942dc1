/** `ix ps`: the running dataplanes (stale entries of dead ones are cleaned on the way). */
import type { Command } from 'commander';
import { Registry, type Entry } from '../control/registry.js';

function uptime(startedAt: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(startedAt)) / 1000));
  if (!Number.isFinite(s)) return '-';
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

export function renderPs(entries: Entry[]): string {
  const rows = [
    ['NAME', 'PID', 'CORES', 'CPUS', 'ADDRESS', 'NAMESPACE', 'UP', 'CONFIG'],
    ...entries.map((e) => [e.name, String(e.pid), String(e.cores), e.cpus ? e.cpus.join(',') : '-', e.address ?? '-', e.netns ?? '-', uptime(e.startedAt), e.config]),
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(w[i]!))).join('  ')).join('\n') + '\n';
}

export function registerPs(program: Command): void {
  program
    .command('ps')
    .description('list the running dataplanes')
    .option('--json', 'one JSON array of entries')
    .action((opts: { json?: boolean }) => {
      const reg = new Registry();
      const live = reg.live((c) =>
        process.stderr.write(`ix ps: '${c.name}' (pid ${c.pid}) is no longer running; removed ${c.removed.join(', ') || 'its entry'}\n`),
      );
      if (opts.json) process.stdout.write(`${JSON.stringify(live)}\n`);
      else if (!live.length) process.stdout.write('no dataplane is running\n');
      else process.stdout.write(renderPs(live));
    });
}
