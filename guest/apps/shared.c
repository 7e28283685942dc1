/* shared: checks `[app] shared` memory: every core's instance sees the same zeroed region at
 * the same address. Each core adds its id + 1 to a counter and marks itself; core 0 waits
 * for all marks and prints the sum. */
#include <ix.h>

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct ix_app_info *i = ix_info();
    if (!i->shared || i->shared_size < 4096) {
        ix_printf("shared: no shared memory (size %lu)", (unsigned long)i->shared_size);
        return 1;
    }
    volatile uint64_t *mem = (volatile uint64_t *)i->shared;
    __atomic_fetch_add(&mem[0], i->cpu + 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&mem[1 + i->cpu], 1, __ATOMIC_RELEASE);
    if (i->cpu != 0)
        return 0;
    for (uint32_t c = 0; c < i->ncpus; c++)
        while (!__atomic_load_n(&mem[1 + c], __ATOMIC_ACQUIRE))
            __asm__ volatile("pause");
    ix_printf("shared: sum %lu at %lx", (unsigned long)mem[0], (unsigned long)i->shared);
    return 0;
}
