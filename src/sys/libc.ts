/**
 * The one binding of libc (koffi) for the whole control plane: the VMM (open, ioctl, mmap of
 * guest memory and kvm_run, thread ids, signals, CPU affinity) and the NIC backend (read,
 * write, readv/writev straight into guest memory, poll, eventfd, setns).
 *
 * One address type: `Addr`, a JS number. User-space addresses on x86-64 are below 2^47, so a
 * double holds them exactly and pointer arithmetic on the guest-memory base needs no BigInt.
 * Pointer parameters are declared `uintptr_t`: on x86-64 SysV a pointer travels in the same
 * register as an integer. `ioctlBuf` is the one exception: koffi passes a Buffer's address.
 *
 * ioctl is variadic in C; with one integer/pointer argument a variadic call passes it in the
 * same register as a fixed one (glibc's ioctl is a plain syscall wrapper), so it is bound as
 * fixed-argument functions. Measured: ~0.39 us per call for the integer form, ~0.42 us with
 * a Buffer, ~0.48 us for koffi's variadic form (docs/kvm-binding.md).
 *
 * The raw functions return what libc returns; callers check `errno()` (hot paths: the NIC
 * worker's loop). The wrappers below them throw SysError. AF_XDP sockets and bpf(2) are bound
 * here too (the XDP backend, src/nic/xdp/). Module state is per thread: every
 * worker that imports this gets its own koffi bindings, and errno() is this thread's.
 */
import koffi from 'koffi';
import { constants as bufferConstants } from 'node:buffer';
import { constants as osConstants } from 'node:os';
import { SysError } from './errors.js';

export { SysError, errnoName, strerror } from './errors.js';

/** A native address (what mmap returns), exact as a number below 2^53. */
export type Addr = number;

const lib = koffi.load('libc.so.6');

export const open = lib.func('int open(const char *path, int flags, int mode)') as (p: string, f: number, m: number) => number;
export const close = lib.func('int close(int fd)') as (fd: number) => number;
export const read = lib.func('intptr_t read(int fd, uintptr_t buf, size_t n)') as (fd: number, buf: Addr, n: number) => number;
export const write = lib.func('intptr_t write(int fd, uintptr_t buf, size_t n)') as (fd: number, buf: Addr, n: number) => number;
export const readv = lib.func('intptr_t readv(int fd, uintptr_t iov, int cnt)') as (fd: number, iov: Addr, cnt: number) => number;
export const writev = lib.func('intptr_t writev(int fd, uintptr_t iov, int cnt)') as (fd: number, iov: Addr, cnt: number) => number;
/** ioctl with an integer (or address) argument: KVM_RUN, KVM_CREATE_VCPU, TUNSETIFF on an address... */
export const ioctl = lib.func('int ioctl(int fd, unsigned long req, uintptr_t arg)') as (fd: number, req: number, arg: number) => number;
/** ioctl with a buffer argument: koffi passes the address of the Buffer/TypedArray (or NULL). */
export const ioctlBuf = lib.func('int ioctl(int fd, unsigned long req, void *arg)') as (
  fd: number, req: number, arg: Uint8Array | null) => number;
export const poll = lib.func('int poll(uintptr_t fds, unsigned long n, int timeout)') as (fds: Addr, n: number, t: number) => number;
export const eventfd = lib.func('int eventfd(unsigned int initval, int flags)') as (v: number, f: number) => number;
export const setns = lib.func('int setns(int fd, int nstype)') as (fd: number, t: number) => number;
export const mmap = lib.func('uintptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)') as (
  a: Addr, l: number, p: number, f: number, fd: number, o: number) => Addr;
export const munmap = lib.func('int munmap(uintptr_t addr, size_t len)') as (a: Addr, l: number) => number;
export const mprotect = lib.func('int mprotect(uintptr_t addr, size_t len, int prot)') as (a: Addr, l: number, p: number) => number;
export const socketpair = lib.func('int socketpair(int domain, int type, int proto, uintptr_t sv)') as (
  d: number, t: number, p: number, sv: Addr) => number;
// AF_XDP and eBPF (the XDP NIC backend, src/nic/xdp/): sockets, their options and rings, and
// the bpf(2) system call through syscall(2) (glibc has no wrapper). Buffers travel as addresses.
export const socket = lib.func('int socket(int domain, int type, int proto)') as (d: number, t: number, p: number) => number;
export const bind = lib.func('int bind(int fd, uintptr_t addr, uint32_t len)') as (fd: number, a: Addr, l: number) => number;
export const setsockopt = lib.func('int setsockopt(int fd, int level, int name, uintptr_t val, uint32_t len)') as (
  fd: number, level: number, name: number, val: Addr, len: number) => number;
export const getsockopt = lib.func('int getsockopt(int fd, int level, int name, uintptr_t val, uintptr_t lenp)') as (
  fd: number, level: number, name: number, val: Addr, lenp: Addr) => number;
export const sendto = lib.func('intptr_t sendto(int fd, uintptr_t buf, size_t n, int flags, uintptr_t addr, uint32_t alen)') as (
  fd: number, buf: Addr, n: number, flags: number, addr: Addr, alen: number) => number;
export const recvfrom = lib.func('intptr_t recvfrom(int fd, uintptr_t buf, size_t n, int flags, uintptr_t addr, uintptr_t alenp)') as (
  fd: number, buf: Addr, n: number, flags: number, addr: Addr, alenp: Addr) => number;
export const ifNametoindex = lib.func('unsigned int if_nametoindex(const char *name)') as (name: string) => number;
const syscall3 = lib.func('long syscall(long nr, long a, uintptr_t b, long c)') as (nr: number, a: number, b: Addr, c: number) => number;
const SYS_bpf = 321; // x86-64
/** bpf(2): cmd, the address of a zero-padded union bpf_attr, its size. Returns what the kernel returns (-1 + errno). */
export const bpf = (cmd: number, attr: Addr, size: number): number => syscall3(SYS_bpf, cmd, attr, size);
const gettidC = lib.func('int gettid(void)') as () => number;
const syscallBuf = lib.func('long syscall(long nr, long a, void *b, long c)') as (nr: number, a: number, b: Uint8Array, c: number) => number;
const SYS_sched_setattr = 314; // x86-64
const getschedC = lib.func('int sched_getscheduler(int pid)') as (p: number) => number;
const getpriorityC = lib.func('int getpriority(int which, int who)') as (w: number, who: number) => number;
const tgkillC = lib.func('int tgkill(int tgid, int tid, int sig)') as (p: number, t: number, s: number) => number;
const setaffC = lib.func('int sched_setaffinity(int pid, size_t len, void *mask)') as (p: number, l: number, m: Uint8Array) => number;
const getaffC = lib.func('int sched_getaffinity(int pid, size_t len, void *mask)') as (p: number, l: number, m: Uint8Array) => number;
const sigmaskC = lib.func('int pthread_sigmask(int how, void *set, void *old)') as (h: number, s: Uint8Array | null, o: Uint8Array | null) => number;

// Constants from the kernel's and glibc's headers, one line per family.
export const O_RDONLY = 0o0, O_RDWR = 0o2, O_NONBLOCK = 0o4000, O_CLOEXEC = 0o2000000;
/** the errno values callers act on */
export const EINTR = 4, EBADF = 9, EAGAIN = 11, EBUSY = 16, ENETDOWN = 100, ENOBUFS = 105;
export const PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2;
export const MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
/** (void *)-1 as an unsigned JS number (rounds to 2^64) */
export const MAP_FAILED = 2 ** 64 - 1;
export const POLLIN = 1, POLLOUT = 4;
export const EFD_NONBLOCK = 0o4000, EFD_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;
export const AF_UNIX = 1, AF_XDP = 44;
export const SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_NONBLOCK = 0o4000, SOCK_CLOEXEC = 0o2000000;
export const SOL_XDP = 283, MSG_DONTWAIT = 0x40;
/** glibc's cpu_set_t: 1024 CPUs. */
const CPU_SET_BYTES = 128;

/** glibc's sigset_t: 1024 signals. */
const SIGSET_BYTES = 128;
const SIG_BLOCK = 0, SIG_SETMASK = 2;
const ALL_SIGNALS = new Uint8Array(SIGSET_BYTES).fill(0xff);

/**
 * Runs `fn` with every signal blocked on this thread, then restores the mask (a signal sent
 * meanwhile is delivered after, to this thread or another). For a system call the kernel
 * abandons with EINTR whenever a signal is merely pending, so that a steady stream of
 * signals could keep it from ever completing. SIGKILL and SIGSTOP cannot be blocked.
 */
export function withSignalsBlocked<T>(fn: () => T): T {
  const old = new Uint8Array(SIGSET_BYTES);
  const r = sigmaskC(SIG_BLOCK, ALL_SIGNALS, old);
  if (r !== 0) throw new SysError('pthread_sigmask(SIG_BLOCK)', r);
  try {
    return fn();
  } finally {
    sigmaskC(SIG_SETMASK, old, null);
  }
}

/** errno of the last libc call made through koffi on this thread. */
export const errno = (): number => koffi.errno();

/** open(2); returns the fd or -errno (no throw: callers attach their own hints). */
export function openFd(path: string, flags: number): number {
  const fd = open(path, flags, 0);
  return fd < 0 ? -errno() : fd;
}

export function closeFd(fd: number): void {
  if (close(fd) < 0) throw new SysError(`close(${fd})`, errno());
}

function checkAddr(a: Addr, what: string): void {
  if (!Number.isSafeInteger(a) || a <= 0) throw new RangeError(`${what}: native address ${a} is not a valid pointer`);
}

function checkLength(len: number, what: string): void {
  if (!Number.isSafeInteger(len) || len <= 0) throw new RangeError(`${what}: length ${len} must be a positive integer`);
}

function mapped(a: Addr, call: string, hint = ''): Addr {
  if (a === MAP_FAILED || a >= 2 ** 63) throw new SysError(call, errno(), hint);
  return a;
}

/**
 * Anonymous memory. Guest RAM is `{ shared: true, noreserve: true }`: every thread (and KVM)
 * sees one copy, and a large guest does not need swap reserved up front. Scratch areas
 * (iovec arrays, pollfd arrays) are private. Release with unmap().
 */
export function mapAnon(len: number, o: { shared?: boolean; noreserve?: boolean; prot?: number } = {}): Addr {
  checkLength(len, 'mapAnon');
  const flags = (o.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | (o.noreserve ? MAP_NORESERVE : 0);
  return mapped(mmap(0, len, o.prot ?? PROT_READ | PROT_WRITE, flags, -1, 0), `mmap(${len} bytes, anonymous)`,
    'lower the guest memory size or check `ulimit -v`');
}

/** mmap(2) of a file descriptor (the vCPU's kvm_run area), shared, read/write. */
export function mapFd(fd: number, len: number, offset = 0): Addr {
  checkLength(len, 'mapFd');
  return mapped(mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset), `mmap(fd ${fd}, ${len} bytes)`);
}

/** munmap(2) that throws. */
export function unmap(addr: Addr, len: number): void {
  checkAddr(addr, 'unmap');
  checkLength(len, 'unmap');
  if (munmap(addr, len) < 0) throw new SysError(`munmap(0x${addr.toString(16)}, ${len})`, errno());
}

/** The largest ArrayBuffer this V8 makes (4 GiB on Node 20): the most one view can cover. */
export const MAX_VIEW_BYTES = bufferConstants.MAX_LENGTH;

/**
 * An ArrayBuffer over native memory at `addr` (no copy). Works in any thread given only the
 * number: worker threads share the address space, so a worker receives the guest-memory
 * address and builds its own view. The view must not be touched after the memory is unmapped
 * (that would be a segfault, not an exception).
 */
export function view(addr: Addr, len: number): ArrayBuffer {
  checkAddr(addr, 'view');
  checkLength(len, 'view');
  // koffi aborts the process (not a JS error) when V8 cannot make the ArrayBuffer
  if (len > MAX_VIEW_BYTES) throw new RangeError(`view: ${len} bytes is more than one ArrayBuffer can hold here (${MAX_VIEW_BYTES}, V8's limit)`);
  return koffi.view(addr, len);
}

/** A non-blocking, close-on-exec eventfd. */
export function makeEventfd(): number {
  const fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw new SysError('eventfd', errno());
  return fd;
}

let oneU64: Addr | undefined; // per thread: each worker loads this module anew

/**
 * Add 1 to an eventfd's counter: a wake-up (a worker in poll(2), vhost's kick, a KVM irqfd's
 * interrupt). Returns write(2)'s result: 8, or -1 with errno (EAGAIN: the counter is at its
 * maximum and the reader is woken anyway; EBADF: the fd is closed). Never throws and does not
 * allocate after a thread's first call, so the packet path can call it.
 */
export function signalEventfd(fd: number): number {
  if (oneU64 === undefined) {
    const a = mapAnon(4096);
    new DataView(view(a, 8)).setBigUint64(0, 1n, true);
    oneU64 = a;
  }
  return write(fd, oneU64, 8);
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
  if (tgkillC(pid, tid, s) < 0) throw new SysError(`tgkill(${pid}, ${tid}, ${s})`, errno(), 'the thread has probably exited');
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
  if (setaffC(tid, CPU_SET_BYTES, cpuMask(cpus)) < 0)
    throw new SysError(`sched_setaffinity(${tid}, [${cpus.join(',')}])`, errno(), 'a CPU is offline or outside this cgroup\'s cpuset');
}

/**
 * Ask the fair scheduler for a time slice of `us` µs for a thread (tid; 0 = the calling thread):
 * sched_setattr(2) with the thread's policy (SCHED_OTHER) and nice kept and sched_runtime set to
 * the slice. Linux 6.12+ (EEVDF) lets a waking thread with a shorter slice than the running one
 * preempt it at once (and clamps the slice to 100 µs..100 ms); older kernels ignore the value.
 * us = 0 restores the kernel's default slice. Returns false, changing nothing, for a thread that
 * is not SCHED_OTHER (an operator's chrt wins).
 */
export function setThreadSlice(us: number, tid = 0): boolean {
  if (!Number.isInteger(us) || us < 0 || us > 100_000) throw new RangeError(`setThreadSlice: ${us} µs is not an integer from 0 to 100000`);
  if (getschedC(tid) !== 0) return false;
  // getpriority returns the nice value itself; -1 is also a valid nice, so errno decides
  koffi.errno(0);
  const nice = getpriorityC(0 /* PRIO_PROCESS: a thread id on Linux */, tid);
  if (nice === -1 && errno() !== 0) throw new SysError(`getpriority(${tid})`, errno());
  const a = new Uint8Array(56); // struct sched_attr, SCHED_ATTR_SIZE_VER1
  const dv = new DataView(a.buffer);
  dv.setUint32(0, a.length, true); // size
  dv.setUint32(4, 0, true); // sched_policy: SCHED_OTHER
  dv.setInt32(16, nice, true); // sched_nice
  dv.setBigUint64(24, BigInt(us) * 1000n, true); // sched_runtime, ns
  if (syscallBuf(SYS_sched_setattr, tid, a, 0) < 0)
    throw new SysError(`sched_setattr(${tid}, slice ${us} µs)`, errno(), 'set sched_slice_us = 0 to leave the slice to the kernel');
  return true;
}

/** Pin the calling thread to one CPU. */
export function pinThisThread(cpu: number): void {
  setThreadAffinity([cpu]);
}

/** The host CPUs a thread (tid; 0 = the calling thread) may run on. */
export function getThreadAffinity(tid = 0): number[] {
  const m = new Uint8Array(CPU_SET_BYTES);
  if (getaffC(tid, CPU_SET_BYTES, m) < 0) throw new SysError(`sched_getaffinity(${tid})`, errno());
  const out: number[] = [];
  for (let i = 0; i < CPU_SET_BYTES * 8; i++) if (m[i >> 3]! & (1 << (i & 7))) out.push(i);
  return out;
}
