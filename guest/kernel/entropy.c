/* Per-boot secrets: hardware randomness where the CPU has it, the host's CSPRNG seed
 * (bootinfo.entropy, from node:crypto) always mixed in. Either source alone is a secret an
 * off-path attacker cannot guess; mixing means a broken or absent RDRAND costs nothing as
 * long as the host's seed is good, and vice versa. The two words are mixed through
 * SipHash-2-4 keyed with the host seed, so the result is uniform whatever the inputs. */
#include "entropy.h"

#include "../net/siphash.h"
#include "percpu.h"

#define CPUID1_ECX_RDRAND (1u << 30)
#define CPUID7_EBX_RDSEED (1u << 18)

/* RDSEED/RDRAND may fail transiently (CF = 0): Intel's guidance is to retry, 10 times for
 * RDRAND; RDSEED can run dry under load, so it gets more tries and RDRAND is the fallback. */
static int rdseed64(uint64_t *v)
{
    for (int i = 0; i < 100; i++) {
        uint8_t ok;
        __asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok)::"cc");
        if (ok)
            return 1;
        __asm__ volatile("pause");
    }
    return 0;
}

static int rdrand64(uint64_t *v)
{
    for (int i = 0; i < 10; i++) {
        uint8_t ok;
        __asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok)::"cc");
        if (ok)
            return 1;
    }
    return 0;
}

const char *entropy_secret(struct percpu *c, uint64_t out[2])
{
    const struct ix_bootinfo *bi = c->bi;
    uint64_t hw[2] = {0, 0};
    const char *src = "none";
    if ((c->cpuid_7_ebx & CPUID7_EBX_RDSEED) && rdseed64(&hw[0]) && rdseed64(&hw[1]))
        src = "rdseed";
    else if ((c->cpuid_1_ecx & CPUID1_ECX_RDRAND) && rdrand64(&hw[0]) && rdrand64(&hw[1]))
        src = "rdrand";
    else
        hw[0] = hw[1] = 0;
    struct siphash_key k = {bi->entropy[0] ^ bi->entropy[2], bi->entropy[1] ^ bi->entropy[3]};
    /* the core's id too: each core gets its own secret from the same seed */
    uint64_t w0[3] = {hw[0], hw[1], 2ull * c->id};
    uint64_t w1[3] = {hw[0], hw[1], 2ull * c->id + 1};
    out[0] = siphash24(&k, w0, 3);
    out[1] = siphash24(&k, w1, 3);
    return src;
}
