/* The check of every app pointer the kernel takes (ix_bpoll's calls array, log text, sendv
 * lists and payloads): alone in this file so that the host fuzzer (guest/test/fuzz,
 * fuzz_syscall) links the real check against its model of the app's address space. */
#include "app.h"

int app_range_ok(const struct app *a, uint64_t va, uint64_t len, uint32_t prot)
{
    if (va + len < va)
        return 0;
    for (int i = 0; i < a->nvmas; i++) {
        const struct vma *v = &a->vmas[i];
        if (va >= v->start && va + len <= v->end)
            return (v->prot & prot) == prot;
    }
    return 0;
}
