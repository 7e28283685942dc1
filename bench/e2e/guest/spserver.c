/* spserver: a sockperf-protocol TCP server for the dataplane (ring-3 ix app), so that the
 * unmodified sockperf client can measure the dataplane exactly as it measures Linux's
 * `sockperf server`.
 *
 * Why not the plain echo app: a sockperf message starts with a 14-byte header (sequence
 * number u64, flags u16, length u32, network order; length counts the whole message) and the
 * client ignores every reply whose CLIENT flag (bit 0 of flags) is still set, so a byte-exact
 * echo is never counted. A sockperf server therefore answers each complete message that asks
 * for a reply (PONG flag) with the same bytes, CLIENT flag cleared, and answers nothing to
 * warm-up messages. That is all this app does; the rest is the echo app's zero-copy-receive
 * shape, except that the reply is copied into a per-connection transmit ring (received bytes
 * are mapped read-only, so the flag cannot be cleared in place).
 *
 *   args: [port]   (default 11111, sockperf's)
 */
#include <ix.h>
#include <ixev.h>

#define MAX_CONNS 1024
#define HDR 14
#define MAX_MSG 4096   /* larger messages are refused: the bench sends 64 B */
#define TX_RING 16384  /* replies sent but not yet acknowledged */

#define F_CLIENT 1u
#define F_PONG 2u
#define F_WARMUP 4u

struct conn {
    struct ixev_ctx ctx;        /* first: the ixev context is the connection */
    struct conn *next_free;
    uint32_t have;              /* bytes of a partial message in asm[] */
    uint32_t tx_head, tx_tail;  /* tx ring: [head, tail) sent and not yet acknowledged */
    uint8_t asm_[MAX_MSG];
    uint8_t tx[TX_RING];
};

static struct conn *free_list;

static struct ixev_ctx *on_accept(uint64_t tuple, uint32_t laddr)
{
    (void)tuple;
    (void)laddr;
    struct conn *c = free_list;
    if (!c)
        return 0;
    free_list = c->next_free;
    c->have = 0;
    c->tx_head = c->tx_tail = 0;
    return &c->ctx;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Queue one reply: copy the message into the tx ring with the CLIENT flag cleared and send it
 * from there (two pieces when it wraps: TCP does not care). Returns 0, or -1 if the ring is
 * full (the client does not read its replies). TX_RING is a power of two, so the free-running
 * u32 counters stay consistent across their own wrap. */
static int reply(struct conn *c, const uint8_t *msg, uint32_t len)
{
    if (len > TX_RING - (c->tx_tail - c->tx_head))
        return -1;
    uint32_t pos = c->tx_tail % TX_RING;
    uint32_t first = len < TX_RING - pos ? len : TX_RING - pos;
    __builtin_memcpy(c->tx + pos, msg, first);
    __builtin_memcpy(c->tx, msg + first, len - first);
    c->tx[(pos + 9) % TX_RING] &= (uint8_t)~F_CLIENT; /* flags: big-endian u16 at offset 8 */
    c->tx_tail += len;
    if (ixev_send(&c->ctx, c->tx + pos, first))
        return -1;
    if (len > first && ixev_send(&c->ctx, c->tx, len - first))
        return -1;
    return 0;
}

/* Handle one complete message; returns -1 to drop the connection. */
static int message(struct conn *c, const uint8_t *msg, uint32_t len)
{
    uint32_t flags = (uint32_t)msg[8] << 8 | msg[9];
    if (!(flags & F_CLIENT) || (flags & F_WARMUP) || !(flags & F_PONG))
        return 0; /* what sockperf's server ignores */
    return reply(c, msg, len);
}

static void on_recv(struct ixev_ctx *ctx, const void *data, size_t len)
{
    struct conn *c = (struct conn *)ctx;
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        /* fast path: a whole message at the start of the piece and nothing assembled */
        if (c->have == 0 && left >= HDR) {
            uint32_t mlen = be32(p + 10);
            if (mlen < HDR || mlen > MAX_MSG)
                goto bad;
            if (left >= mlen) {
                if (message(c, p, mlen))
                    goto bad;
                p += mlen;
                left -= mlen;
                continue;
            }
        }
        /* slow path: assemble a message split across pieces */
        uint32_t need = HDR;
        if (c->have >= HDR) {
            need = be32(c->asm_ + 10);
            if (need < HDR || need > MAX_MSG)
                goto bad;
        }
        uint32_t take = need - c->have;
        if (take > left)
            take = (uint32_t)left;
        __builtin_memcpy(c->asm_ + c->have, p, take);
        c->have += take;
        p += take;
        left -= take;
        if (c->have >= HDR && c->have == be32(c->asm_ + 10)) {
            if (be32(c->asm_ + 10) < HDR || message(c, c->asm_, c->have))
                goto bad;
            c->have = 0;
        }
    }
    ixev_recv_done(ctx, len); /* every byte is consumed or copied: the buffer can go */
    return;
bad:
    ixev_recv_done(ctx, len);
    ixev_close(ctx);
}

static void on_sent(struct ixev_ctx *ctx, size_t bytes)
{
    struct conn *c = (struct conn *)ctx;
    c->tx_head += (uint32_t)bytes;
}

static void on_eof(struct ixev_ctx *c) { ixev_close(c); }

static void on_dead(struct ixev_ctx *ctx, int reason)
{
    (void)reason;
    struct conn *c = (struct conn *)ctx;
    c->next_free = free_list;
    free_list = c;
}

static const struct ixev_ops ops = {
    .accept = on_accept,
    .recv = on_recv,
    .sent = on_sent,
    .eof = on_eof,
    .dead = on_dead,
};

int main(int argc, char **argv)
{
    const struct ix_app_info *info = ix_info();
    unsigned port = 11111;
    if (argc > 1) {
        port = 0;
        for (const char *s = argv[1]; *s; s++) {
            if (*s < '0' || *s > '9' || port > 65535) {
                ix_printf("spserver: bad port '%s'", argv[1]);
                return 2;
            }
            port = port * 10 + (unsigned)(*s - '0');
        }
    }
    if (port == 0 || port > 65535) {
        ix_printf("spserver: bad port '%s'", argv[1]);
        return 2;
    }
    uint64_t max = info->heap_size / sizeof(struct conn);
    if (max > MAX_CONNS)
        max = MAX_CONNS;
    if (max == 0) {
        ix_printf("spserver: heap of %lu bytes holds no connection; raise app.heap", (unsigned long)info->heap_size);
        return 2;
    }
    struct conn *conns = (struct conn *)info->heap;
    for (int i = (int)max - 1; i >= 0; i--) {
        conns[i].next_free = free_list;
        free_list = &conns[i];
    }
    ixev_init(&ops);
    int e = ixev_listen((uint16_t)port, 128);
    if (e) {
        ix_printf("spserver: cannot listen on port %u (%d)", port, e);
        return 1;
    }
    if (info->cpu == 0)
        ix_printf("spserver: serving the sockperf protocol on TCP port %u on %u cores", port, info->ncpus);
    return ixev_run();
}
