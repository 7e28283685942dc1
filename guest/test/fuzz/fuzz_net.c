/* libFuzzer target (a): frames into net_input with a live TCP state machine behind them.
 *
 * Every input starts from a fresh stack (tl_new, the unit tests' host harness) on which a
 * scripted peer has set up a listener, a bound UDP port and eight connections in different
 * states: ESTABLISHED (idle; with data both ways in flight), CLOSE_WAIT, FIN_WAIT_1,
 * FIN_WAIT_2, LAST_ACK, SYN_RCVD and an active SYN_SENT. The input is then a program of
 * records, so the fuzzer spends its bytes on what matters instead of on checksums:
 *   raw frame        any bytes (optionally with the IP header checksum fixed)
 *   TCP segment      to connection i (or a new port): flags, seq/ack as offsets from what
 *                    the connection expects, window, options, payload; checksums computed
 *   clock            advance the fake clock and run the timers
 *   app              close / send / connect / listen from the app's side
 *   tx full          the NIC's queue refuses frames for a while
 * Sanitizers catch memory errors; the app checks payload events stay inside the pool and
 * cookies are ours; at the end every handle is closed, timers drained, and no connection or
 * mbuf may be left. Deterministic: a crash input replays (no state survives an input). */
#include <sanitizer/asan_interface.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../net/tcp_testlib.h"
#include "../../net/csum.h"
#include "../../net/udp.h"
#include "../../net/arp.h"
#include "../../net/tcp.h"
#include "../../net/wire/eth.h"
#include "../../net/wire/ipv4.h"
#include "fuzz_input.h"

#define NCONN 8
#define LPORT 80
#define PPORT0 40000
#define CONNECT_PORT 5555

struct conn {
    uint16_t pport, lport;   /* the peer's port, the stack's port (0: not known yet) */
    uint32_t peer_nxt;       /* next sequence number the peer sends */
    uint32_t stack_nxt;      /* what the peer acknowledges: the stack's seq + len seen */
    uint64_t handle;         /* the app's handle, 0 when it has none */
    int seen;                /* a segment of the stack's was seen */
};

static struct conn conns[NCONN];
static unsigned tx_cursor;
static uint8_t send_buf[8192];
static int reject_next;

static struct conn *conn_by_ports(uint16_t pport, uint16_t lport)
{
    for (int i = 0; i < NCONN; i++)
        if (conns[i].pport == pport && (conns[i].lport == lport || conns[i].lport == 0))
            return &conns[i];
    return NULL;
}

/* Learn from what the stack sent: sequence numbers (and the active open's port). */
static void note_tx(struct tl *t)
{
    struct tt_seg s;
    if (t->ntx - tx_cursor > TL_TX_MAX)
        tx_cursor = t->ntx - TL_TX_MAX;
    for (; tx_cursor < t->ntx; tx_cursor++) {
        if (!tt_seg_at(t, tx_cursor, &s))
            continue;
        struct conn *k = conn_by_ports(s.dport, s.sport);
        if (!k)
            continue;
        k->lport = s.sport;
        uint32_t end = s.seq + s.plen + ((s.flags & (TCP_SYN | TCP_FIN)) ? 1 : 0);
        if (!k->seen || (int32_t)(end - k->stack_nxt) > 0)
            k->stack_nxt = end;
        k->seen = 1;
        if ((s.flags & TCP_SYN) && !(s.flags & TCP_ACK) && k->pport == CONNECT_PORT)
            k->peer_nxt = 777000; /* the peer's ISS when it answers the active open */
    }
}

static struct conn *conn_by_cookie(uint64_t cookie)
{
    return cookie >= 1 && cookie <= NCONN ? &conns[cookie - 1] : NULL;
}

/* The app: accepts knocks (cookie = connection index + 1), gives every payload back, keeps
 * track of handles. */
static void app(struct tl *t)
{
    struct net_core *c = &t->c;
    for (uint32_t i = 0; i < c->ev_len; i++) {
        struct ix_event e = t->ev[i];
        switch (e.type) {
        case IX_EV_TCP_KNOCK: {
            struct conn *k = conn_by_ports(ix_tuple_rport(e.a1), ix_tuple_lport(e.a1));
            if (!k || k->handle || reject_next) {
                FZ_CHECK(tcp_reject(c, e.a0) == 0);
                break;
            }
            FZ_CHECK(tcp_accept(c, e.a0, (uint64_t)(k - conns) + 1) == 0);
            k->handle = e.a0;
            break;
        }
        case IX_EV_TCP_CONNECTED: {
            struct conn *k = conn_by_cookie(e.cookie);
            FZ_CHECK(k != NULL);
            if (k && e.a1 == 0)
                k->handle = e.a0;
            break;
        }
        case IX_EV_TCP_RECV:
            FZ_CHECK(conn_by_cookie(e.cookie) != NULL);
            /* zero copy: the payload lies in the RX pool */
            FZ_CHECK(e.a1 == 0 || mbuf_from_addr(&t->pool, (uintptr_t)e.a0) != NULL);
            if (e.a1 > 0)
                FZ_CHECK(tcp_recv_done(c, e.a2, (uint32_t)e.a1) == 0);
            break;
        case IX_EV_TCP_SENT:
            FZ_CHECK(conn_by_cookie(e.cookie) != NULL);
            break;
        case IX_EV_TCP_DEAD: {
            struct conn *k = conn_by_cookie(e.cookie);
            FZ_CHECK(k != NULL);
            if (k)
                k->handle = 0;
            break;
        }
        case IX_EV_UDP_RECV:
            FZ_CHECK(udp_recv_done(c, (uintptr_t)e.a0) == 0);
            break;
        default:
            break;
        }
    }
}

static void after(struct tl *t)
{
    app(t);
    note_tx(t);
    tl_events_reset(t);
}

/* A segment from the peer on connection k, at the numbers it expects, plus offsets. */
static void seg(struct tl *t, struct conn *k, uint8_t flags, int32_t dseq, int32_t dack, uint16_t win,
                const uint8_t *opt, uint32_t optlen, const void *pl, uint32_t plen)
{
    tt_send(t, k->pport, k->lport ? k->lport : LPORT, k->peer_nxt + (uint32_t)dseq,
            (flags & TCP_ACK) ? k->stack_nxt + (uint32_t)dack : 0, flags, win, pl, plen, opt, optlen);
    if (dseq == 0)
        k->peer_nxt += plen + ((flags & (TCP_SYN | TCP_FIN)) ? 1 : 0);
    after(t);
}

static void handshake(struct tl *t, struct conn *k, int complete)
{
    uint8_t o[40];
    seg(t, k, TCP_SYN, 0, 0, 65535, o, tt_syn_opts(o, 100, 0), NULL, 0);
    if (complete) {
        uint8_t ts[12];
        tcp_put_opt_ts(ts, 101, 0);
        seg(t, k, TCP_ACK, 0, 0, 1024, ts, 12, NULL, 0);
    }
}

static void app_send(struct tl *t, struct conn *k, uint32_t n)
{
    if (!k->handle || n == 0)
        return;
    struct net_iov iov = {send_buf, n > sizeof(send_buf) ? (uint32_t)sizeof(send_buf) : n};
    int64_t r = tcp_sendv(&t->c, k->handle, &iov, 1);
    FZ_CHECK(r >= 0 || r == -IX_EAGAIN || r == -IX_EBADH || r == -IX_EINVAL || r == -IX_ENOTCONN);
    after(t);
}

static void app_close(struct tl *t, struct conn *k)
{
    if (!k->handle)
        return;
    (void)tcp_close(&t->c, k->handle);
    after(t);
}

static struct tl *setup(void)
{
    memset(conns, 0, sizeof conns);
    tl_now_us = 1000000;
    reject_next = 0;
    struct tl *t = tt_new();
    tx_cursor = t->ntx;
    /* Short timeouts: the timer wheel runs every 100 us tick of fake time, so minutes of
     * TIME_WAIT and backed-off retransmissions per input would cost more than the input
     * itself; short ones also let inputs reach every give-up path. */
    struct tcp_tunables tu;
    tcp_get_tunables(&t->c, &tu);
    tu.msl_us = 200000;
    tu.fin_wait2_us = 1000000;
    tu.rto_max_us = 1000000;
    tu.syn_retries = 3;
    tu.max_retries = 4;
    tcp_set_tunables(&t->c, &tu);
    FZ_CHECK(tcp_listen(&t->c, LPORT, 16) == 0);
    FZ_CHECK(udp_bind(&t->c, 7) == 0);
    for (int i = 0; i < NCONN; i++) {
        conns[i].pport = (uint16_t)(PPORT0 + i);
        conns[i].peer_nxt = 1000000u * (uint32_t)(i + 1);
    }
    /* 0: ESTABLISHED, idle */
    handshake(t, &conns[0], 1);
    /* 1: ESTABLISHED, data both ways in flight (the app's unacknowledged) */
    handshake(t, &conns[1], 1);
    seg(t, &conns[1], TCP_ACK | TCP_PSH, 0, 0, 1024, NULL, 0, "get k\r\n", 7);
    app_send(t, &conns[1], 5000);
    /* 2: CLOSE_WAIT */
    handshake(t, &conns[2], 1);
    seg(t, &conns[2], TCP_ACK | TCP_FIN, 0, 0, 1024, NULL, 0, NULL, 0);
    /* 3: FIN_WAIT_1 */
    handshake(t, &conns[3], 1);
    app_close(t, &conns[3]);
    /* 4: FIN_WAIT_2 */
    handshake(t, &conns[4], 1);
    app_close(t, &conns[4]);
    seg(t, &conns[4], TCP_ACK, 0, 0, 1024, NULL, 0, NULL, 0);
    /* 5: LAST_ACK */
    handshake(t, &conns[5], 1);
    seg(t, &conns[5], TCP_ACK | TCP_FIN, 0, 0, 1024, NULL, 0, NULL, 0);
    app_close(t, &conns[5]);
    /* 6: SYN_RCVD */
    handshake(t, &conns[6], 0);
    /* 7: SYN_SENT (active open) */
    conns[7].pport = CONNECT_PORT;
    int64_t h = tcp_connect(&t->c, 8, TL_PEER, CONNECT_PORT);
    FZ_CHECK(h > 0);
    after(t);
    return t;
}

/* The set-up stack, kept once and put back before each input (a fresh tl_new per input spent
 * most of the time faulting in 5 MB of new pages). The stack keeps all its state in struct tl,
 * the mbuf pool and its memory block (no globals), and the copies go back to the same
 * addresses, so the pointers inside stay valid. Only what an input can have changed is put
 * back (copying all 5 MB per input was half the run time):
 *   struct tl      all but the TX capture ring, and of the ring the slots written since
 *   memory block   the part net_init carved (tables, connections, slices: ~200 KB of 4 MB);
 *                  the rest is poisoned for ASan, so any access to it is a crash
 *   mbuf pool      the chunks in use in the snapshot and every chunk mbuf_alloc handed out
 *                  during the input (mbuf_alloc is wrapped at link time, see the Makefile);
 *                  a chunk that was never allocated is never written (a write to a free
 *                  chunk would be a use-after-free in the stack)
 * Every RESTORE_VERIFY_EVERY inputs the whole of it is compared with the snapshot, so a
 * restore that misses a change fails loudly instead of leaking state between inputs. */
#define POOL_BYTES ((size_t)TL_POOL_MBUFS * MBUF_SIZE + 64)
#define RESTORE_VERIFY_EVERY 256
static struct {
    struct tl *t;
    struct tl tl;
    uint8_t *pool, *mem;
    size_t mem_used;
    struct conn conns[NCONN];
    unsigned tx_cursor;
    uint64_t now;
    uint16_t held[TL_POOL_MBUFS]; /* chunks in use in the snapshot */
    unsigned nheld;
    unsigned long inputs;
} snap;

/* Chunks handed out since the last restore (each once). */
static uint16_t touched[TL_POOL_MBUFS];
static unsigned ntouched;
static uint8_t touched_mark[TL_POOL_MBUFS];

struct mbuf *__real_mbuf_alloc(struct mbuf_pool *p);
struct mbuf *__wrap_mbuf_alloc(struct mbuf_pool *p)
{
    struct mbuf *m = __real_mbuf_alloc(p);
    if (m && snap.t && p == &snap.t->pool) {
        size_t i = (size_t)((uint8_t *)m - p->base) / MBUF_SIZE;
        FZ_CHECK(i < TL_POOL_MBUFS);
        if (!touched_mark[i]) {
            touched_mark[i] = 1;
            touched[ntouched++] = (uint16_t)i;
        }
    }
    return m;
}

static void restore_chunk(struct tl *t, size_t i)
{
    size_t off = (size_t)(t->pool.base - (uint8_t *)t->pool_mem) + i * MBUF_SIZE;
    memcpy((uint8_t *)t->pool_mem + off, snap.pool + off, MBUF_SIZE);
}

static void verify_restore(const struct tl *t)
{
    int tl_ok = memcmp(t, &snap.tl, offsetof(struct tl, tx)) == 0 &&
                memcmp(&t->ntx, &snap.tl.ntx, sizeof *t - offsetof(struct tl, ntx)) == 0;
    int pool_ok = memcmp(t->pool_mem, snap.pool, POOL_BYTES) == 0;
    int mem_ok = memcmp(t->mem, snap.mem, snap.mem_used) == 0;
    if (!tl_ok || !pool_ok || !mem_ok)
        fprintf(stderr, "fuzz_net: after the restore the state differs from the snapshot (%s): an "
                        "input changed something start() does not put back (a write to an mbuf "
                        "that was not allocated? a new field outside struct tl's copied part?)\n",
                !tl_ok ? "struct tl" : !pool_ok ? "mbuf pool" : "memory block");
    FZ_CHECK(tl_ok && pool_ok && mem_ok);
}

static struct tl *start(void)
{
    if (!snap.t) {
        struct tl *t = setup();
        snap.pool = malloc(POOL_BYTES);
        /* what net_init carved out of the block: its own part, then TCP's from a 64-byte
         * aligned start (as tcp_core_init lays it out) */
        snap.mem_used = (net_core_mem_base() + 64 + tcp_core_mem_size(64) + 4095) & ~(size_t)4095;
        FZ_CHECK(snap.mem_used <= TL_MEM);
        snap.mem = malloc(snap.mem_used);
        FZ_CHECK(snap.pool && snap.mem);
        snap.tl = *t;
        memcpy(snap.pool, t->pool_mem, POOL_BYTES);
        memcpy(snap.mem, t->mem, snap.mem_used);
        ASAN_POISON_MEMORY_REGION((uint8_t *)t->mem + snap.mem_used, TL_MEM - snap.mem_used);
        for (size_t i = 0; i < TL_POOL_MBUFS; i++) {
            const struct mbuf *m = (const struct mbuf *)(t->pool.base + i * MBUF_SIZE);
            if (m->flags & MBUF_F_INUSE)
                snap.held[snap.nheld++] = (uint16_t)i;
        }
        memcpy(snap.conns, conns, sizeof conns);
        snap.tx_cursor = tx_cursor;
        snap.now = tl_now_us;
        ntouched = 0;
        memset(touched_mark, 0, sizeof touched_mark);
        snap.t = t;
        return t;
    }
    struct tl *t = snap.t;
    /* the TX slots written since the snapshot (the ring keeps the last TL_TX_MAX) */
    unsigned written = t->ntx - snap.tl.ntx;
    for (unsigned i = 0; i < written && i < TL_TX_MAX; i++) {
        unsigned s = (snap.tl.ntx + i) % TL_TX_MAX;
        memcpy(&t->tx[s], &snap.tl.tx[s], sizeof t->tx[s]);
    }
    memcpy(t, &snap.tl, offsetof(struct tl, tx));
    memcpy(&t->ntx, &snap.tl.ntx, sizeof *t - offsetof(struct tl, ntx));
    memcpy(t->mem, snap.mem, snap.mem_used);
    for (unsigned i = 0; i < snap.nheld; i++)
        restore_chunk(t, snap.held[i]);
    for (unsigned i = 0; i < ntouched; i++) {
        restore_chunk(t, touched[i]);
        touched_mark[touched[i]] = 0;
    }
    ntouched = 0;
    if (++snap.inputs % RESTORE_VERIFY_EVERY == 0)
        verify_restore(t);
    memcpy(conns, snap.conns, sizeof conns);
    tx_cursor = snap.tx_cursor;
    tl_now_us = snap.now;
    reject_next = 0;
    return t;
}

static void teardown(struct tl *t)
{
    t->tx_full = 0;
    for (int i = 0; i < NCONN; i++)
        app_close(t, &conns[i]);
    /* then the peer resets each connection at the numbers it expects (the stack's
     * retransmissions would otherwise back off for many minutes of fake time, and running
     * the timer wheel through them costs more than the input itself) */
    for (int i = 0; i < NCONN; i++)
        if (conns[i].seen)
            seg(t, &conns[i], TCP_RST | TCP_ACK, 0, 0, 0, NULL, 0, NULL, 0);
    for (int i = 0; i < 1000 && tcp_conns_in_use(&t->c) > 0; i++) {
        tl_now_us += 100000;
        net_poll_timers(&t->c);
        after(t);
    }
    FZ_CHECK(tcp_conns_in_use(&t->c) == 0);
    for (int i = 0; i < NCONN; i++)
        FZ_CHECK(conns[i].handle == 0);
    /* what tl_free checks, without freeing: no mbuf left in use, none freed twice */
    tl_tx_release(t);
    arp_flush(&t->c);
    for (int i = 0; i < 1000 && udp_deferred(&t->c) > 0; i++)
        tl_events_reset(t);
    FZ_CHECK(mbuf_pool_in_use(&t->pool) == 0);
    FZ_CHECK(t->pool.double_frees == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tl *t = start();
    struct fz_in in = {data, size};
    uint8_t f[1600], o[40];
    for (int steps = 0; steps < 200 && in.n > 0; steps++) {
        uint8_t op = fz_u8(&in);
        struct conn *k = &conns[(op >> 4) % NCONN];
        switch (op & 7) {
        case 0: { /* raw frame */
            uint32_t len = fz_u16(&in) % sizeof f;
            len = fz_bytes(&in, f, len);
            if (op & 8)
                tl_fix_ip_csum(f, len);
            tl_inject(t, f, len);
            after(t);
            break;
        }
        case 1: case 2: { /* TCP segment on connection k */
            uint8_t flags = fz_u8(&in);
            int32_t dseq = (int16_t)fz_u16(&in), dack = (int16_t)fz_u16(&in);
            if (op & 8)
                dseq = dack = 0; /* in sequence: moves the state along */
            uint16_t win = fz_u16(&in);
            uint32_t optlen = (fz_u8(&in) % 11) * 4;
            memset(o, 1, sizeof o);
            fz_bytes(&in, o, optlen);
            uint32_t plen = fz_u16(&in) % 1400;
            uint8_t pl[1400];
            uint32_t got = fz_bytes(&in, pl, plen > 64 ? 64 : plen);
            for (uint32_t i = got; i < plen; i++)
                pl[i] = (uint8_t)i;
            seg(t, k, flags, dseq, dack, win, o, optlen, pl, plen);
            break;
        }
        case 3: /* the clock */
            tl_now_us += (uint64_t)fz_u16(&in) * ((op & 8) ? 100 : 5); /* up to 6.5 s */
            net_poll_timers(&t->c);
            after(t);
            break;
        case 4: /* the app sends */
            app_send(t, k, fz_u16(&in));
            break;
        case 5: /* the app closes, or refuses the next knocks */
            if (op & 8)
                reject_next = !reject_next;
            else
                app_close(t, k);
            break;
        case 6: /* the NIC's TX queue full / free */
            t->tx_full = (op & 8) != 0;
            break;
        case 7: /* a new connection on k's slot (the same ports: a reused 4-tuple) */
            /* not on the active open's slot: its connection lives without a handle until
             * CONNECTED, so a passive one there (a different 4-tuple) would share the slot
             * and the harness would lose one of them (regress/net/second-conn-on-active-slot) */
            if (!k->handle && k->pport != CONNECT_PORT) {
                k->lport = 0;
                k->seen = 0;
                handshake(t, k, op & 8);
            }
            break;
        }
    }
    teardown(t);
    FZ_CHECK(check_failures == 0); /* a CHECK in the test library failed */
    return 0;
}
