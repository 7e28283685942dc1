/* libFuzzer target (b): a hostile app's call array into ix_syscall_dispatch (the kernel's
 * guest/kernel/syscall.c, netcalls.c, app_timers.c and the real app_range_ok, with the real
 * network stack behind them), against a model of the app's address space.
 *
 * The model: host memory laid out as the app's mappings, each between PROT_NONE guard pages,
 * with host protections matching the app's grant: the calls page and a data area read-write,
 * a read-only area, an execute-only area (no host access at all), and the mbuf pool
 * read-only as the app sees it. So a kernel access outside the grant (or a write into a
 * read-only mapping) faults, and libFuzzer reports the input. The entry block that
 * this_cpu() reads at its fixed address (ENTRY_VA) is mapped there, so syscall.c compiles
 * unchanged; the kernel services around it (console, hypercall, the dataplane loop, stopping
 * the app) are stubs here.
 *
 * Input: a header (where the call array is, how many calls, the bpoll flags), then bytes
 * for the calls page, the data area and the read-only area. Every 64-bit word whose top byte
 * is 0xa0..0xa5 is rewritten as an address: region (top byte - 0xa0) + a signed 32-bit
 * offset, so pointers land on the edges of mappings instead of nowhere. Checks: a call array
 * the app does not own read-write stops the app; every call that took a pointer outside the
 * grant failed; the stack leaks no mbuf. */
#include <sanitizer/asan_interface.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "app.h"
#include "console.h"
#include "dataplane.h"
#include "hcall.h"
#include "trap.h"
#include "../net/core.h"
#include "../net/netif.h"
#include "../net/stack_env.h"
#include "../net/tcp.h"
#include "fuzz_input.h"

long ix_syscall_dispatch(uint64_t calls, uint64_t n);

#define PG 4096ul
enum { R_CALLS, R_DATA, R_RO, R_XONLY, R_POOL, R_GUARD, NREG };
static const size_t reg_pages[NREG] = {12, 4, 2, 1, 0, 1}; /* calls: IX_BATCH_MAX * 40 bytes */
static uint8_t *reg[NREG];
static size_t reg_len[NREG];

static struct percpu cpu;
static struct app app;
static struct dataplane dp;
static struct ix_cpu_status status;
static struct ix_core_stats stats;
static struct ix_event events[64];
#define POOL_MBUFS 64
#define STACK_MEM (1u << 20)
static uint8_t stack_mem[STACK_MEM] __attribute__((aligned(64)));
static jmp_buf stop_jmp;
static int stopped;
static uint64_t now_us = 1000000;

/* ---- the kernel and stack services around the dispatch ---- */
uint64_t env_now_us(void) { return now_us; }
void env_log(const char *fmt, ...) { (void)fmt; }

static int in_grant(uint64_t va, uint64_t len, uint32_t prot) { return app_range_ok(&app, va, len, prot); }

void console_write(struct percpu *c, const char *s, size_t n)
{
    (void)c;
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum ^= (uint8_t)s[i]; /* read it all, as the console does */
    (void)sum;
}
void hcall(struct percpu *c, uint32_t nr, uint64_t a0, uint64_t a1) { (void)c, (void)nr, (void)a0, (void)a1; }
_Noreturn void app_fault_bad_calls(struct percpu *c, uint64_t calls, uint64_t n)
{
    (void)c, (void)calls, (void)n;
    stopped = 1;
    longjmp(stop_jmp, 1);
}
_Noreturn void app_stopped(struct percpu *c)
{
    (void)c;
    stopped = 2;
    longjmp(stop_jmp, 1);
}
void dp_begin(struct percpu *c, int no_events)
{
    net_events_begin(&c->dp->nc, events, no_events ? 0 : 64);
}
long dp_flush(struct percpu *c) { (void)c; return 0; }
long dp_run(struct percpu *c, uint64_t ncalls, int wait)
{
    (void)ncalls, (void)wait;
    net_poll_timers(&c->dp->nc);
    return c->dp->nc.ev_len;
}
void dp_note_udp_port(struct dataplane *d, uint16_t port) { (void)d, (void)port; }
/* The app sees the pool at the same address as the kernel here (the real one translates
 * APP_RXPOOL_VA; the bounds check is the same). */
uint64_t dp_pool_from_app(const struct dataplane *d, uint64_t va)
{
    uint64_t base = (uint64_t)d->pool_mem;
    return va >= base && va < base + d->pool_len ? va : 0;
}

/* The NIC: whatever the stack transmits from the app's memory must be inside the grant. */
int netif_tx(struct net_core *c, struct mbuf *hdr, const struct net_iov *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++) {
        uint64_t b = (uint64_t)(uintptr_t)iov[i].base;
        int in_pool = b >= (uint64_t)dp.pool_mem && b + iov[i].len <= (uint64_t)dp.pool_mem + dp.pool_len;
        FZ_CHECK(in_pool || in_grant(b, iov[i].len, VMA_R));
    }
    net_tx_complete(c, hdr);
    return 0;
}

/* ---- the model address space ---- */
static void map_model(void)
{
    for (int r = 0; r < NREG; r++) {
        size_t pages = r == R_POOL ? 0 : reg_pages[r];
        /* guard page, the region, guard page */
        uint8_t *m = mmap(NULL, (pages + 2) * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        FZ_CHECK(m != MAP_FAILED);
        reg[r] = m + PG;
        reg_len[r] = pages * PG;
    }
    /* the pool: its own mapping, so it too has guard pages */
    size_t pool_bytes = (size_t)POOL_MBUFS * MBUF_SIZE + 64;
    size_t pool_pages = (pool_bytes + PG - 1) / PG;
    uint8_t *m = mmap(NULL, (pool_pages + 2) * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FZ_CHECK(m != MAP_FAILED);
    FZ_CHECK(mprotect(m + PG, pool_pages * PG, PROT_READ | PROT_WRITE) == 0);
    reg[R_POOL] = m + PG;
    reg_len[R_POOL] = pool_pages * PG;
    FZ_CHECK(mprotect(reg[R_CALLS], reg_len[R_CALLS], PROT_READ | PROT_WRITE) == 0);
    FZ_CHECK(mprotect(reg[R_DATA], reg_len[R_DATA], PROT_READ | PROT_WRITE) == 0);
    FZ_CHECK(mprotect(reg[R_RO], reg_len[R_RO], PROT_READ) == 0); /* zeros; fill_ro rewrites it */
    /* this_cpu() reads the entry block at ENTRY_VA */
    void *eb = mmap((void *)ENTRY_VA, ENTRY_BLOCK_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    FZ_CHECK(eb == (void *)ENTRY_VA);
    ((struct entry_block *)eb)->percpu = &cpu;
}

static void add_vma(int r, uint32_t prot)
{
    app.vmas[app.nvmas++] = (struct vma){(uint64_t)reg[r], (uint64_t)reg[r] + reg_len[r], prot};
}

static void reset_fresh(void)
{
    memset(&app, 0, sizeof app);
    add_vma(R_CALLS, VMA_R | VMA_W);
    add_vma(R_DATA, VMA_R | VMA_W);
    add_vma(R_RO, VMA_R);
    add_vma(R_XONLY, VMA_X);
    add_vma(R_POOL, VMA_R);
    memset(&cpu, 0, sizeof cpu);
    cpu.status = &status;
    cpu.stats = &stats;
    cpu.app = &app;
    cpu.dp = &dp;
    memset(&dp, 0, sizeof dp);
    dp.pool_mem = reg[R_POOL];
    dp.pool_len = (size_t)POOL_MBUFS * MBUF_SIZE + 64;
    FZ_CHECK(mbuf_pool_init(&dp.pool, dp.pool_mem, dp.pool_len) >= POOL_MBUFS - 1);
    memset(stack_mem, 0, sizeof stack_mem);
    struct net_config cfg = {.addr = 0x0a000002u, .netmask = 0xffffff00u, .gateway = 0x0a000001u,
                             .mac = {2, 0, 0, 0, 0, 2}};
    FZ_CHECK(net_init(&dp.nc, 0, &cfg, &dp.pool, stack_mem, sizeof stack_mem, 16) == 0);
    dp.nc.netif = &dp;
    dp_timers_init(&dp);
    now_us = 1000000;
}

/* The set-up state is built once and copied back before each input (net_init zeroing and
 * laying out the stack's tables was a third of the run time): the kernel's structs, the
 * part of the stack's memory net_init carved (the rest is poisoned for ASan, so any access
 * to it is a crash) and the whole mbuf pool. Same state as reset_fresh() gives, byte for
 * byte, except that the pool's free chunks no longer keep an earlier input's bytes. */
static struct {
    int taken;
    struct app app;
    struct percpu cpu;
    struct dataplane dp;
    struct ix_cpu_status status;
    struct ix_core_stats stats;
    uint8_t *pool, *mem;
    size_t mem_used;
} snap;

static void reset(void)
{
    if (!snap.taken) {
        reset_fresh();
        snap.mem_used = (net_core_mem_base() + 64 + tcp_core_mem_size(16) + 4095) & ~(size_t)4095;
        FZ_CHECK(snap.mem_used <= STACK_MEM);
        snap.pool = malloc(dp.pool_len);
        snap.mem = malloc(snap.mem_used);
        FZ_CHECK(snap.pool && snap.mem);
        memcpy(snap.pool, dp.pool_mem, dp.pool_len);
        memcpy(snap.mem, stack_mem, snap.mem_used);
        ASAN_POISON_MEMORY_REGION(stack_mem + snap.mem_used, STACK_MEM - snap.mem_used);
        snap.app = app;
        snap.cpu = cpu;
        snap.dp = dp;
        snap.status = status;
        snap.stats = stats;
        snap.taken = 1;
        return;
    }
    app = snap.app;
    cpu = snap.cpu;
    dp = snap.dp;
    status = snap.status;
    stats = snap.stats;
    memcpy(dp.pool_mem, snap.pool, dp.pool_len);
    memcpy(stack_mem, snap.mem, snap.mem_used);
    now_us = 1000000;
}

/* The ops of docs/abi.md (ix/abi.h): 0-3, 16-22, 32-35, 48-49. */
static int op_defined(uint16_t op)
{
    return op <= 3 || (op >= 16 && op <= 22) || (op >= 32 && op <= 35) || op == 48 || op == 49;
}

/* Rewrite tagged words as addresses near a region (see the top comment). */
static void rebase(uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        unsigned tag = (unsigned)(w >> 56);
        if (tag >= 0xa0 && tag < 0xa0 + NREG) {
            w = (uint64_t)reg[tag - 0xa0] + (uint64_t)(int64_t)(int32_t)(uint32_t)w;
            memcpy(p + i, &w, 8);
        }
    }
}

static void fill(struct fz_in *in, int r, size_t max)
{
    size_t n = max < reg_len[r] ? max : reg_len[r];
    memset(reg[r], 0, reg_len[r]);
    n = fz_bytes(in, reg[r], (uint32_t)n);
    rebase(reg[r], n);
}

/* The read-only area: its new bytes built aside, and the mapping made writable (two
 * mprotect calls) only when they differ from what it holds. */
static void fill_ro(struct fz_in *in)
{
    static uint8_t ro[2 * PG];
    FZ_CHECK(reg_len[R_RO] == sizeof ro);
    memset(ro, 0, sizeof ro);
    uint32_t n = fz_bytes(in, ro, sizeof ro);
    rebase(ro, n);
    if (memcmp(ro, reg[R_RO], sizeof ro) == 0)
        return;
    FZ_CHECK(mprotect(reg[R_RO], reg_len[R_RO], PROT_READ | PROT_WRITE) == 0);
    memcpy(reg[R_RO], ro, sizeof ro);
    FZ_CHECK(mprotect(reg[R_RO], reg_len[R_RO], PROT_READ) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int mapped;
    if (!mapped) {
        map_model();
        mapped = 1;
    }
    reset();
    struct fz_in in = {data, size};
    /* header: where the array is (a region and an offset in 8-byte steps), count, flags */
    uint8_t where = fz_u8(&in);
    int8_t o8 = (int8_t)fz_u8(&in);
    int64_t off = o8 * 8 + ((o8 & 1) ? 4 : 0); /* some arrays misaligned */
    uint16_t count = fz_u16(&in);
    uint8_t fl = fz_u8(&in);
    uint16_t call_bytes = fz_u16(&in), data_bytes = fz_u16(&in);
    fill(&in, R_CALLS, call_bytes);
    fill(&in, R_DATA, data_bytes);
    fill_ro(&in);

    uint64_t calls = (uint64_t)reg[where % NREG] + (uint64_t)off;
    if (where >= 0xf0)
        calls = fz_u64(&in); /* anything at all */
    uint64_t n = count % 1100u; /* a little past IX_BATCH_MAX */
    if (fl & 1)
        n |= IX_BPOLL_NO_EVENTS;
    if (fl & 2)
        n |= IX_BPOLL_WAIT;
    if (fl & 4)
        n = (uint64_t)count << 48 | n; /* junk in the high bits */
    uint64_t nn = n & ~(IX_BPOLL_NO_EVENTS | IX_BPOLL_WAIT);
    int owned = nn <= IX_BATCH_MAX && calls % 8 == 0 && in_grant(calls, nn * sizeof(struct ix_call), VMA_R | VMA_W);

    stopped = 0;
    if (setjmp(stop_jmp) == 0)
        ix_syscall_dispatch(calls, n);
    /* a call array the app does not own (or too long) stops it, before any call ran */
    FZ_CHECK(owned || stopped == 1);
    if (owned && stopped != 1) {
        const struct ix_call *k = (const struct ix_call *)calls;
        for (uint64_t i = 0; i < nn; i++) {
            if (k[i].op == IX_OP_EXIT && k[i].flags == 0)
                break; /* the calls after it did not run */
            /* reserved flags set: the call fails, whatever it is */
            if (k[i].flags != 0)
                FZ_CHECK(k[i].err == -IX_EINVAL);
            /* an op nobody defined: ENOSYS */
            if (k[i].flags == 0 && !op_defined(k[i].op))
                FZ_CHECK(k[i].err == -IX_ENOSYS);
            /* a log call with text outside the grant failed */
            if (k[i].op == IX_OP_LOG && k[i].flags == 0 && k[i].a1 <= IX_LOG_MAX && k[i].err == 0)
                FZ_CHECK(in_grant(k[i].a0, k[i].a1, VMA_R));
            if (k[i].op == IX_OP_UDP_SEND && k[i].flags == 0 && k[i].err == 0)
                FZ_CHECK(in_grant(k[i].a0, k[i].a1, VMA_R));
        }
    }
    /* every connection and datagram goes; nothing of the pool stays in use */
    dp_timers_cancel_all(&dp);
    return 0;
}
