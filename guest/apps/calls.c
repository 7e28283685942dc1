/* calls: exercises the batched calls from ring 3 on every core, for test/e2e-calls.test.ts.
 *   args: SERVER-IPV4 PORT REJECT-PORT
 * Each core, in order:
 *   1. timers: arms three, cancels one (and cancels it again: a stale handle), re-arms the
 *      first when it fires, and waits for the last; prints the cookies in firing order;
 *   2. connect: opens CONNS connections to a Linux server at SERVER:PORT (retrying every
 *      100 ms while it is refused: the server starts after the dataplane), sends each a
 *      128-byte line as IX_SG_MAX 4-byte slices (more slices than a frame references, so
 *      the stack copies that segment), and prints the server's reply, which names the source
 *      port it saw, on the core that receives it;
 *   3. udp_sendv: sends a datagram made of 3 slices from the source port of its first
 *      connection to SERVER:PORT (the same 4-tuple, so the echo is steered back to this
 *      core), retrying every 300 ms until the echo arrives; prints it.
 * All along, every core listens on REJECT-PORT and rejects every knock.
 * Output lines start with "calls: core N " and are parsed strictly by the test. Every call
 * is made alone with IX_BPOLL_NO_EVENTS, so the event array being read stays put; the loop
 * waits with an empty ix_bpoll. */
#include <ix.h>
#include "../lib/fmt.h"

#define CONNS 4
#define MSG_LEN 128
#define PIECE (MSG_LEN / IX_SG_MAX)
#define STRIDE 64
#define RETRIES 150          /* connect attempts per connection (15 s) */
#define UDP_RETRIES 20
#define T_RETRY_CONN 100     /* timer cookies: + connection index */
#define T_RETRY_UDP 200
#define C_CONN 1000          /* connection cookies: + index */

static unsigned cpu;
static uint32_t srv;
static uint16_t port, reject_port;

/* ---- calls, one at a time ------------------------------------------------------------- */

static int call(uint16_t op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t *ret)
{
    static struct ix_call k;
    k = (struct ix_call){.op = op, .a0 = a0, .a1 = a1, .a2 = a2};
    ix_bpoll(&k, 1 | IX_BPOLL_NO_EVENTS);
    if (ret)
        *ret = k.ret;
    return k.err;
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    static char buf[IX_LOG_MAX];
    int n = ix_snprintf(buf, sizeof buf, "calls: core %u ", cpu);
    va_list ap;
    va_start(ap, fmt);
    n += ix_vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    call(IX_OP_LOG, (uint64_t)buf, (uint64_t)n, 0, 0);
}

static _Noreturn void fail(const char *what, int err)
{
    say("FAILED %s (err %d)", what, err);
    ix_exit(1);
}

static uint64_t arm(uint64_t cookie, uint64_t us)
{
    uint64_t h;
    int e = call(IX_OP_TIMER_ARM, cookie, us, 0, &h);
    if (e)
        fail("timer_arm", e);
    return h;
}

/* ---- phase 1: timers ------------------------------------------------------------------- */

static uint64_t t1;
static char fired[32];
static unsigned nfired;
static int stale_cancel;

static void timers_start(void)
{
    t1 = arm(1, 20000);
    uint64_t t2 = arm(2, 30000);
    arm(3, 100000);
    int e = call(IX_OP_TIMER_CANCEL, t2, 0, 0, 0);
    if (e)
        fail("timer_cancel", e);
    stale_cancel = call(IX_OP_TIMER_CANCEL, t2, 0, 0, 0); /* cancelled already: -IX_EBADH */
}

static void connect_start(void);

static void on_timer_phase1(uint64_t cookie)
{
    if (nfired < sizeof fired - 2) {
        if (nfired)
            fired[nfired++] = ',';
        fired[nfired++] = (char)('0' + cookie);
    }
    if (cookie == 1 && t1) {
        uint64_t again = arm(1, 10000); /* re-arm the one that fired */
        /* the fired handle is stale now, even if the slot was reused for the re-arm */
        int e = call(IX_OP_TIMER_CANCEL, t1, 0, 0, 0);
        say("timer re-armed: new handle %s, cancel of the fired one -> %d", again != t1 ? "differs" : "SAME", e);
        t1 = 0;
    } else if (cookie == 3) {
        say("timers fired %s; cancel -> 0, cancel again -> %d", fired, stale_cancel);
        connect_start();
    }
}

/* ---- phase 2: connect ------------------------------------------------------------------ */

struct conn {
    uint64_t handle;
    unsigned tries;
    int state;                /* 0 connecting, 1 connected, 2 replied, 3 dead */
    uint32_t got;
    char reply[256];
    uint16_t lport;           /* the source port the server saw */
};
static struct conn conns[CONNS];
static uint8_t scatter[CONNS][IX_SG_MAX * STRIDE];
static struct ix_sg sg[CONNS][IX_SG_MAX];
static char line[CONNS][MSG_LEN + 1];
static unsigned dead;

static void udp_start(void);

static void open_conn(unsigned i)
{
    conns[i].tries++;
    uint64_t h;
    int e = call(IX_OP_TCP_CONNECT, C_CONN + i, srv, port, &h);
    if (e)
        fail("tcp_connect", e);
    conns[i].handle = h;
}

static void connect_start(void)
{
    for (unsigned i = 0; i < CONNS; i++) {
        /* "core C conn I " then letters, then a newline: MSG_LEN bytes */
        int n = ix_snprintf(line[i], sizeof line[i], "core %u conn %u ", cpu, i);
        for (int j = n; j < MSG_LEN - 1; j++)
            line[i][j] = (char)('a' + (j + (int)i) % 26);
        line[i][MSG_LEN - 1] = '\n';
        for (unsigned s = 0; s < IX_SG_MAX; s++) { /* 4 bytes every 64: never merged */
            uint8_t *p = &scatter[i][s * STRIDE];
            for (unsigned b = 0; b < PIECE; b++)
                p[b] = (uint8_t)line[i][s * PIECE + b];
            sg[i][s] = (struct ix_sg){(uint64_t)p, PIECE};
        }
        open_conn(i);
    }
}

static void on_connected(unsigned i, uint64_t outcome)
{
    struct conn *c = &conns[i];
    if (outcome) { /* refused (the server is not up yet) or timed out: try again */
        if (c->tries >= RETRIES)
            fail("connect: every attempt refused", -(int)outcome);
        arm(T_RETRY_CONN + i, 100000);
        return;
    }
    c->state = 1;
    uint64_t took;
    int e = call(IX_OP_TCP_SENDV, c->handle, (uint64_t)sg[i], IX_SG_MAX, &took);
    if (e || took != MSG_LEN)
        fail("tcp_sendv", e ? e : -(int)took);
}

static unsigned parse_u(const char *s, const char **end)
{
    unsigned v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (unsigned)(*s - '0');
    *end = s;
    return v;
}

static int same(const char *a, const char *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* The server answers "port P " followed by the line it received. */
static void on_recv(unsigned i, const char *data, uint64_t len)
{
    struct conn *c = &conns[i];
    int e = call(IX_OP_TCP_RECV_DONE, c->handle, len, 0, 0);
    if (e)
        fail("tcp_recv_done", e);
    if (len == 0 || c->state != 1)
        return;
    for (uint64_t k = 0; k < len && c->got < sizeof c->reply - 1; k++)
        c->reply[c->got++] = data[k];
    if (c->got == 0 || c->reply[c->got - 1] != '\n')
        return;
    c->reply[c->got - 1] = 0;
    const char *p = c->reply, *end;
    if (!same(p, "port ", 5))
        fail("reply: no port", 0);
    c->lport = (uint16_t)parse_u(p + 5, &end);
    int ok = *end == ' ' && c->got - 1 - (uint32_t)(end + 1 - p) == MSG_LEN - 1 && same(end + 1, line[i], MSG_LEN - 1);
    say("conn %u connected after %u attempt(s), source port %u, reply %s: %s", i, c->tries, c->lport,
        ok ? "matches" : "DIFFERS", end + 1);
    c->state = 2;
    e = call(IX_OP_TCP_CLOSE, c->handle, 0, 0, 0);
    if (e)
        fail("tcp_close", e);
}

static void on_dead(unsigned i, uint64_t reason)
{
    if (conns[i].state != 2)
        fail("connection died before its reply", -(int)reason);
    conns[i].state = 3;
    if (++dead == CONNS)
        udp_start();
}

/* ---- phase 3: udp_sendv ---------------------------------------------------------------- */

static char u_head[32], u_mid[64], u_tail[16];
static struct ix_sg usg[3];
static unsigned u_tries, u_len;
static int u_done, u_inflight;

static void udp_send(void)
{
    u_tries++;
    u_inflight = 1;
    uint64_t t = ix_tuple_pack(srv, port, conns[0].lport);
    int e = call(IX_OP_UDP_SENDV, (uint64_t)usg, 3, t, 0);
    if (e)
        fail("udp_sendv", e);
    arm(T_RETRY_UDP, 300000);
}

static void udp_start(void)
{
    int e = call(IX_OP_UDP_BIND, conns[0].lport, 0, 0, 0);
    if (e)
        fail("udp_bind", e);
    unsigned a = (unsigned)ix_snprintf(u_head, sizeof u_head, "udp from core %u|", cpu);
    unsigned b = (unsigned)ix_snprintf(u_mid, sizeof u_mid, "three slices, one datagram|");
    unsigned c = (unsigned)ix_snprintf(u_tail, sizeof u_tail, "end");
    usg[0] = (struct ix_sg){(uint64_t)u_head, a};
    usg[1] = (struct ix_sg){(uint64_t)u_mid, b};
    usg[2] = (struct ix_sg){(uint64_t)u_tail, c};
    u_len = a + b + c;
    udp_send();
}

static int udp_matches(const char *d, uint64_t len)
{
    if (len != u_len)
        return 0;
    for (unsigned s = 0, at = 0; s < 3; at += (unsigned)usg[s].len, s++)
        if (!same(d + at, (const char *)usg[s].base, (uint32_t)usg[s].len))
            return 0;
    return 1;
}

static void on_udp_recv(const char *d, uint64_t len, uint64_t tuple)
{
    int ok = udp_matches(d, len);
    if (!u_done)
        say("udp echo %s from port %u to port %u after %u send(s): %u bytes", ok ? "matches" : "DIFFERS",
            ix_tuple_rport(tuple), ix_tuple_lport(tuple), u_tries, (unsigned)len);
    int e = call(IX_OP_UDP_RECV_DONE, (uint64_t)d, 0, 0, 0);
    if (e)
        fail("udp_recv_done", e);
    if (ok && !u_done) {
        u_done = 1;
        say("done");
    }
}

/* ---- the loop ------------------------------------------------------------------------- */

static void on_knock(uint64_t handle, uint64_t tuple)
{
    if (ix_tuple_lport(tuple) != reject_port)
        fail("knock on a port nobody listens on", 0);
    int e = call(IX_OP_TCP_REJECT, handle, 0, 0, 0);
    say("rejected a knock on port %u from port %u: %d", ix_tuple_lport(tuple), ix_tuple_rport(tuple), e);
}

static void on_event(const struct ix_event *e)
{
    uint64_t ck = e->cookie;
    unsigned i = (unsigned)(ck - C_CONN);
    int is_conn = ck >= C_CONN && ck < C_CONN + CONNS;
    switch (e->type) {
    case IX_EV_TIMER:
        if (ck >= 1 && ck <= 3)
            on_timer_phase1(ck);
        else if (ck >= T_RETRY_CONN && ck < T_RETRY_CONN + CONNS)
            open_conn((unsigned)(ck - T_RETRY_CONN));
        else if (ck == T_RETRY_UDP && !u_done) {
            if (u_tries >= UDP_RETRIES)
                fail("udp: no echo", 0);
            if (!u_inflight)
                udp_send();
            else
                arm(T_RETRY_UDP, 100000); /* the last send's buffers are still lent out */
        }
        break;
    case IX_EV_TCP_KNOCK:
        on_knock(e->a0, e->a1);
        break;
    case IX_EV_TCP_CONNECTED:
        if (is_conn)
            on_connected(i, e->a1);
        break;
    case IX_EV_TCP_RECV:
        if (is_conn)
            on_recv(i, (const char *)e->a0, e->a1);
        break;
    case IX_EV_TCP_DEAD:
        if (is_conn)
            on_dead(i, e->a0);
        break;
    case IX_EV_UDP_RECV:
        on_udp_recv((const char *)e->a0, e->a1, e->a2);
        break;
    case IX_EV_UDP_SENT:
        if (e->cookie == (uint64_t)usg)
            u_inflight = 0;
        break;
    default:
        break;
    }
}

static int parse_ip(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        const char *end;
        unsigned b = parse_u(s, &end);
        if (end == s || b > 255 || (k < 3 ? *end != '.' : *end != 0))
            return -1;
        v = (v << 8) | b;
        s = end + 1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    cpu = ix_cpu();
    const char *end;
    if (argc != 4 || parse_ip(argv[1], &srv) || (port = (uint16_t)parse_u(argv[2], &end)) == 0 || *end ||
        (reject_port = (uint16_t)parse_u(argv[3], &end)) == 0 || *end) {
        say("usage: calls SERVER-IPV4 PORT REJECT-PORT");
        return 2;
    }
    int e = call(IX_OP_TCP_LISTEN, reject_port, 16, 0, 0);
    if (e)
        fail("tcp_listen", e);
    say("ready");
    timers_start();
    struct ix_call none;
    for (;;) {
        long n = ix_bpoll(&none, 0); /* no calls: returns with at least one event */
        const struct ix_event *ev = ix_events();
        for (long k = 0; k < n; k++)
            on_event(&ev[k]);
    }
}
