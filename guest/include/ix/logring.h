/* The console log ring: one per CPU, in guest memory, drained by the host.
 *
 * An exit to the host costs 25-38 us on PVM, so console text never causes one: the guest
 * appends bytes and advances `head`; the host reads [tail, head) when it polls and advances
 * `tail`. Single producer (the CPU), single consumer (the host). Indices are free-running
 * 32-bit counters; the data offset is index % size (size is a power of two). When the ring
 * is full, the guest drops the message and counts it in `dropped`.
 */
#ifndef IX_LOGRING_H
#define IX_LOGRING_H

#include <stdint.h>

struct ix_logring {
    volatile uint32_t head;    /* written by the guest */
    uint32_t pad0;
    volatile uint32_t tail;    /* written by the host */
    uint32_t size;             /* bytes of data[], a power of two; set by the host */
    volatile uint64_t dropped; /* bytes the guest could not write */
    uint64_t pad1;
    char data[];
};

#define IX_LOGRING_HDR 32

#endif
