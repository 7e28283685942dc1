/** The `ix` command line (commander). */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { performance } from 'node:perf_hooks';
import { loadConfig, checkHostFit } from '../config/index.js';
import { reportError } from './errors.js';
import { registerCheck } from './check.js';
import { registerStats } from './stats.js';
import { registerPs } from './ps.js';
import { registerStop } from './stop.js';
import { registerScale } from './scale.js';
import { registerExec } from './exec.js';
import { Registry, type Claim } from '../control/registry.js';
import { createLogger } from '../control/logger.js';
import { runDataplane } from '../control/run.js';
import { releaseSpareVcpuWorkers } from '../vmm/worker-pool.js';

export async function main(argv: string[]): Promise<void> {
const startedWallMs = performance.timeOrigin;
const program = new Command();
program.name('ix').description('IX-style protected dataplanes on stock Linux KVM').showHelpAfterError();
// commander's own exits (usage errors, --help) must not end the process while a prestarted
// vCPU worker is still loading (worker-pool.ts): it throws instead (here and in every
// subcommand, which inherit this), and the workers are stopped first
program.exitOverride();

program
  .command('run')
  .description('start a dataplane from a config file and run it in the foreground')
  .argument('<config>', 'dataplane config (TOML)')
  .addOption(new Option('--log-level <level>', 'log level (overrides the config)').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal']))
  .option('--selftest', 'time a 10^9-iteration loop in the guest kernel at boot (proves native execution)')
  .option('--json', 'print a JSON summary of the run on stdout when it ends')
  .option('--metrics-port <port>', 'serve Prometheus metrics on http://127.0.0.1:<port>/metrics (0: any free port)', parsePort)
  .action(async (configPath: string, opts: { logLevel?: string; selftest?: boolean; json?: boolean; metricsPort?: number }) => {
    let cfg;
    try {
      cfg = loadConfig(configPath);
      checkHostFit(cfg);
    } catch (e) {
      reportError(e, { cmd: 'ix run' });
      await releaseSpareVcpuWorkers();
      return;
    }
    const log = createLogger(opts.logLevel ?? cfg.log.level);
    // claim the name and pinned CPUs before anything is created; a conflict is refused here
    let claim: Claim;
    try {
      claim = new Registry().claim({ name: cfg.name, cpus: cfg.cores.cpus, cores: cfg.cores.count, config: cfg.source }, (c) =>
        log.warn({ stale: c }, `removed what dataplane '${c.name}' (pid ${c.pid}, no longer running) left behind: ${c.removed.join(', ') || 'nothing'}`),
      );
    } catch (e) {
      reportError(e, { cmd: 'ix run', name: cfg.name });
      await releaseSpareVcpuWorkers();
      return;
    }
    try {
      const r = await runDataplane(cfg, { log, selftest: opts.selftest, startedWallMs, claim, metricsPort: opts.metricsPort ?? null });
      const summary = { exitCode: r.exitCode, reason: r.reason, platform: r.platform, protection: r.protection, firstAppInstructionMs: r.firstAppInstructionMs, firstAppInstructionWallMs: r.firstAppInstructionWallMs, selftestSeconds: r.selftestSeconds, wake: r.wake, wakeReason: r.wakeReason, cpus: r.cpus, cores: r.cores };
      if (r.exitCode === 0) log.info(summary, `done: ${r.reason}`);
      else log.error(summary, `failed: ${r.reason}`);
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else if (r.exitCode !== 0) process.stderr.write(`ix: ${cfg.name}: ${r.reason}\n`);
      process.exitCode = r.exitCode;
    } catch (e) {
      reportError(e, { cmd: 'ix run', name: cfg.name }, () => log.fatal((e as Error).message));
    } finally {
      claim.release();
    }
  });

registerStats(program);
registerPs(program);
registerStop(program);
registerScale(program);
registerExec(program);
registerCheck(program, { probeBoot: async () => (await import('../control/probe.js')).probeBoot() });

try {
  await program.parseAsync(argv);
} catch (e) {
  if (!(e instanceof CommanderError)) throw e;
  await releaseSpareVcpuWorkers();
  process.exitCode = e.exitCode;
}
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a TCP port number, 0 to 65535');
  return n;
}
