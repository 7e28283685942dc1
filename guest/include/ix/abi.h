/* The batched system call ABI between ring-3 apps and the dataplane (docs/abi.md).
 *
 * One trap, ix_bpoll(calls, n): the app hands an array of 40-byte calls; the kernel
 * executes them in order, writes each call's outcome back into its own slot (err, ret),
 * runs its loop once and fills the event array, which the app maps read-only.
 *
 * This header is shared by the kernel, libix, the network stack and (mirrored) the host.
 * Layouts are fixed: no pointers-sized fields other than u64, no implicit padding.
 */
#ifndef IX_ABI_H
#define IX_ABI_H

#include <stdint.h>

/* ---- calls ----------------------------------------------------------------------- */

struct ix_call {
    uint16_t op;     /* IX_OP_* */
    uint16_t flags;  /* reserved, must be 0 */
    int32_t err;     /* out: 0 or a negative IX_E* code for this call alone */
    uint64_t a0;     /* in: arguments, meaning per op */
    uint64_t a1;
    uint64_t a2;
    uint64_t ret;    /* out: value (handle, byte count, cpu id ...) */
};
_Static_assert(sizeof(struct ix_call) == 40, "ix_call is 40 bytes");

enum ix_op {
    IX_OP_NOP = 0,          /* no arguments; ret = 0 */
    IX_OP_GETCPU = 1,       /* ret = dataplane core id of the caller */
    IX_OP_LOG = 2,          /* a0 = app address of text, a1 = length (<= IX_LOG_MAX) */
    IX_OP_EXIT = 3,         /* a0 = exit status; the app stops on this core after the batch */

    /* network calls (the stack) */
    IX_OP_TCP_LISTEN = 16,  /* a0 = local port, a1 = backlog; ret = 0 */
    IX_OP_TCP_CONNECT = 17, /* a0 = cookie, a1 = remote IPv4 (host order), a2 = remote port; ret = handle */
    IX_OP_TCP_ACCEPT = 18,  /* a0 = handle from a knock, a1 = cookie */
    IX_OP_TCP_REJECT = 19,  /* a0 = handle from a knock */
    IX_OP_TCP_SENDV = 20,   /* a0 = handle, a1 = app address of struct ix_sg[], a2 = count; ret = bytes taken */
    IX_OP_TCP_RECV_DONE = 21, /* a0 = handle, a1 = bytes consumed */
    IX_OP_TCP_CLOSE = 22,   /* a0 = handle */
    IX_OP_UDP_BIND = 32,    /* a0 = local port */
    IX_OP_UDP_SEND = 33,    /* a0 = app address, a1 = length, a2 = ix_tuple_pack(remote) | local port */
    IX_OP_UDP_SENDV = 34,   /* a0 = app address of struct ix_sg[], a1 = count, a2 = as UDP_SEND */
    IX_OP_UDP_RECV_DONE = 35, /* a0 = the address given in the udp_recv event */
    IX_OP_TIMER_ARM = 48,   /* a0 = cookie, a1 = delay in microseconds; ret = timer handle */
    IX_OP_TIMER_CANCEL = 49,/* a0 = timer handle */
};

/* Scatter-gather entry for sendv: memory stays owned by the app, which must not change it
 * until the matching tcp_sent / udp_sent event. */
struct ix_sg {
    uint64_t base;
    uint64_t len;
};
_Static_assert(sizeof(struct ix_sg) == 16, "ix_sg is 16 bytes");

/* OR'ed into ix_bpoll's count: run the calls only; leave the event array alone (events
 * are kept for the next ordinary ix_bpoll). For a library that must flush a full call
 * array while it is still reading the events of the last round. */
#define IX_BPOLL_NO_EVENTS (1ull << 63)

/* OR'ed into ix_bpoll's count: run the calls, then return only with at least one event, as
 * a bpoll without calls does (poll, then halt until a frame or a timer). For an app whose
 * calls start work it must wait for anyway (a reply sent, a buffer released): without it a
 * request costs two traps, one that sends and returns at once with no event, and one that
 * waits. Ignored together with IX_BPOLL_NO_EVENTS. */
#define IX_BPOLL_WAIT (1ull << 62)

/* SYSCALL with %rax = 0 is ix_bpoll (libix clears it). %rax = IX_SYSCALL_EVENT_REPORT is
 * reserved for the kernel's own user-level event stubs under protection "pvm-host-switch"
 * (docs/protection.md): %rdi points at the frame they saved on the app's stack. The kernel
 * treats it as a claim by the app; an app that makes one itself gains nothing. */
#define IX_SYSCALL_EVENT_REPORT 0x45

#define IX_SG_MAX 32       /* entries per sendv */
#define IX_LOG_MAX 512     /* bytes per log call */
#define IX_BATCH_MAX 1024  /* calls per bpoll */

/* Error codes (negated in ix_call.err). */
enum ix_err {
    IX_OK = 0,
    IX_EINVAL = 1,    /* bad argument (length, count, flags) */
    IX_EFAULT = 2,    /* a pointer outside the app's memory */
    IX_EBADH = 3,     /* unknown or stale handle */
    IX_ENOSYS = 4,    /* unknown op */
    IX_ENOMEM = 5,    /* pool exhausted */
    IX_EAGAIN = 6,    /* try again after the next events (window full, queue full) */
    IX_ECONNREFUSED = 7,
    IX_ECONNRESET = 8,
    IX_ETIMEDOUT = 9,
    IX_EADDRINUSE = 10,
    IX_ENOTCONN = 11,
    IX_EHOSTUNREACH = 12,
    IX_EMOVED = 13,   /* IX_EV_TCP_DEAD: the connection moved to another core with its flow
                       * group (elastic cores); the peer saw nothing, the handle is gone here */
};

/* ---- events ---------------------------------------------------------------------- */

struct ix_event {
    uint32_t type;   /* IX_EV_* */
    uint32_t flags;  /* reserved, 0 */
    uint64_t cookie; /* the app's cookie for the connection or timer (0 for knock, udp_recv) */
    uint64_t a0;
    uint64_t a1;
    uint64_t a2;
};
_Static_assert(sizeof(struct ix_event) == 40, "ix_event is 40 bytes");

enum ix_event_type {
    IX_EV_NONE = 0,
    IX_EV_TCP_KNOCK = 1,     /* a0 = handle, a1 = ix_tuple_pack(remote addr, remote port, local port), a2 = local addr */
    IX_EV_TCP_CONNECTED = 2, /* cookie, a0 = handle, a1 = outcome (0 or an IX_E* code) */
    IX_EV_TCP_RECV = 3,      /* cookie, a0 = address of the payload (read-only), a1 = length, a2 = handle */
    IX_EV_TCP_SENT = 4,      /* cookie, a0 = bytes newly acknowledged, a1 = send window now free */
    IX_EV_TCP_DEAD = 5,      /* cookie, a0 = reason (IX_E* code; 0 = closed normally) */
    IX_EV_UDP_RECV = 6,      /* a0 = address of the payload (read-only), a1 = length, a2 = ix_tuple_pack(...) */
    IX_EV_UDP_SENT = 7,      /* cookie = the send's app address, a0 = 1 */
    IX_EV_TIMER = 8,         /* cookie */
};

/* A remote endpoint and a local port in one u64: addr (host order) in bits 0-31,
 * remote port in 32-47, local port in 48-63. */
static inline uint64_t ix_tuple_pack(uint32_t raddr, uint16_t rport, uint16_t lport)
{
    return (uint64_t)raddr | ((uint64_t)rport << 32) | ((uint64_t)lport << 48);
}
static inline uint32_t ix_tuple_raddr(uint64_t t) { return (uint32_t)t; }
static inline uint16_t ix_tuple_rport(uint64_t t) { return (uint16_t)(t >> 32); }
static inline uint16_t ix_tuple_lport(uint64_t t) { return (uint16_t)(t >> 48); }

#endif
