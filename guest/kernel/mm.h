#ifndef IX_KERNEL_MM_H
#define IX_KERNEL_MM_H
#include <stdint.h>
#include <ix/bootinfo.h>

#define PAGE_SIZE 4096ull
#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

static inline void *phys_to_virt(uint64_t pa) { return (void *)(IX_KERNEL_BASE + pa); }
static inline uint64_t virt_to_phys(const void *va) { return (uint64_t)va - IX_KERNEL_BASE; }

/* Physical pages from the region the host left free (and zeroed). Boot-time only (the BSP
 * builds everything before the other CPUs start), so no locking, and never freed. Pages
 * come back zeroed. */
void mm_init(uint64_t start, uint64_t end);
uint64_t page_alloc(void);
uint64_t pages_alloc(uint64_t n, uint64_t align); /* contiguous, zeroed */
uint64_t mm_free_bytes(void);

/* Map one 4 KiB page in the page table rooted at pml4 (physical). Intermediate tables are
 * created writable and user-accessible; the leaf's flags decide. Returns 0, or -1 if the
 * address is already mapped. */
int map_page(uint64_t pml4, uint64_t va, uint64_t pa, uint64_t flags);
/* Walk: the leaf entry for va, or 0. */
uint64_t lookup_pte(uint64_t pml4, uint64_t va);

#endif
