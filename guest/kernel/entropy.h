/* Per-boot secrets for the network stack (RFC 6528 ISNs, SYN cookies). */
#ifndef IX_KERNEL_ENTROPY_H
#define IX_KERNEL_ENTROPY_H

#include <stdint.h>

struct percpu;

/* 128 bits of secret for this core: RDSEED, else RDRAND (CPUID says which the CPU has),
 * mixed with the host's per-boot seed (bootinfo.entropy); the host's seed alone on a CPU
 * with neither. Returns a short name of the hardware source used ("rdseed", "rdrand",
 * "none"). */
const char *entropy_secret(struct percpu *c, uint64_t out[2]);

#endif
