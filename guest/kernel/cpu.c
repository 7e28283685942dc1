/* Descriptor tables and per-CPU setup.
 *
 * The GDT and TSS of each CPU live in its entry block, which its page tables map at ENTRY_VA:
 * when an event arrives from ring 3 the CPU reads the IDT, GDT and TSS through the app's
 * page table, so all three must be mapped there (read-only), and at the same address the
 * kernel loaded them from. */
#include "cpu.h"
#include "protection.h"
#include "x86.h"
#include "../lib/string.h"

struct entry_block entry_blocks[IX_MAX_CPUS];
uint8_t kernel_stacks[IX_MAX_CPUS][KSTACK_SIZE] __attribute__((aligned(4096)));
uint8_t vif_pages[IX_MAX_CPUS][4096] __attribute__((aligned(4096)));
struct percpu percpus[IX_MAX_CPUS];

/* 64-bit code/data descriptors with the accessed bit preset, so the CPU never writes the
 * GDT when loading a selector (the app's page table maps it read-only). */
#define GDT_KCODE 0x00af9b000000ffffull
#define GDT_KDATA 0x00cf93000000ffffull
#define GDT_UCODE32 0x00cffb000000ffffull
#define GDT_UDATA 0x00cff3000000ffffull
#define GDT_UCODE 0x00affb000000ffffull

static const uint64_t early_gdt[4] = {0, 0, GDT_KCODE, GDT_KDATA};

static struct idt_gate idt[256] __attribute__((section(".data.idt"), aligned(4096)));
extern const uint64_t trap_vectors[IDT_VECTORS];

void idt_fill(struct idt_gate *t, const uint64_t *handlers, uint16_t sel, uint8_t type)
{
    /* Every CPU writes the same values: racing writers cannot disagree. */
    for (int v = 0; v < IDT_VECTORS; v++) {
        uint64_t h = handlers[v];
        t[v].off_lo = (uint16_t)h;
        t[v].sel = sel;
        t[v].ist = 0;
        t[v].type = type;
        t[v].off_mid = (uint16_t)(h >> 16);
        t[v].off_hi = (uint32_t)(h >> 32);
        t[v].zero = 0;
    }
}

static void idt_init(void)
{
    idt_fill(idt, trap_vectors, SEL_KCODE, 0x8e); /* present, DPL 0, 64-bit interrupt gate */
}

static void syscall_msrs(void)
{
    wrmsr(MSR_STAR, ((uint64_t)(SEL_USER32 | 3) << 48) | ((uint64_t)SEL_KCODE << 32));
    wrmsr(MSR_LSTAR, (uint64_t)boundary->syscall_entry);
    /* clear TF, IF, DF, IOPL, NT, AC on entry */
    wrmsr(MSR_SFMASK, 0x47700);
}

void percpu_init(struct percpu *c, unsigned id, struct ix_bootinfo *bi)
{
    /* Called by the CPU itself and, for every CPU, by the BSP before it builds their page
     * tables: the other CPUs may not have started yet. Same values either way. */
    c->id = id;
    c->bi = bi;
    c->status = &bi->cpu[id];
    c->stats = &bi->stats[id];
    c->vif = vif_pages[id];
    c->eb = &entry_blocks[id];
    c->kstack_top = kernel_stacks[id] + KSTACK_SIZE;
    /* no watchdog under "none": the app runs in ring 0 with interrupts masked */
    c->max_run_tsc = bi->protection == IX_PROT_NONE ? 0 : (uint64_t)bi->max_run_ms * bi->tsc_khz;
}

void cpu_early_init(void)
{
    lgdt(early_gdt, sizeof early_gdt - 1);
    idt_init();
    lidt(idt, IDT_VECTORS * sizeof(struct idt_gate) - 1);
}

void cpu_setup_entry_block(struct percpu *c)
{
    struct entry_block *eb = c->eb;
    memset(eb, 0, 0x1000);
    eb->kcr3 = c->kcr3;
    eb->ucr3 = c->ucr3;
    eb->kstack_top = (uint64_t)c->kstack_top;
    eb->percpu = c;
    /* natively an interrupt reaches ring 3 only with IF set; on PVM user mode is always
     * interruptible (measured), so this matters for native hosts */
    eb->app_rflags = c->max_run_tsc ? APP_RFLAGS_IF : APP_RFLAGS;
    eb->gdt[SEL_KCODE / 8] = GDT_KCODE;
    eb->gdt[SEL_KDATA / 8] = GDT_KDATA;
    eb->gdt[SEL_USER32 / 8] = GDT_UCODE32;
    eb->gdt[SEL_UDATA / 8] = GDT_UDATA;
    eb->gdt[SEL_UCODE / 8] = GDT_UCODE;
    uint64_t tss = ENTRY_VA + ENTRY_TSS_OFF;
    uint64_t lim = sizeof(struct tss64) - 1;
    eb->gdt[SEL_TSS / 8] = (lim & 0xffff) | ((tss & 0xffffff) << 16) | (0x89ull << 40) |
                           (((tss >> 24) & 0xff) << 56);
    eb->gdt[SEL_TSS / 8 + 1] = tss >> 32;
    eb->tss.rsp0 = ENTRY_RSP0_TOP;
    eb->tss.iomap_base = sizeof(struct tss64); /* no I/O bitmap: ring 3 has no port access */
}

void cpu_late_init(struct percpu *c)
{
    write_cr3(c->kcr3);
    lgdt((void *)(ENTRY_VA + ENTRY_GDT_OFF), GDT_ENTRIES * 8 - 1);
    ltr(SEL_TSS);
    syscall_msrs();
    if (boundary->cpu_init)
        boundary->cpu_init(c);
}
