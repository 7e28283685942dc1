/**
 * The one table from errors to what the operator sees: every typed error the control plane
 * throws, by its name, with the exit status `ix` ends with and how the message is printed.
 * An error that is not in the table is a bug: it propagates with its stack.
 *
 * Exit statuses: 1 the command failed (the dataplane could not start or stopped with a
 * failure, a lookup or control request failed), 2 the config or the host does not fit, 3 the
 * request was refused because another dataplane holds the name or a CPU.
 */

export const EXIT = { failed: 1, config: 2, refused: 3 } as const;

interface Rule {
  exit: number;
  /** how the message is printed; `cmd` is 'ix run', 'ix stats', ... and `name` the dataplane */
  format: (message: string, ctx: ErrorContext) => string;
}

export interface ErrorContext {
  cmd: string;
  name?: string;
}

const asIs: Rule = { exit: EXIT.config, format: (m) => m };
const refused: Rule = { exit: EXIT.refused, format: (m, c) => `ix: ${c.name ?? '?'}: refused: ${m}` };
const failed: Rule = { exit: EXIT.failed, format: (m, c) => `${c.cmd === 'ix run' ? 'ix' : c.cmd}: ${m}` };

/** error name -> rule. test/cli-errors.test.ts checks that every error class in src/ is here. */
export const ERROR_TABLE: Record<string, Rule> = {
  // the config and the host (ix run before anything is created)
  ConfigError: asIs,
  HostFitError: asIs,
  WakeError: asIs, // wake = "kernel" where it cannot work
  VhostUnavailableError: asIs, // backend = "vhost" on a host kernel without vhost-net
  // another dataplane holds the name or a pinned CPU
  RegistryError: refused,
  ConflictError: refused,
  // ix stats / stop / exec: no such dataplane, or it does not answer
  LookupError: failed,
  ControlSocketError: failed,
  StatsError: failed,
  // ix scale: out of range, a fixed core count, live connections on a core that would lose groups
  ScaleError: failed,
  MigrateError: failed,
  // starting or running the dataplane
  RunError: failed,
  MachineError: failed,
  ElfError: failed,
  BootError: failed,
  SysError: failed,
  AbiError: failed,
  StructValueError: failed,
  NicPlanError: failed,
  NicInfoError: failed,
  NicBackendError: failed,
  AttachNicError: failed,
  EngineError: failed,
  TapError: failed,
  XdpSetupError: failed,
  VhostError: failed,
  VhostFeatureError: failed,
  VhostMemoryError: failed,
  NetnsError: failed,
  GuestMemoryError: failed,
  RingLayoutError: failed,
  VirtqueueLayoutError: failed,
  RssConfigError: failed,
  RetaError: failed,
  NicioError: failed,
  WorkerScriptError: failed,
};

/** Errors of the benchmarks and test tools: never reach the `ix` command. */
export const NOT_CLI_ERRORS = new Set(['NicBenchError', 'NetBenchError', 'E2eParseError', 'E2eBenchError', 'ConnsBenchError', 'ElasticBenchError', 'NicToolsError', 'FakeGuestError', 'FakeXskError']);

/** The exit status and the text for an error, or null when it is not a known, typed error. */
export function describeError(e: unknown, ctx: ErrorContext): { exitCode: number; text: string } | null {
  if (!(e instanceof Error)) return null;
  const rule = ERROR_TABLE[e.name];
  if (!rule) return null;
  // RegistryError's refusal keeps its context (the other dataplane) in the message; for a
  // lookup (ix stats/stop/exec) it is not a refusal but a failed command
  const r = ctx.cmd !== 'ix run' && rule === refused ? failed : rule;
  return { exitCode: r.exit, text: r.format(e.message, ctx) };
}

/** Print the error and set the exit status; rethrow what the table does not know. */
export function reportError(e: unknown, ctx: ErrorContext, log?: (msg: string) => void): void {
  const d = describeError(e, ctx);
  if (!d) throw e;
  log?.(d.text);
  process.stderr.write(`${d.text}\n`);
  process.exitCode = d.exitCode;
}
