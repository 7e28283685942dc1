/* x2APIC set-up, timer and EOI for in-kernel wake-ups (lapic.h). */
#include "lapic.h"
#include "console.h"
#include "x86.h"

#define MSR_APIC_BASE 0x1bu
#define APIC_BASE_EN (1ull << 11)
#define APIC_BASE_EXTD (1ull << 10) /* x2APIC mode */
#define MSR_X2APIC_EOI 0x80bu
#define MSR_X2APIC_SVR 0x80fu
#define MSR_X2APIC_LVT_TIMER 0x832u
#define MSR_X2APIC_TMICT 0x838u
#define MSR_X2APIC_TDCR 0x83eu
#define MSR_TSC_DEADLINE 0x6e0u
#define SVR_ENABLE (1u << 8)
#define LVT_TSC_DEADLINE (2u << 17)
#define TDCR_DIV1 0xbu
#define CPUID1_ECX_X2APIC (1u << 21)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)
/* KVM's LAPIC counts its one-shot timer at 1 GHz (one bus cycle per ns) */
#define LAPIC_ONESHOT_PER_US 1000u

void lapic_init(struct percpu *c)
{
    if (c->bi->wake != IX_WAKE_KERNEL)
        return;
    if (!(c->cpuid_1_ecx & CPUID1_ECX_X2APIC))
        panic_on(c, "the host asked for in-kernel wake-ups but this CPU has no x2APIC (CPUID.1:ECX bit 21); "
                    "set `wake = \"user\"` in the config");
    uint64_t base = rdmsr(MSR_APIC_BASE);
    wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD);
    wrmsr(MSR_X2APIC_SVR, SVR_ENABLE | IX_VECTOR_SPURIOUS);
    c->lapic_deadline = (c->cpuid_1_ecx & CPUID1_ECX_TSC_DEADLINE) != 0;
    if (c->lapic_deadline) {
        wrmsr(MSR_X2APIC_LVT_TIMER, LVT_TSC_DEADLINE | IX_VECTOR_WAKE_TIMER);
    } else {
        wrmsr(MSR_X2APIC_TDCR, TDCR_DIV1);
        wrmsr(MSR_X2APIC_LVT_TIMER, IX_VECTOR_WAKE_TIMER); /* one-shot */
    }
    c->lapic = 1;
    kprintf("cpu%u: wakes in the host kernel: x2APIC on, %s LAPIC timer\n", c->id, c->lapic_deadline ? "TSC-deadline" : "one-shot");
}

void lapic_arm_timer(struct percpu *c, uint64_t us)
{
    if (c->lapic_deadline) {
        wrmsr(MSR_TSC_DEADLINE, rdtsc() + us * c->bi->tsc_khz / 1000);
    } else {
        uint64_t n = us * LAPIC_ONESHOT_PER_US;
        wrmsr(MSR_X2APIC_TMICT, n > 0xffffffffu ? 0xffffffffu : n);
    }
}

void lapic_eoi(struct percpu *c)
{
    (void)c;
    wrmsr(MSR_X2APIC_EOI, 0);
}
