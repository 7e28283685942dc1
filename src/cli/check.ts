// `ix check [config] [--json]`: a doctor that says in words what this host offers and
// lacks for running dataplanes, and optionally whether a config is valid and fits here.
// Exit status 0 when everything needed is present, 1 otherwise.
import type { Command } from 'commander';
import { evaluate, type CheckReport, type CheckStatus, type ProbeOutcome, type ProbeResult } from '../config/doctor.js';
import { gatherFacts, type HostFacts } from '../config/host-facts.js';

export type { CheckReport, ProbeResult } from '../config/doctor.js';
export type { HostFacts } from '../config/host-facts.js';

export interface CheckDeps {
  /** Fact gathering; injected by tests so they do not depend on this host. */
  gather?: (opts: { configPath?: string; irq?: boolean }) => Promise<HostFacts>;
  /** The probe boot (did a guest reach native mode in 1 s); reported "not run" when absent. */
  probeBoot?: () => Promise<ProbeResult>;
  /** Where output goes (default: process.stdout). */
  write?: (text: string) => void;
  /** How the exit status is set (default: process.exitCode). */
  setExitCode?: (code: number) => void;
}

export async function runCheck(opts: { configPath?: string } = {}, deps: CheckDeps = {}): Promise<CheckReport> {
  // the halt/wake probe runs a guest: only with the probe boot, i.e. in the real `ix check`
  const irq = deps.probeBoot !== undefined;
  const facts = await (deps.gather ?? gatherFacts)(opts.configPath !== undefined ? { configPath: opts.configPath, irq } : { irq });
  let probe: ProbeOutcome = { ran: false };
  if (deps.probeBoot !== undefined) {
    try {
      probe = { ran: true, result: await deps.probeBoot() };
    } catch (e) {
      probe = { ran: true, error: (e as Error).message };
    }
  }
  return evaluate(facts, probe);
}

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: '--  ' };

export function renderText(report: CheckReport): string {
  const width = Math.max(...report.checks.map((c) => c.title.length));
  const lines: string[] = ['ix check: what this host offers for dataplanes', ''];
  for (const c of report.checks) {
    const [first, ...rest] = c.detail.split('\n');
    lines.push(`  ${MARK[c.status]}  ${c.title.padEnd(width)}  ${first ?? ''}`);
    for (const r of rest) lines.push(`  ${' '.repeat(4)}  ${' '.repeat(width)}    ${r}`);
    if (c.hint !== undefined) lines.push(`  ${' '.repeat(4)}  ${' '.repeat(width)}  -> ${c.hint}`);
  }
  const count = (s: CheckStatus): number => report.checks.filter((c) => c.status === s).length;
  const fails = count('fail');
  const warns = count('warn');
  lines.push('');
  lines.push(
    report.ok
      ? `ready: everything needed is present${warns > 0 ? ` (${warns} warning${warns === 1 ? '' : 's'}: some configs or tests cannot run)` : ''}`
      : `not ready: ${fails} needed thing${fails === 1 ? ' is' : 's are'} missing (FAIL above)`,
  );
  return lines.join('\n') + '\n';
}

/** Add `check` to the ix command line. The lead wires this from src/cli/index.ts. */
export function registerCheck(program: Command, deps: CheckDeps = {}): void {
  program
    .command('check')
    .description('say what this host offers and lacks for running dataplanes (exit 1 if something needed is missing); with a config file, also validate it against this host')
    .argument('[config]', 'a dataplane config file to validate too')
    .option('--json', 'print a machine-readable report')
    .action(async (configPath: string | undefined, options: { json?: boolean }) => {
      const report = await runCheck(configPath !== undefined ? { configPath } : {}, deps);
      const write = deps.write ?? ((t: string) => void process.stdout.write(t));
      write(options.json === true ? JSON.stringify(report, null, 2) + '\n' : renderText(report));
      (deps.setExitCode ?? ((code: number) => void (process.exitCode = code)))(report.ok ? 0 : 1);
    });
}
