/* fault: misbehaves in the way argv[1] names, to test fault isolation (docs/guest-kernel.md).
 *   read-kernel   read dataplane memory
 *   write-events  write the read-only event array
 *   invalid-op    execute an invalid instruction
 *   bad-calls     hand ix_bpoll a call array in kernel memory
 *   bad-log-ptr   pass a bad pointer inside a call: must get -IX_EFAULT and go on (exit 0)
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        ix_printf("usage: fault read-kernel|write-events|invalid-op|bad-calls|bad-log-ptr [core=N]");
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
