#include "mm.h"
#include "console.h"

static uint64_t next, limit;

void mm_init(uint64_t start, uint64_t end)
{
    next = (start + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    limit = end & ~(PAGE_SIZE - 1);
}

uint64_t mm_free_bytes(void) { return limit - next; }

uint64_t pages_alloc(uint64_t n, uint64_t align)
{
    uint64_t pa = (next + align - 1) & ~(align - 1);
    if (pa + n * PAGE_SIZE > limit || pa < next)
        panic("out of guest memory: need %lu pages, %lu bytes free (raise `memory` in the config)",
              n, limit - next);
    next = pa + n * PAGE_SIZE;
    /* No memset: the host hands over the free region zeroed (fresh anonymous memory, see
     * src/vmm/boot.ts) and pages are never freed, so every page comes back zero already.
     * Touching each page here would also cost a shadow-MMU fault per page on PVM hosts. */
    return pa;
}

uint64_t page_alloc(void) { return pages_alloc(1, PAGE_SIZE); }

static uint64_t *table_next(uint64_t *table, unsigned idx, int create)
{
    uint64_t e = table[idx];
    if (!(e & PTE_P)) {
        if (!create)
            return 0;
        uint64_t pa = page_alloc();
        table[idx] = pa | PTE_P | PTE_W | PTE_U;
        return phys_to_virt(pa);
    }
    if (e & PTE_PS)
        return 0;
    return phys_to_virt(e & PTE_ADDR);
}

int map_page(uint64_t pml4, uint64_t va, uint64_t pa, uint64_t flags)
{
    uint64_t *t = phys_to_virt(pml4);
    for (int shift = 39; shift > 12; shift -= 9) {
        t = table_next(t, (va >> shift) & 511, 1);
        if (!t)
            return -1;
    }
    unsigned idx = (va >> 12) & 511;
    if (t[idx] & PTE_P)
        return -1;
    t[idx] = (pa & PTE_ADDR) | flags | PTE_P;
    return 0;
}

uint64_t lookup_pte(uint64_t pml4, uint64_t va)
{
    uint64_t *t = phys_to_virt(pml4);
    for (int shift = 39; shift > 12; shift -= 9) {
        uint64_t e = t[(va >> shift) & 511];
        if (!(e & PTE_P))
            return 0;
        if (e & PTE_PS)
            return e;
        t = phys_to_virt(e & PTE_ADDR);
    }
    return t[(va >> 12) & 511];
}
