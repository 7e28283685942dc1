/* bench_trap: the cost of one batched call, for batch sizes 1, 8 and 64 (run by: npm run
 * bench -- trap, boundary). First the null crossing (batch=0: no calls, no events), then
 * one machine-readable line per size:
 *   bench_trap batch=<n> traps=<t> cycles=<c> tsc_khz=<k>                                 */
#include <ix.h>

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    static struct ix_call calls[64];
    static const unsigned sizes[] = {1, 8, 64};
    const unsigned traps = 20000;
    /* the null crossing: no calls, no event array (returns at once) */
    for (unsigned i = 0; i < 200; i++)
        ix_bpoll(calls, IX_BPOLL_NO_EVENTS);
    uint64_t t0 = ix_rdtsc();
    for (unsigned i = 0; i < traps; i++)
        ix_bpoll(calls, IX_BPOLL_NO_EVENTS);
    ix_printf("bench_trap core=%u batch=0 traps=%u cycles=%lu tsc_khz=%lu", ix_cpu(), traps,
              (unsigned long)(ix_rdtsc() - t0), (unsigned long)ix_info()->tsc_khz);
    for (unsigned s = 0; s < 3; s++) {
        unsigned n = sizes[s];
        for (unsigned i = 0; i < 200; i++) /* warm up */
            ix_bpoll(calls, n);
        uint64_t t0 = ix_rdtsc();
        for (unsigned i = 0; i < traps; i++) {
            for (unsigned j = 0; j < n; j++)
                calls[j].op = IX_OP_NOP;
            ix_bpoll(calls, n);
        }
        uint64_t cycles = ix_rdtsc() - t0;
        for (unsigned j = 0; j < n; j++)
            if (calls[j].err)
                return 1;
        ix_printf("bench_trap core=%u batch=%u traps=%u cycles=%lu tsc_khz=%lu", ix_cpu(), n, traps,
                  (unsigned long)cycles, (unsigned long)ix_info()->tsc_khz);
    }
    return 0;
}
