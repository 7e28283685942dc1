#ifndef IX_KERNEL_CPU_H
#define IX_KERNEL_CPU_H
#include "percpu.h"

/* Fill in the fixed per-CPU fields (idempotent). */
void percpu_init(struct percpu *c, unsigned id, struct ix_bootinfo *bi);
/* Emulated phase (PVM) - keep it short: every instruction costs ~1 us until go_native. */
void cpu_early_init(void);
/* Native phase, after the BSP built this CPU's page tables: load them, the entry-block GDT
 * and TSS, and the SYSCALL MSRs. */
void cpu_late_init(struct percpu *c);
/* Fill this CPU's entry block (GDT, TSS, header). */
void cpu_setup_entry_block(struct percpu *c);

/* A 64-bit IDT gate. The kernel uses the first IDT_VECTORS vectors. */
struct idt_gate {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, zero;
};
#define IDT_VECTORS 48
/* Fill vectors 0..IDT_VECTORS-1 of t with gates to handlers[v] (no IST). */
void idt_fill(struct idt_gate *t, const uint64_t *handlers, uint16_t sel, uint8_t type);

extern struct entry_block entry_blocks[IX_MAX_CPUS];
extern uint8_t kernel_stacks[IX_MAX_CPUS][KSTACK_SIZE];
extern uint8_t vif_pages[IX_MAX_CPUS][4096];

#endif
