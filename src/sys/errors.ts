/**
 * The one error class of the system-call binding: which call failed, its errno (number and
 * symbolic code) and, where the caller knows one, a hint saying what usually causes it and
 * what to do. Every layer above (KVM ioctls, the NIC backend, TAP set-up) throws this class;
 * the CLI maps it to a message and an exit code in one table (src/cli/errors.ts).
 */
import koffi from 'koffi';

const strerrorC = koffi.load('libc.so.6').func('const char *strerror(int errnum)') as (e: number) => string;

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(koffi.os.errno)) {
  // Aliases (EWOULDBLOCK=EAGAIN, EDEADLOCK=EDEADLK...): keep the first, canonical name.
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}
errnoNames.set(11, 'EAGAIN');
errnoNames.set(35, 'EDEADLK');
errnoNames.set(95, 'EOPNOTSUPP');

/** 'EINVAL' for 22; 'E<n>' when unknown. */
export function errnoName(e: number): string {
  return errnoNames.get(e) ?? `E${e}`;
}

/** libc's text for an errno, e.g. "Invalid argument". */
export function strerror(e: number): string {
  return strerrorC(e);
}

export class SysError extends Error {
  override name = 'SysError';
  /** symbolic errno, e.g. 'EINVAL' */
  readonly code: string;
  /**
   * @param call what failed: a libc call with its arguments ('mmap(4096)') or an ioctl name
   * @param errno the positive errno value
   * @param hint what usually causes it and what to do (may be empty)
   */
  constructor(readonly call: string, readonly errno: number, readonly hint = '') {
    const code = errnoName(errno);
    super(`${call} failed: ${code} (${strerror(errno)})${hint ? ` - ${hint}` : ''}`);
    this.code = code;
  }
}
