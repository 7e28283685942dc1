/* fault: misbehaves in the way argv[1] names, to test fault isolation (docs/guest-kernel.md).
 *   read-kernel   read dataplane memory
 *   write-events  write the read-only event array
 *   invalid-op    execute an invalid instruction
 *   bad-calls     hand ix_bpoll a call array in kernel memory
 *   bad-log-ptr   pass a bad pointer inside a call: must get -IX_EFAULT and go on (exit 0)
 *   privileged    execute a privileged instruction (hlt): #GP
 *   divide        divide by zero: #DE
 *   write-rxpool  write the read-only view of received payloads (needs a [nic])
 *   jump-kernel   jump into the kernel's address range
 *   bad-rsp       point RSP at unmapped memory, then fault: under pvm-host-switch the
 *                 event frame cannot be pushed and the core is lost (triple fault)
 *   timed-fault   #UD with the TSC just before it in %r12 (the boundary benchmark subtracts
 *                 it from the kernel's TSC in the report: fault delivery and report cost)
 *   hostile-report  make the pvm-host-switch event report SYSCALL itself: a claimed
 *                 interrupt (harmless: the app goes on), then a "frame" in kernel memory
 *   spin-bad-rsp  spin with RSP on unmapped memory: under pvm-host-switch the runaway
 *                 interrupt cannot be delivered (its frame goes on the app's stack) and the
 *                 core is lost; elsewhere it is stopped like spin
 *   busy          the opposite: 25 rounds of 20 ms of computation, each followed by an
 *                 ix_bpoll; checks its own arithmetic and exits 0 (an app that returns in
 *                 time must never be stopped, and one that is interrupted must resume intact)
 *   spin          never return to the dataplane: a loop in ring 3 that only [app]
 *                 max_run_ms can stop (it first makes one ix_bpoll, so it has returned once)
 * A fault on one core only, when argv[2] names it ("core=N"); other cores exit 0. */
#include <ix.h>

/* Guest memory through the kernel's direct map (guest-physical 2 MiB): page tables, app
 * instances, kernel data. Not mapped in any app page table. (The entry text at the very
 * start of the kernel image is mapped, read-only, by design: it is the trap's entry area.) */
#define KERNEL_DATA ((volatile uint64_t *)0x0000400000200000ull)

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

__attribute__((noinline)) static void read_kernel(void)
{
    ix_printf("read-kernel: got %lx", (unsigned long)*KERNEL_DATA);
}

__attribute__((noinline)) static void write_events(void)
{
    *(volatile uint64_t *)ix_info()->events = 1;
}

__attribute__((noinline)) static void invalid_op(void)
{
    __asm__ volatile("ud2");
}

__attribute__((noinline)) static void bad_calls(void)
{
    ix_bpoll((struct ix_call *)0x0000400000200000ull, 1);
}

__attribute__((noinline)) static void privileged(void)
{
    __asm__ volatile("hlt");
}

__attribute__((noinline)) static void divide(void)
{
    __asm__ volatile("xor %%ecx, %%ecx\n mov $1000, %%eax\n xor %%edx, %%edx\n div %%ecx" ::: "rax", "rcx", "rdx");
}

__attribute__((noinline)) static void write_rxpool(void)
{
    *(volatile uint64_t *)0x0000007e00000000ull = 1; /* APP_RXPOOL_VA, mapped read-only */
}

__attribute__((noinline)) static void jump_kernel(void)
{
    ((void (*)(void))KERNEL_DATA)();
}

__attribute__((noinline)) static void bad_rsp(void)
{
    __asm__ volatile("mov $0x1000, %%rsp\n ud2" ::: "memory");
}

__attribute__((noinline)) static void timed_fault(void)
{
    __asm__ volatile("rdtsc\n shl $32, %%rdx\n or %%rdx, %%rax\n mov %%rax, %%r12\n ud2" ::: "rax", "rdx", "r12");
}

__attribute__((noinline)) static void spin(void)
{
    ix_printf("spin: running without returning");
    for (;;)
        __asm__ volatile("pause" ::: "memory");
}

__attribute__((noinline)) static void spin_bad_rsp(void)
{
    ix_printf("spin-bad-rsp: running without returning, no stack");
    __asm__ volatile("mov $0x1000, %%rsp\n1: pause\n jmp 1b" ::: "memory");
}

/* 20 ms of a linear congruential sequence, then the same number of steps again: the two
 * must agree however often the app was interrupted and resumed in between. */
__attribute__((noinline)) static int busy(void)
{
    uint64_t khz = ix_info()->tsc_khz;
    for (int round = 0; round < 25; round++) {
        uint64_t t0 = ix_rdtsc(), x = 1, n = 0;
        while (ix_rdtsc() - t0 < 20 * khz) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            n++;
        }
        uint64_t y = 1;
        for (uint64_t i = 0; i < n; i++)
            y = y * 6364136223846793005ull + 1442695040888963407ull;
        if (x != y) {
            ix_printf("busy: round %d computed %lx then %lx", round, (unsigned long)x, (unsigned long)y);
            return 1;
        }
        struct ix_call none[1];
        ix_bpoll(none, 0); /* back to the dataplane: a new run */
    }
    ix_printf("busy: 25 rounds, every result checked");
    return 0;
}

static long raw_syscall(uint64_t rax, uint64_t rdi)
{
    uint64_t rsi = 0;
    __asm__ volatile("syscall"
                     : "+a"(rax), "+D"(rdi), "+S"(rsi)
                     :
                     : "rcx", "rdx", "r8", "r9", "r10", "r11", "memory");
    return (long)rax;
}

__attribute__((noinline)) static void hostile_report(void)
{
    /* struct trap_frame of the kernel: r15 ... rax, vector, error, rip, cs, rflags, rsp, ss */
    uint64_t frame[22] = {0};
    frame[15] = 32; /* "an interrupt arrived" */
    frame[17] = 0x0000400000100000ull;
    raw_syscall(IX_SYSCALL_EVENT_REPORT, (uint64_t)frame);
    ix_printf("hostile-report: a claimed interrupt was harmless");
    raw_syscall(IX_SYSCALL_EVENT_REPORT, (uint64_t)KERNEL_DATA); /* a frame in kernel memory */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        ix_printf("usage: fault read-kernel|write-events|invalid-op|bad-calls|bad-log-ptr|privileged|divide|"
                  "write-rxpool|jump-kernel|bad-rsp|hostile-report|spin|spin-bad-rsp|busy [core=N]");
        return 2;
    }
    if (argc > 2 && argv[2][0] == 'c' && (unsigned)(argv[2][5] - '0') != ix_cpu()) {
        ix_printf("core %u: not the faulting core", ix_cpu());
        return 0;
    }
    const char *k = argv[1];
    if (streq(k, "read-kernel"))
        read_kernel();
    else if (streq(k, "write-events"))
        write_events();
    else if (streq(k, "invalid-op"))
        invalid_op();
    else if (streq(k, "bad-calls"))
        bad_calls();
    else if (streq(k, "privileged"))
        privileged();
    else if (streq(k, "divide"))
        divide();
    else if (streq(k, "write-rxpool"))
        write_rxpool();
    else if (streq(k, "jump-kernel"))
        jump_kernel();
    else if (streq(k, "bad-rsp"))
        bad_rsp();
    else if (streq(k, "timed-fault"))
        timed_fault();
    else if (streq(k, "hostile-report"))
        hostile_report();
    else if (streq(k, "spin"))
        spin();
    else if (streq(k, "spin-bad-rsp"))
        spin_bad_rsp();
    else if (streq(k, "busy"))
        return busy();
    else if (streq(k, "bad-log-ptr")) {
        int32_t err;
        ix_call1(IX_OP_LOG, (uint64_t)KERNEL_DATA, 16, 0, &err);
        if (err != -IX_EFAULT) {
            ix_printf("bad-log-ptr: expected %d, got %d", -IX_EFAULT, err);
            return 1;
        }
        ix_call1(IX_OP_LOG, (uint64_t)"x", 1u << 20, 0, &err);
        if (err != -IX_EINVAL) {
            ix_printf("bad-log-ptr: oversize log expected %d, got %d", -IX_EINVAL, err);
            return 1;
        }
        ix_call1(999, 0, 0, 0, &err);
        if (err != -IX_ENOSYS) {
            ix_printf("bad-log-ptr: unknown op expected %d, got %d", -IX_ENOSYS, err);
            return 1;
        }
        ix_printf("bad-log-ptr: every bad argument was refused");
        return 0;
    } else {
        ix_printf("fault: unknown kind %s", k);
        return 2;
    }
    ix_printf("fault %s: survived (isolation is broken)", k);
    return 3;
}
