/* ixev: the event library apps are written against (after IX's ixev; docs/abi.md).
 *
 * The app registers callbacks; ixev_run() loops: one ix_bpoll per iteration carries every
 * call the callbacks queued (accept, send, recv_done, close ...) and brings back events,
 * which ixev turns into callbacks on the connection they belong to.
 *
 * Zero copy both ways:
 *   - recv(ctx, data, len): `data` points into the dataplane's receive buffer, mapped
 *     read-only; it stays valid until the app gives the bytes back with
 *     ixev_recv_done(ctx, n) (in order; this also reopens the TCP window).
 *   - ixev_send(ctx, buf, len): the dataplane transmits straight from `buf`; the app must not
 *     change it until sent(ctx, n) reports those bytes acknowledged. Bytes the stack cannot
 *     take yet wait in the connection's send queue and go out as the window opens: the app
 *     never has to resubmit.
 *
 * Example (an echo server; see guest/apps/echo.c for the whole program):
 *
 *   static struct ixev_ctx *on_accept(uint64_t tuple, uint32_t laddr) { return conn_new(); }
 *   static void on_recv(struct ixev_ctx *c, const void *d, size_t n) { ixev_send(c, d, n); }
 *   static void on_sent(struct ixev_ctx *c, size_t n) { ixev_recv_done(c, n); }
 *   static void on_eof(struct ixev_ctx *c) { ixev_close(c); }
 *   static void on_dead(struct ixev_ctx *c, int reason) { conn_free(c); }
 *   static const struct ixev_ops ops = { .accept = on_accept, .recv = on_recv,
 *                                        .sent = on_sent, .eof = on_eof, .dead = on_dead };
 *   int main(void) { ixev_init(&ops); ixev_listen(7, 128); return ixev_run(); }
 */
#ifndef IX_LIBIX_IXEV_H
#define IX_LIBIX_IXEV_H
#include <stddef.h>
#include <stdint.h>
#include "ix.h"

/* Send pieces queued per connection (a piece leaves the queue when the stack has taken it,
 * not when it is acknowledged). An echo-like app queues one piece per received segment, so
 * this bounds the receive window it can keep in flight: 256 full segments ~ 370 KB. */
#define IXEV_SENDQ 256

struct ixev_ctx {
    uint64_t handle;
    uint64_t tuple;                  /* ix_tuple_pack(remote addr, remote port, local port) */
    uint32_t sq_head, sq_tail;       /* send queue: pieces not yet (fully) taken by the stack */
    struct ix_sg sq[IXEV_SENDQ];
    uint32_t sq_off;                 /* bytes of sq[head] already taken */
    uint32_t sq_slot;                /* batch slot of the posted sendv (while send_posted) */
    uint8_t send_posted;             /* a sendv for this connection is in the current batch */
    uint8_t closing, dead, pad;
    void *user;                      /* the app's */
};

struct ixev_ops {
    /* a connection knocked: return its context (accept) or NULL (reject) */
    struct ixev_ctx *(*accept)(uint64_t tuple, uint32_t laddr);
    void (*connected)(struct ixev_ctx *c, int outcome);
    void (*recv)(struct ixev_ctx *c, const void *data, size_t len);
    void (*sent)(struct ixev_ctx *c, size_t bytes);
    void (*eof)(struct ixev_ctx *c);                  /* the peer closed its side */
    void (*dead)(struct ixev_ctx *c, int reason);     /* last callback of a connection */
    /* UDP: a datagram (give it back with ixev_udp_recv_done) */
    void (*udp_recv)(const void *data, size_t len, uint64_t tuple);
    void (*udp_sent)(uint64_t cookie, int ok);
    void (*timer)(uint64_t cookie);
    /* called once per loop iteration after the events (optional) */
    void (*idle)(void);
};

void ixev_init(const struct ixev_ops *ops);
int ixev_listen(uint16_t port, unsigned backlog);
int ixev_connect(struct ixev_ctx *c, uint32_t raddr, uint16_t rport);
/* Queue bytes to send (zero copy). Returns 0, or -IX_EAGAIN if the send queue is full. */
int ixev_send(struct ixev_ctx *c, const void *buf, size_t len);
void ixev_recv_done(struct ixev_ctx *c, size_t bytes);
void ixev_close(struct ixev_ctx *c);
int ixev_udp_bind(uint16_t port);
int ixev_udp_send(const void *buf, size_t len, uint64_t tuple);
void ixev_udp_recv_done(const void *data);
int ixev_timer(uint64_t cookie, uint64_t delay_us);
/* Run forever (until ixev_stop or a fatal error). Returns the exit status for main. */
int ixev_run(void);
void ixev_stop(int status);

#endif
