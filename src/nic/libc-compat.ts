// The few libc calls the NIC backend needs, bound with koffi. Buffers are passed as raw
// addresses (`uintptr_t`, a JS number): on x86-64 a pointer argument travels in the same
// register as an integer, so declaring `void *` parameters as uintptr_t lets the backend do
// pointer arithmetic on the guest memory base and read()/write() straight into guest RAM with
// no intermediate JS buffer. Every function returns the raw result; callers check `errno()`.
//
// Module state is per thread: a worker that imports this gets its own bindings.
import koffi from 'koffi';
import { constants as bufferConstants } from 'node:buffer';

const libc = koffi.load('libc.so.6');

export const open = libc.func('int open(const char *path, int flags, int mode)') as (p: string, f: number, m: number) => number;
export const close = libc.func('int close(int fd)') as (fd: number) => number;
export const read = libc.func('intptr_t read(int fd, uintptr_t buf, size_t n)') as (fd: number, buf: number, n: number) => number;
export const write = libc.func('intptr_t write(int fd, uintptr_t buf, size_t n)') as (fd: number, buf: number, n: number) => number;
export const readv = libc.func('intptr_t readv(int fd, uintptr_t iov, int cnt)') as (fd: number, iov: number, cnt: number) => number;
export const writev = libc.func('intptr_t writev(int fd, uintptr_t iov, int cnt)') as (fd: number, iov: number, cnt: number) => number;
export const ioctl = libc.func('int ioctl(int fd, unsigned long req, uintptr_t arg)') as (fd: number, req: number, arg: number) => number;
export const poll = libc.func('int poll(uintptr_t fds, unsigned long n, int timeout)') as (fds: number, n: number, t: number) => number;
export const eventfd = libc.func('int eventfd(unsigned int initval, int flags)') as (v: number, f: number) => number;
export const setns = libc.func('int setns(int fd, int nstype)') as (fd: number, t: number) => number;
export const mmap = libc.func('uintptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)') as (
  a: number, l: number, p: number, f: number, fd: number, o: number) => number;
export const munmap = libc.func('int munmap(uintptr_t addr, size_t len)') as (a: number, l: number) => number;
export const mprotect = libc.func('int mprotect(uintptr_t addr, size_t len, int prot)') as (a: number, l: number, p: number) => number;
const strerrorC = libc.func('const char *strerror(int errnum)') as (e: number) => string;

export const errno = (): number => koffi.errno();
export const strerror = (e: number): string => `${strerrorC(e)} (errno ${e})`;
/** An ArrayBuffer over native memory at `addr` (no copy); at most V8's ArrayBuffer limit
 * (4 GiB on Node 20), above which koffi would abort the process instead of throwing. */
export const view = (addr: number, len: number): ArrayBuffer => {
  if (len > bufferConstants.MAX_LENGTH) throw new RangeError(`view: ${len} bytes is more than one ArrayBuffer can hold here (${bufferConstants.MAX_LENGTH})`);
  return koffi.view(addr, len);
};

export const O_RDWR = 0o2;
export const O_RDONLY = 0o0;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const EAGAIN = 11;
export const EINTR = 4;
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_FAILED = 2 ** 64 - 1; // (void *)-1 as an unsigned JS number (rounds to 2^64)
export const POLLIN = 1;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;

export class SyscallError extends Error {
  override name = 'SyscallError';
  constructor(readonly call: string, readonly errnoValue: number, hint = '') {
    super(`${call} failed: ${strerror(errnoValue)}${hint ? `; ${hint}` : ''}`);
  }
}

/** Anonymous private memory (for scratch areas, iovec arrays, fake guest RAM in tests). */
export function mapAnon(len: number, prot = PROT_READ | PROT_WRITE, shared = false): number {
  const a = mmap(0, len, prot, (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
  if (a === MAP_FAILED || a >= 2 ** 63) throw new SyscallError(`mmap(${len})`, errno());
  return a;
}

/** Create a non-blocking eventfd. */
export function makeEventfd(): number {
  const fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw new SyscallError('eventfd', errno());
  return fd;
}

export const socketpair = libc.func('int socketpair(int domain, int type, int proto, uintptr_t sv)') as (
  d: number, t: number, p: number, sv: number) => number;
export const AF_UNIX = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;

const schedSetaffinity = libc.func('int sched_setaffinity(int pid, size_t size, uintptr_t mask)') as (p: number, s: number, m: number) => number;
/** Pin the calling thread to one CPU. */
export function pinThisThread(cpu: number): void {
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= 1024) throw new SyscallError('sched_setaffinity', 22, `cpu ${cpu} out of range`);
  const m = mapAnon(4096);
  try {
    new Uint8Array(view(m, 128))[cpu >> 3] = 1 << (cpu & 7);
    if (schedSetaffinity(0, 128, m) < 0) throw new SyscallError(`sched_setaffinity(cpu ${cpu})`, errno(), 'is that CPU online and allowed?');
  } finally {
    munmap(m, 4096);
  }
}
