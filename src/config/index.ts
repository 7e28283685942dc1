// The dataplane config file: schema, parsing, defaults, errors, host fit.
export type { DataplaneConfig, NicConfig, LogLevel, Protection } from './types.js';
export { parseConfig, loadConfig, INLINE_SOURCE } from './load.js';
export { ConfigError, HostFitError, type ConfigIssue, formatIssue } from './errors.js';
export { DEFAULTS, LIMITS, LOG_LEVELS, PROTECTIONS, PROTECTION_ALIASES } from './defaults.js';
export { checkHostFit, hostFitProblems, currentHost, type HostInfo } from './hostfit.js';
export { ALLOWED } from './schema.js';
