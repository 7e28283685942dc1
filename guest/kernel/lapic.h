/* The local APIC, used only to wake an idle core inside the host kernel (bootinfo.wake =
 * IX_WAKE_KERNEL, docs/wake.md). The host gave the VM an in-kernel LAPIC and routes each NIC
 * queue's irqfd as an MSI to its core; the core enables its LAPIC in x2APIC mode (MSR access
 * only), halts with interrupts enabled, and arms its LAPIC timer for the next due timer so
 * that it also wakes without traffic. Each access is a WRMSR the host emulates (2-4 us on
 * PVM), so the halt path makes at most two: arm the timer, EOI the wake-up. */
#ifndef IX_KERNEL_LAPIC_H
#define IX_KERNEL_LAPIC_H
#include <stdint.h>
#include "percpu.h"

/* Enable this CPU's LAPIC if the host asked for in-kernel wake-ups; panics with the reason
 * if the CPU has no x2APIC (the host only asks where it exposed one). */
void lapic_init(struct percpu *c);

/* Fire IX_VECTOR_WAKE_TIMER on this CPU in `us` microseconds (replaces an armed one). */
void lapic_arm_timer(struct percpu *c, uint64_t us);

/* Acknowledge the interrupt being handled (not needed for the spurious vector). */
void lapic_eoi(struct percpu *c);

#endif
