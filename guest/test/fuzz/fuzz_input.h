/* Shared by the libFuzzer targets: reading a fuzzer's input as a program of small fields
 * (a field past the end reads as zeros, so every input is a valid program), and a check that
 * aborts (libFuzzer then saves the input as a crash). */
#ifndef IX_TEST_FUZZ_INPUT_H
#define IX_TEST_FUZZ_INPUT_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fz_u8(struct fz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fz_u16(struct fz_in *in)
{
    uint16_t lo = fz_u8(in);
    return (uint16_t)(lo | (uint16_t)fz_u8(in) << 8);
}

static inline uint64_t fz_u64(struct fz_in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)fz_u8(in) << (8 * i);
    return v;
}

/* Up to n bytes into out; returns how many there were. */
static inline uint32_t fz_bytes(struct fz_in *in, uint8_t *out, uint32_t n)
{
    if (n > in->n)
        n = (uint32_t)in->n;
    memcpy(out, in->p, n);
    in->p += n;
    in->n -= n;
    return n;
}

#define FZ_CHECK(cond)                                                            \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "FUZZ CHECK FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                              \
        }                                                                         \
    } while (0)

#endif
