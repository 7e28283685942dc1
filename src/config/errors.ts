// Config errors. One ConfigError carries every problem found in a file, one line each,
// so that an operator fixes them all in one edit instead of one per run.

/** One problem: where (key path), what was given, what is wrong, what would be accepted. */
export interface ConfigIssue {
  /** Dotted key path as written in the file, e.g. `nic.address` or `nic.arp[1].mac`. */
  path: string;
  /** True when the key was present (then `value` is what the file gave). */
  present: boolean;
  value?: unknown;
  /** What is wrong, e.g. `unknown key`, `out of range`, `missing (required)`. */
  problem: string;
  /** What is allowed, in words, e.g. `an integer from 1 to 1024`. */
  allowed: string;
}

/** Render a TOML value the way it would be written in the file. */
export function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) {
    const inner = v.map(formatValue).join(', ');
    return `[${inner.length > 60 ? inner.slice(0, 57) + '...' : inner}]`;
  }
  if (v !== null && typeof v === 'object') return '{ table }';
  return String(v);
}

export function formatIssue(file: string, i: ConfigIssue): string {
  const where = i.present ? `${i.path} = ${formatValue(i.value)}` : i.path;
  return `${file}: ${where}: ${i.problem}; allowed: ${i.allowed}`;
}

/** The config file is wrong. `issues` is empty for TOML syntax errors (see `line`/`column`). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
    message?: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(
      message ??
        `${issues.length} problem${issues.length === 1 ? '' : 's'} in dataplane config ${file}` +
          (file.startsWith('<') ? ':\n' : ` (fix them and run \`ix check ${file}\`):\n`) +
          issues.map((i) => '  ' + formatIssue(file, i)).join('\n'),
    );
  }
}

/** The config is valid but this host cannot run it (CPUs, app file, memory). */
export class HostFitError extends Error {
  override readonly name = 'HostFitError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(
      `dataplane config ${file} does not fit this host:\n` + problems.map((p) => `  ${file}: ${p}`).join('\n'),
    );
  }
}
