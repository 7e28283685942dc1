#include "platform.h"
#include "x86.h"

const struct platform *plat;

/* RDMSR that reports #GP instead of dying: the trap handler finds the faulting RIP in
 * .ex_table and resumes at the fixup label (trap.c). */
static int rdmsr_safe(uint32_t msr, uint64_t *val)
{
    uint32_t lo = 0, hi = 0;
    int ok;
    __asm__ volatile("movl $1, %0\n"
                     "1: rdmsr\n"
                     "jmp 3f\n"
                     "2: movl $0, %0\n"
                     "3:\n"
                     ".pushsection .ex_table, \"a\"\n"
                     ".balign 8\n"
                     ".quad 1b, 2b\n"
                     ".popsection\n"
                     : "=&r"(ok), "+a"(lo), "+d"(hi)
                     : "c"(msr)
                     : "memory");
    *val = ((uint64_t)hi << 32) | lo;
    return ok;
}

void plat_detect(struct percpu *c)
{
    uint64_t sig = 0;
    if (rdmsr_safe(MSR_PVM_SIGNATURE, &sig) && (sig & 0xffffffff) == PVM_SIGNATURE)
        plat = &platform_pvm;
    else
        plat = &platform_native;
    c->status->platform = plat->id;
}
