/**
 * The libc calls the VMM needs, bound with koffi: open/close, ioctl, mmap/munmap of guest
 * memory and of kvm_run, zero-copy views of native memory, thread ids, signals to one
 * thread (the vCPU kick) and CPU affinity.
 *
 * ioctl is variadic in C; on x86-64 SysV a variadic call with one integer/pointer argument
 * passes it in the same register as a fixed one (glibc's ioctl is a plain syscall wrapper),
 * so it is bound twice as a fixed-argument function: with a `void *` (a Buffer or a BigInt
 * address) and with an `unsigned long`. Measured on this host: ~0.39 us per call for the
 * integer form, ~0.42 us with a Buffer, ~0.48 us for koffi's variadic form.
 *
 * Module state is per thread: every worker that imports this gets its own koffi bindings,
 * and koffi.errno() is the errno of the last call made by *this* thread.
 */
import koffi from 'koffi';
import { constants as bufferConstants } from 'node:buffer';
import { constants as osConstants } from 'node:os';

const lib = koffi.load('libc.so.6');

/** A native address: what mmap returns. Always a BigInt here; numbers are accepted as input. */
export type Address = bigint;

const openC = lib.func('int open(const char *path, int flags, int mode)') as (p: string, f: number, m: number) => number;
const closeC = lib.func('int close(int fd)') as (fd: number) => number;
/** ioctl with a pointer argument: pass a Buffer/TypedArray (koffi passes its address) or null. */
export const ioctlPtr = lib.func('int ioctl(int fd, unsigned long req, void *arg)') as (
  fd: number, req: number, arg: Uint8Array | bigint | null) => number;
/** ioctl with an integer argument (KVM_RUN, KVM_CREATE_VCPU, KVM_CHECK_EXTENSION...). */
export const ioctlInt = lib.func('int ioctl(int fd, unsigned long req, unsigned long arg)') as (
  fd: number, req: number, arg: number) => number;
const mmapC = lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)') as (
  a: bigint | null, l: number, p: number, f: number, fd: number, o: number) => bigint | null;
const munmapC = lib.func('int munmap(void *addr, size_t len)') as (a: bigint, l: number) => number;
const gettidC = lib.func('int gettid(void)') as () => number;
const tgkillC = lib.func('int tgkill(int tgid, int tid, int sig)') as (p: number, t: number, s: number) => number;
const setaffC = lib.func('int sched_setaffinity(int pid, size_t len, void *mask)') as (p: number, l: number, m: Uint8Array) => number;
const getaffC = lib.func('int sched_getaffinity(int pid, size_t len, void *mask)') as (p: number, l: number, m: Uint8Array) => number;
const strerrorC = lib.func('const char *strerror(int errnum)') as (e: number) => string;

export const O_RDWR = 0o2;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
/** (void *)-1 */
const MAP_FAILED = 2n ** 64n - 1n;
/** glibc's cpu_set_t: 1024 CPUs. */
const CPU_SET_BYTES = 128;

/** errno of the last libc call made through koffi on this thread. */
export const errno = (): number => koffi.errno();

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

/** A failed libc call that is not an ioctl (open, mmap, tgkill...). */
export class LibcError extends Error {
  override name = 'LibcError';
  readonly code: string;
  constructor(readonly call: string, readonly errno: number, hint = '') {
    super(`${call} failed: ${errnoName(errno)} (${strerror(errno)})${hint ? ` - ${hint}` : ''}`);
    this.code = errnoName(errno);
  }
}

/** open(2); returns the fd or -errno (no throw: callers attach their own hints). */
export function openFd(path: string, flags: number): number {
  const fd = openC(path, flags, 0);
  return fd < 0 ? -errno() : fd;
}

export function closeFd(fd: number): void {
  if (closeC(fd) < 0) throw new LibcError(`close(${fd})`, errno());
}

function toAddress(a: bigint | number): bigint {
  const v = typeof a === 'bigint' ? a : BigInt(a);
  if (v <= 0n || v >= 2n ** 64n) throw new RangeError(`native address ${v} is not a valid pointer`);
  return v;
}

function checkLength(len: number, what: string): void {
  if (!Number.isSafeInteger(len) || len <= 0) throw new RangeError(`${what}: length ${len} must be a positive integer`);
}

/**
 * Anonymous memory for guest RAM: MAP_SHARED by default, so that every thread (and KVM)
 * sees one copy, MAP_NORESERVE so a large guest does not need swap reserved up front.
 * Returns the address as a BigInt; release it with munmap().
 */
export function mmapAnonymous(len: number, opts: { shared?: boolean } = {}): Address {
  checkLength(len, 'mmapAnonymous');
  const flags = ((opts.shared ?? true) ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_NORESERVE;
  const a = mmapC(null, len, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (a === null || a === MAP_FAILED) {
    throw new LibcError(`mmap(${len} bytes, anonymous)`, errno(), 'lower the guest memory size or check `ulimit -v`');
  }
  return a;
}

/** mmap(2) of a file descriptor (the vCPU's kvm_run area), shared, read/write. */
export function mmapFd(fd: number, len: number, offset = 0): Address {
  checkLength(len, 'mmapFd');
  const a = mmapC(null, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
  if (a === null || a === MAP_FAILED) throw new LibcError(`mmap(fd ${fd}, ${len} bytes)`, errno());
  return a;
}

export function munmap(addr: bigint | number, len: number): void {
  checkLength(len, 'munmap');
  if (munmapC(toAddress(addr), len) < 0) throw new LibcError(`munmap(0x${addr.toString(16)}, ${len})`, errno());
}

/** The largest ArrayBuffer this V8 makes (4 GiB on Node 20): the most one view can cover. */
export const MAX_VIEW_BYTES = bufferConstants.MAX_LENGTH;

/**
 * An ArrayBuffer over native memory at `addr` (no copy). Works in any thread given only the
 * number: worker threads share the address space, so a vCPU worker receives the guest
 * memory address (a BigInt or its decimal string) and builds its own view. The view must not
 * be touched after the memory is unmapped (that would be a segfault, not an exception).
 */
export function view(addr: bigint | number | string, len: number): ArrayBuffer {
  checkLength(len, 'view');
  // koffi aborts the process (not a JS error) when V8 cannot make the ArrayBuffer
  if (len > MAX_VIEW_BYTES) throw new RangeError(`view: ${len} bytes is more than one ArrayBuffer can hold here (${MAX_VIEW_BYTES}, V8's limit)`);
  return koffi.view(toAddress(typeof addr === 'string' ? BigInt(addr) : addr), len);
}

/** Kernel thread id of the calling thread (what tgkill and sched_setaffinity want). */
export function gettid(): number {
  return gettidC();
}

/** Signal number from a name ('SIGUSR2') or a number. */
export function signalNumber(sig: number | string): number {
  if (typeof sig === 'number') return sig;
  const n = (osConstants.signals as Record<string, number | undefined>)[sig];
  if (n === undefined) throw new RangeError(`unknown signal name ${sig}`);
  return n;
}

/** Send `sig` to one thread (tid) of process `pid`: the vCPU kick. */
export function tgkill(pid: number, tid: number, sig: number | string): void {
  const s = signalNumber(sig);
  if (tgkillC(pid, tid, s) < 0) {
    throw new LibcError(`tgkill(${pid}, ${tid}, ${s})`, errno(), 'the thread has probably exited');
  }
}

function cpuMask(cpus: readonly number[]): Uint8Array {
  const m = new Uint8Array(CPU_SET_BYTES);
  for (const c of cpus) {
    if (!Number.isInteger(c) || c < 0 || c >= CPU_SET_BYTES * 8) throw new RangeError(`CPU number ${c} out of range 0..${CPU_SET_BYTES * 8 - 1}`);
    m[c >> 3]! |= 1 << (c & 7);
  }
  return m;
}

/** Pin a thread (tid; 0 = the calling thread) to the given host CPUs. */
export function setThreadAffinity(cpus: readonly number[], tid = 0): void {
  if (cpus.length === 0) throw new RangeError('setThreadAffinity: empty CPU list');
  if (setaffC(tid, CPU_SET_BYTES, cpuMask(cpus)) < 0) {
    throw new LibcError(`sched_setaffinity(${tid}, [${cpus.join(',')}])`, errno(), 'a CPU is offline or outside this cgroup\'s cpuset');
  }
}

/** The host CPUs a thread (tid; 0 = the calling thread) may run on. */
export function getThreadAffinity(tid = 0): number[] {
  const m = new Uint8Array(CPU_SET_BYTES);
  if (getaffC(tid, CPU_SET_BYTES, m) < 0) throw new LibcError(`sched_getaffinity(${tid})`, errno());
  const out: number[] = [];
  for (let i = 0; i < CPU_SET_BYTES * 8; i++) if (m[i >> 3]! & (1 << (i & 7))) out.push(i);
  return out;
}
