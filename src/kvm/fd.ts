/**
 * The one ioctl helper every class uses: runs the request, turns -1 into a SysError with
 * the request's name, errno and hint. `FdOwner` tracks the fd so a use after close() fails
 * with a clear EBADF instead of hitting an fd number the process has since reused.
 */
import { kvmError } from './errors.js';
import { IOCTL, type IoctlName } from './ioctl.js';
import { closeFd, errno, ioctl, ioctlBuf } from '../sys/libc.js';

const EBADF = 9;
const EINTR = 4;
/**
 * Setup ioctls can fail with EINTR when a signal arrives during them: KVM_CREATE_VM
 * registers an MMU notifier, and mm_take_all_locks() gives up with -EINTR whenever a
 * signal is pending. Node's handler has consumed the signal by the time ioctl() returns,
 * and none of these calls changed anything when they failed, so they are simply issued
 * again. KVM_RUN does not come through here (its EINTR is the kick; see vcpu.ts).
 */
const EINTR_RETRIES = 64;

export class FdOwner {
  private fdValue: number;

  constructor(fd: number, readonly what: string, private readonly owned = true) {
    this.fdValue = fd;
  }

  get fd(): number {
    return this.fdValue;
  }

  get closed(): boolean {
    return this.fdValue < 0;
  }

  /** The fd, or a SysError(EBADF) naming the request if this object was closed. */
  live(name: string): number {
    if (this.fdValue < 0) throw kvmError(name, EBADF, `${this.what} was closed`);
    return this.fdValue;
  }

  /** ioctl with an integer argument; returns the non-negative result. */
  int(name: IoctlName, arg = 0, detail = ''): number {
    const fd = this.live(name);
    const r = retryEintr(() => {
      const v = ioctl(fd, IOCTL[name], arg);
      return v < 0 ? -errno() : v;
    });
    if (r < 0) throw kvmError(name, -r, detail);
    return r;
  }

  /** ioctl with a buffer argument; returns the non-negative result. */
  ptr(name: IoctlName, buf: Uint8Array, detail = ''): number {
    const r = this.ptrOrErrno(name, buf);
    if (r < 0) throw kvmError(name, -r, detail);
    return r;
  }

  /** Like ptr(), but returns -errno instead of throwing (for E2BIG retry loops). */
  ptrOrErrno(name: IoctlName, buf: Uint8Array): number {
    const fd = this.live(name);
    return retryEintr(() => {
      const r = ioctlBuf(fd, IOCTL[name], buf);
      return r < 0 ? -errno() : r;
    });
  }

  closeFd(): void {
    if (this.fdValue < 0) return;
    const fd = this.fdValue;
    this.fdValue = -1;
    if (this.owned) closeFd(fd);
  }
}

/** Runs `call` (which returns a result >= 0 or -errno) again while it fails with EINTR. */
export function retryEintr(call: () => number, tries = EINTR_RETRIES): number {
  let r = call();
  for (let i = 1; i < tries && r === -EINTR; i++) r = call();
  return r;
}
