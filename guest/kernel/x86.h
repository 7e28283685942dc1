/* Thin wrappers over the x86-64 instructions the kernel uses. On PVM hosts many of these
 * trap to the host and cost 2-4 us each (rdmsr, wrmsr, mov cr3, lgdt ...): they are for boot
 * and rare paths, never per packet. */
#ifndef IX_KERNEL_X86_H
#define IX_KERNEL_X86_H

#include <stdint.h>

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static inline void write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
static inline uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}
static inline uint64_t read_cr2(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline uint64_t read_cr4(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}
static inline void write_cr4(uint64_t v) { __asm__ volatile("mov %0, %%cr4" ::"r"(v) : "memory"); }
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define CPUID7_EBX_SMEP (1u << 7)
#define CPUID7_EBX_SMAP (1u << 20)

static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port) : "memory"); }

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void compiler_barrier(void) { __asm__ volatile("" ::: "memory"); }

struct __attribute__((packed)) dtr {
    uint16_t limit;
    uint64_t base;
};

static inline void lgdt(const void *base, uint16_t limit)
{
    struct dtr d = {limit, (uint64_t)base};
    __asm__ volatile("lgdt %0" ::"m"(d) : "memory");
}
static inline void lidt(const void *base, uint16_t limit)
{
    struct dtr d = {limit, (uint64_t)base};
    __asm__ volatile("lidt %0" ::"m"(d) : "memory");
}
static inline void ltr(uint16_t sel) { __asm__ volatile("ltr %0" ::"r"(sel) : "memory"); }

#define MSR_EFER 0xc0000080u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_SFMASK 0xc0000084u

#endif
