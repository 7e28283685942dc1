/* App instances and their address spaces (the protection model: docs/guest-kernel.md).
 *
 * Each core gets two page tables, allocated as an 8 KiB-aligned pair (kernel, app), as PVM
 * expects should the kernel later use its KPTI mode (docs/pvm.md):
 *   kernel: slot 0 = the app (so the kernel reads call arrays in place after checking them),
 *           slot 128 = the direct map of all guest memory (shared, host-built),
 *           slot 255 = this core's entry block at ENTRY_VA.
 *   app:    slot 0 = the app, slot 128 = only the entry text and the IDT (read-only),
 *           slot 255 = the entry block (header/GDT/TSS page read-only, RSP0 stack writable).
 * Nothing else of the kernel is mapped while the app runs: on PVM hosts the U/S bit does not
 * protect, so absence is the protection; natively it protects twice.
 */
#include "app.h"
#include "console.h"
#include "cpu.h"
#include "dataplane.h"
#include "mm.h"
#include "platform.h"
#include "protection.h"
#include "hcall.h"
#include "x86.h"
#include "../lib/string.h"
#include <ix/app.h>

extern _Noreturn void switch_stack_and_call(uint8_t *stack_top, void (*fn)(struct percpu *), struct percpu *arg);

_Static_assert(APP_VA_LIMIT == IX_APP_VA_LIMIT, "layout.h and ix/bootinfo.h");

static struct app apps[IX_MAX_CPUS];
__attribute__((visibility("hidden"))) long ix_bpoll_direct(uint64_t calls, uint64_t n);

void app_add_vma(struct app *a, uint64_t start, uint64_t end, uint32_t prot)
{
    if (a->nvmas == APP_MAX_VMAS)
        panic("app: too many mappings");
    a->vmas[a->nvmas++] = (struct vma){start, end, prot};
}

static uint64_t prot_flags(uint32_t prot)
{
    uint64_t f = PTE_U;
    if (prot & VMA_W)
        f |= PTE_W;
    if (!(prot & VMA_X))
        f |= PTE_NX;
    return f;
}

/* Map [va, va+len) to fresh zeroed pages (or, if src_pa, to copies of src). */
static void map_private(uint64_t upml4, uint64_t va, uint64_t len, uint32_t prot, uint64_t src_pa,
                        uint64_t src_len)
{
    uint64_t npages = (len + PAGE_SIZE - 1) / PAGE_SIZE;
    for (uint64_t i = 0; i < npages; i++) {
        uint64_t pa = page_alloc();
        uint64_t off = i * PAGE_SIZE;
        if (src_pa && off < src_len) {
            uint64_t n = src_len - off < PAGE_SIZE ? src_len - off : PAGE_SIZE;
            memcpy(phys_to_virt(pa), phys_to_virt(src_pa + off), n);
        }
        if (map_page(upml4, va + off, pa, prot_flags(prot)))
            panic("app: address %lx mapped twice", va + off);
    }
}

static void map_entry_area(struct percpu *c, uint64_t kpml4, uint64_t upml4)
{
    uint64_t eb_pa = virt_to_phys(c->eb);
    for (uint64_t off = 0; off < ENTRY_BLOCK_SIZE; off += PAGE_SIZE)
        map_page(kpml4, ENTRY_VA + off, eb_pa + off, PTE_W | plat->entry_pte_user | PTE_NX);
    boundary->map_kernel_part(c, upml4); /* what the app's table maps depends on the boundary */
}

static uint64_t build_info_page(struct percpu *c, struct app *a, uint64_t upml4, uint64_t heap,
                                uint64_t heap_size)
{
    struct ix_bootinfo *bi = c->bi;
    uint64_t pa = page_alloc();
    struct ix_app_info *info = phys_to_virt(pa);
    info->cpu = c->id;
    info->ncpus = bi->ncpus;
    info->calls = APP_CALLS_VA;
    info->calls_max = IX_BATCH_MAX;
    info->events = APP_EVENTS_VA;
    info->events_max = a->events_max;
    info->heap = heap;
    info->heap_size = heap_size;
    info->tsc_khz = bi->tsc_khz;
    info->unix_ms = bi->unix_ms; /* written by the host just before CPU 0 entered the kernel */
    info->unix_tsc = bi->cpu[0].tsc_kernel_entry;
    /* argv[] then the strings, all inside this page */
    uint32_t argc = bi->app_argc;
    uint32_t len = bi->app_args_len;
    if (argc > 64 || len > IX_APP_ARGS_MAX || sizeof *info + (argc + 1) * 8 + len > PAGE_SIZE)
        panic("app: arguments too long");
    uint64_t *argv = (uint64_t *)(info + 1);
    char *strs = (char *)(argv + argc + 1);
    memcpy(strs, bi->app_args, len);
    uint64_t p = 0;
    for (uint32_t i = 0; i < argc; i++) {
        argv[i] = APP_INFO_VA + (uint64_t)(strs - (char *)info) + p;
        while (p < len && strs[p])
            p++;
        p++;
    }
    argv[argc] = 0;
    info->argc = argc;
    info->argv = APP_INFO_VA + sizeof *info;
    if (bi->app_shared_size) {
        info->shared = APP_SHARED_VA;
        info->shared_size = bi->app_shared_size;
    }
    if (boundary->id == IX_PROT_NONE) {
        info->bpoll_direct = (uint64_t)ix_bpoll_direct;
    }
    map_page(upml4, APP_INFO_VA, pa, PTE_U | PTE_NX);
    app_add_vma(a, APP_INFO_VA, APP_INFO_VA + PAGE_SIZE, VMA_R);
    return pa;
}

void app_create(struct percpu *c, uint64_t boot_pgd, uint64_t shared_pa)
{
    struct ix_bootinfo *bi = c->bi;
    struct app *a = &apps[c->id];
    c->app = a;
    uint64_t kpml4 = pages_alloc(2, 2 * PAGE_SIZE);
    uint64_t upml4 = kpml4 + PAGE_SIZE;
    c->kcr3 = kpml4;
    c->ucr3 = upml4;

    /* the app's own memory: segments, heap, stack, call and event arrays, info page */
    uint64_t top = 0;
    for (uint32_t i = 0; i < bi->app_nsegs && i < IX_MAX_APP_SEGS; i++) {
        struct ix_app_seg *s = &bi->app_segs[i];
        uint32_t prot = ((s->flags & 4) ? VMA_R : 0) | ((s->flags & 2) ? VMA_W : 0) | ((s->flags & 1) ? VMA_X : 0);
        uint64_t len = (s->memsz + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        if (s->vaddr & (PAGE_SIZE - 1) || s->vaddr + len > APP_STACK_TOP - bi->app_stack_size)
            panic("app: segment at %lx does not fit the app's address space", s->vaddr);
        if (!(prot & VMA_W) && s->memsz == s->filesz) {
            /* read-only: every core shares the host-loaded pages */
            for (uint64_t off = 0; off < len; off += PAGE_SIZE)
                if (map_page(upml4, s->vaddr + off, s->paddr + off, prot_flags(prot)))
                    panic("app: segments overlap at %lx", s->vaddr + off);
        } else {
            map_private(upml4, s->vaddr, len, prot, s->paddr, s->filesz);
        }
        app_add_vma(a, s->vaddr, s->vaddr + len, prot);
        if (s->vaddr + len > top)
            top = s->vaddr + len;
    }
    uint64_t heap = top + PAGE_SIZE; /* one unmapped guard page */
    map_private(upml4, heap, bi->app_heap_size, VMA_R | VMA_W, 0, 0);
    app_add_vma(a, heap, heap + bi->app_heap_size, VMA_R | VMA_W);

    uint64_t stack_lo = APP_STACK_TOP - bi->app_stack_size;
    map_private(upml4, stack_lo, bi->app_stack_size, VMA_R | VMA_W, 0, 0);
    app_add_vma(a, stack_lo, APP_STACK_TOP, VMA_R | VMA_W);
    a->stack_top = APP_STACK_TOP;

    uint64_t calls_len = (IX_BATCH_MAX * sizeof(struct ix_call) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    map_private(upml4, APP_CALLS_VA, calls_len, VMA_R | VMA_W, 0, 0);
    app_add_vma(a, APP_CALLS_VA, APP_CALLS_VA + calls_len, VMA_R | VMA_W);

    a->events_max = IX_EVENTS_MAX;
    uint64_t ev_pages = (IX_EVENTS_MAX * sizeof(struct ix_event) + PAGE_SIZE - 1) / PAGE_SIZE;
    uint64_t ev_pa = pages_alloc(ev_pages, PAGE_SIZE);
    for (uint64_t i = 0; i < ev_pages; i++)
        map_page(upml4, APP_EVENTS_VA + i * PAGE_SIZE, ev_pa + i * PAGE_SIZE, PTE_U | PTE_NX);
    app_add_vma(a, APP_EVENTS_VA, APP_EVENTS_VA + ev_pages * PAGE_SIZE, VMA_R);
    a->events = phys_to_virt(ev_pa);

    if (shared_pa) {
        /* one physical region, mapped into every core's instance */
        for (uint64_t off = 0; off < bi->app_shared_size; off += PAGE_SIZE)
            map_page(upml4, APP_SHARED_VA + off, shared_pa + off, prot_flags(VMA_R | VMA_W));
        app_add_vma(a, APP_SHARED_VA, APP_SHARED_VA + bi->app_shared_size, VMA_R | VMA_W);
    }

    build_info_page(c, a, upml4, heap, bi->app_heap_size);
    a->entry = bi->app_entry;

    /* the kernel's view: the same app tables, the direct map, the entry block */
    uint64_t *kt = phys_to_virt(kpml4), *ut = phys_to_virt(upml4), *bt = phys_to_virt(boot_pgd);
    kt[0] = ut[0];
    /* natively the direct map is supervisor-only through its PML4 entry (the U/S bit is the
     * boundary under shared-page-table); on PVM every page needs U=1 (platform.h) */
    uint64_t dm = bt[IX_KERNEL_BASE >> 39 & 511];
    kt[IX_KERNEL_BASE >> 39 & 511] = plat->entry_pte_user ? dm : dm & ~PTE_U;
    map_entry_area(c, kpml4, upml4);
    cpu_setup_entry_block(c);
}

static void idle(struct percpu *c)
{
    if (c->dp)
        dp_serve_without_app(c); /* the dataplane survives its app */
    for (;;)
        plat->halt(c);
}

_Noreturn void app_stopped(struct percpu *c)
{
    smap_close(c); /* it may have been stopped from inside ix_bpoll's dispatch */
    c->status->state = IX_CPU_APP_DONE;
    if (c->dp)
        dp_app_gone(c);
    switch_stack_and_call(c->kstack_top, idle, c);
}
