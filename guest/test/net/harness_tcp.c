/* TCP apps of the harness, written against the stack's TCP API (net/tcp.h):
 *   --tcp-echo PORT     echo, zero copy: received bytes are sent back straight from the
 *                       receive buffers, which are released (tcp_recv_done) only as the
 *                       echoed bytes are acknowledged (IX_EV_TCP_SENT)
 *   --tcp-discard PORT  consume and release at once
 *   --tcp-sink PORT     consume, hash the stream (SHA-256) and print, at the peer's FIN,
 *                       "sink done bytes=N sha=HEX" (then close)
 *   --connect A:P       client: --conns connections each send --send-bytes from a static
 *                       pattern (zero copy), optionally --expect-echo (verify the echo),
 *                       then close; the harness exits when every connection is dead.
 * Conventions assumed of TCP: a RECV event with length 0 means the peer closed (FIN); a
 * handle is invalid after its DEAD event.
 * Every function here is weak: a file named tcp_harness*.c may replace
 * them with strong definitions if TCP's conventions differ. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_sha256.h"
#include "../../net/stack_env.h"
#include "../../net/tcp.h"

#define W __attribute__((weak))
#define PATTERN_LEN 65536

enum { K_FREE = 0, K_ECHO, K_DISCARD, K_CLIENT, K_SINK };

struct seg {
    uint64_t addr;
    uint32_t len;
};

struct hconn {
    int kind;
    int peer_closed, closing, connected;
    uint64_t handle;
    struct seg *q;         /* echo: received segments not yet fully taken by tcp_sendv */
    uint32_t qhead, qlen, qcap, qoff;
    uint64_t sent, acked, recvd, mismatches;
    struct h_sha256 *sha;  /* sink only */
};

static struct hconn *conns;
static unsigned nconns;
static unsigned free_hint;
static uint8_t pattern[PATTERN_LEN];
static unsigned client_done, client_failed, client_ok;
static uint64_t client_start_us, client_end_us, client_bytes_sent, client_bytes_recvd,
    client_mismatches;
static uint64_t server_accepted, server_rejected;

static struct hconn *conn_new(int kind)
{
    for (unsigned i = 0; i < nconns; i++) {
        unsigned k = (free_hint + i) % nconns;
        if (conns[k].kind == K_FREE) {
            free_hint = k + 1;
            memset(&conns[k], 0, sizeof(conns[k]));
            conns[k].kind = kind;
            return &conns[k];
        }
    }
    return NULL;
}

static struct hconn *conn_of(uint64_t cookie)
{
    if (cookie == 0 || cookie > nconns || conns[cookie - 1].kind == K_FREE)
        return NULL;
    return &conns[cookie - 1];
}

static uint64_t cookie_of(struct hconn *h) { return (uint64_t)(h - conns) + 1; }

static void conn_free(struct hconn *h)
{
    free(h->q);
    free(h->sha);
    memset(h, 0, sizeof(*h));
}

W void h_tcp_setup(struct net_core *c)
{
    struct harness_opts *o = &h_opts;
    nconns = o->max_conns + o->conns;
    conns = calloc(nconns, sizeof(*conns));
    for (unsigned i = 0; i < PATTERN_LEN; i++)
        pattern[i] = (uint8_t)((i * 2654435761u) >> 24);
    for (int i = 0; i < o->n_tcp_echo; i++)
        if (tcp_listen(c, o->tcp_echo[i], 1024) != 0)
            fprintf(stderr, "harness: tcp_listen %u failed\n", o->tcp_echo[i]);
    for (int i = 0; i < o->n_tcp_discard; i++)
        if (tcp_listen(c, o->tcp_discard[i], 1024) != 0)
            fprintf(stderr, "harness: tcp_listen %u failed\n", o->tcp_discard[i]);
    for (int i = 0; i < o->n_tcp_sink; i++)
        if (tcp_listen(c, o->tcp_sink[i], 1024) != 0)
            fprintf(stderr, "harness: tcp_listen %u failed\n", o->tcp_sink[i]);
    if (o->connect_addr == 0)
        return;
    client_start_us = env_now_us();
    for (unsigned i = 0; i < o->conns; i++) {
        struct hconn *h = conn_new(K_CLIENT);
        int64_t r = h ? tcp_connect(c, cookie_of(h), o->connect_addr, o->connect_port) : -IX_ENOMEM;
        if (r < 0) {
            fprintf(stderr, "harness: tcp_connect failed (%lld)\n", (long long)r);
            if (h)
                conn_free(h);
            client_failed++;
            client_done++;
            continue;
        }
        h->handle = (uint64_t)r;
    }
}

static void echo_flush(struct net_core *c, struct hconn *h)
{
    while (h->qlen > 0) {
        struct seg *s = &h->q[h->qhead];
        struct net_iov iov = {(const void *)(uintptr_t)(s->addr + h->qoff), s->len - h->qoff};
        int64_t n = tcp_sendv(c, h->handle, &iov, 1);
        if (n <= 0)
            return; /* window full (or error): retry on the next SENT */
        h->sent += (uint64_t)n;
        h->qoff += (uint32_t)n;
        if (h->qoff < s->len)
            return;
        h->qoff = 0;
        h->qhead = (h->qhead + 1) % h->qcap;
        h->qlen--;
    }
    if (h->peer_closed && !h->closing) {
        h->closing = 1;
        tcp_close(c, h->handle);
    }
}

static void echo_push(struct hconn *h, uint64_t addr, uint32_t len)
{
    if (h->qlen == h->qcap) {
        uint32_t ncap = h->qcap ? h->qcap * 2 : 64;
        struct seg *nq = malloc(ncap * sizeof(*nq));
        for (uint32_t i = 0; i < h->qlen; i++)
            nq[i] = h->q[(h->qhead + i) % h->qcap];
        free(h->q);
        h->q = nq;
        h->qcap = ncap;
        h->qhead = 0;
    }
    h->q[(h->qhead + h->qlen) % h->qcap] = (struct seg){addr, len};
    h->qlen++;
}

static void client_pump(struct net_core *c, struct hconn *h)
{
    uint64_t total = h_opts.send_bytes;
    while (h->sent < total) {
        uint64_t off = h->sent % PATTERN_LEN;
        uint64_t n = PATTERN_LEN - off;
        if (n > total - h->sent)
            n = total - h->sent;
        struct net_iov iov = {pattern + off, (uint32_t)n};
        int64_t r = tcp_sendv(c, h->handle, &iov, 1);
        if (r <= 0)
            return;
        h->sent += (uint64_t)r;
        client_bytes_sent += (uint64_t)r;
    }
    int done = h->acked >= total && (!h_opts.expect_echo || h->recvd >= total);
    if (done && !h->closing) {
        h->closing = 1;
        tcp_close(c, h->handle);
    }
}

static void client_finished(struct hconn *h, uint64_t reason)
{
    int ok = reason == 0 && h->acked >= h_opts.send_bytes &&
             (!h_opts.expect_echo || h->recvd == h_opts.send_bytes) && h->mismatches == 0;
    if (ok)
        client_ok++;
    else
        client_failed++;
    client_done++;
    if (client_done == h_opts.conns) {
        client_end_us = env_now_us();
        double s = (double)(client_end_us - client_start_us) / 1e6;
        printf("client done conns=%u ok=%u failed=%u sent=%llu recvd=%llu mismatches=%llu "
               "seconds=%.3f mbit_s=%.1f\n",
               h_opts.conns, client_ok, client_failed, (unsigned long long)client_bytes_sent,
               (unsigned long long)client_bytes_recvd, (unsigned long long)client_mismatches, s,
               s > 0 ? (double)client_bytes_sent * 8 / s / 1e6 : 0.0);
        if (client_failed)
            h_exit_status = 1;
        h_stop = 1;
    }
}

static int service_of(uint16_t lport)
{
    for (int i = 0; i < h_opts.n_tcp_echo; i++)
        if (h_opts.tcp_echo[i] == lport)
            return K_ECHO;
    for (int i = 0; i < h_opts.n_tcp_discard; i++)
        if (h_opts.tcp_discard[i] == lport)
            return K_DISCARD;
    for (int i = 0; i < h_opts.n_tcp_sink; i++)
        if (h_opts.tcp_sink[i] == lport)
            return K_SINK;
    return K_FREE;
}

W int h_tcp_event(struct net_core *c, const struct ix_event *ev)
{
    struct hconn *h;
    switch (ev->type) {
    case IX_EV_TCP_KNOCK: {
        int kind = service_of(ix_tuple_lport(ev->a1));
        h = kind != K_FREE ? conn_new(kind) : NULL;
        if (h == NULL || tcp_accept(c, ev->a0, cookie_of(h)) != 0) {
            if (h)
                conn_free(h);
            tcp_reject(c, ev->a0);
            server_rejected++;
            return 1;
        }
        h->handle = ev->a0;
        h->connected = 1;
        server_accepted++;
        if (kind == K_SINK && (h->sha = malloc(sizeof(*h->sha))) != NULL)
            h_sha256_init(h->sha);
        return 1;
    }
    case IX_EV_TCP_CONNECTED:
        h = conn_of(ev->cookie);
        if (h == NULL)
            return 1;
        if (ev->a1 != 0) { /* the connection failed; no DEAD follows */
            client_finished(h, ev->a1);
            conn_free(h);
            return 1;
        }
        h->handle = ev->a0;
        h->connected = 1;
        client_pump(c, h);
        return 1;
    case IX_EV_TCP_RECV:
        h = conn_of(ev->cookie);
        if (h == NULL)
            return 1;
        if (ev->a1 == 0) {
            h->peer_closed = 1;
            if (h->kind == K_SINK && h->sha != NULL) {
                char hex[65];
                h_sha256_final(h->sha, hex);
                printf("sink done bytes=%llu sha=%s\n", (unsigned long long)h->recvd, hex);
            }
            if (h->kind == K_ECHO)
                echo_flush(c, h);
            else if (!h->closing) {
                h->closing = 1;
                tcp_close(c, h->handle);
            }
            return 1;
        }
        h->recvd += ev->a1;
        if (h->kind == K_ECHO) {
            echo_push(h, ev->a0, (uint32_t)ev->a1);
            echo_flush(c, h);
        } else {
            if (h->kind == K_CLIENT) {
                /* verify the echo against the pattern at this stream offset */
                const uint8_t *p = (const uint8_t *)(uintptr_t)ev->a0;
                uint64_t off = h->recvd - ev->a1;
                for (uint64_t i = 0; i < ev->a1; i++)
                    if (p[i] != pattern[(off + i) % PATTERN_LEN]) {
                        h->mismatches++;
                        client_mismatches++;
                        break;
                    }
                client_bytes_recvd += ev->a1;
            }
            if (h->kind == K_SINK && h->sha != NULL)
                h_sha256_update(h->sha, (const void *)(uintptr_t)ev->a0, ev->a1);
            tcp_recv_done(c, h->handle, (uint32_t)ev->a1);
            if (h->kind == K_CLIENT)
                client_pump(c, h);
        }
        return 1;
    case IX_EV_TCP_SENT:
        h = conn_of(ev->cookie);
        if (h == NULL)
            return 1;
        h->acked += ev->a0;
        if (h->kind == K_ECHO) {
            tcp_recv_done(c, h->handle, (uint32_t)ev->a0);
            echo_flush(c, h);
        } else if (h->kind == K_CLIENT) {
            client_pump(c, h);
        }
        return 1;
    case IX_EV_TCP_DEAD:
        h = conn_of(ev->cookie);
        if (h == NULL)
            return 1;
        if (h->kind == K_CLIENT)
            client_finished(h, ev->a0);
        conn_free(h);
        return 1;
    default:
        return 0;
    }
}

W void h_tcp_poll(struct net_core *c)
{
    (void)c;
}

W void h_tcp_report(FILE *out)
{
    fprintf(out, ",\"tcp_accepted\":%llu,\"tcp_rejected\":%llu,\"client_ok\":%u,\"client_failed\":%u",
            (unsigned long long)server_accepted, (unsigned long long)server_rejected, client_ok,
            client_failed);
}
