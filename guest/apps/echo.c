/* echo: TCP and UDP echo (RFC 862) on every dataplane core, with zero copy both ways: the
 * reply is sent straight from the receive buffer, which is given back to the dataplane once
 * the peer has acknowledged the echoed bytes.
 *   args: [--crash-word WORD] [port ...]   (default port 7; each served over TCP and UDP)
 * --crash-word is for fault-isolation tests: a TCP payload that starts with WORD makes this
 * instance touch dataplane memory, so the dataplane must stop it and reset its connections. */
#include <ix.h>
#include <ixev.h>

#define MAX_CONNS (4u << 20) /* the dataplane's limit per core; the heap is the real bound */

struct conn {
    struct ixev_ctx ctx; /* first: the ixev context is the connection */
    struct conn *next_free;
};

static struct conn *conns;
static struct conn *free_list;
static uint64_t accepted, active;

static struct ixev_ctx *on_accept(uint64_t tuple, uint32_t laddr)
{
    (void)tuple;
    (void)laddr;
    struct conn *c = free_list;
    if (!c)
        return 0; /* full: reject */
    free_list = c->next_free;
    accepted++;
    active++;
    return &c->ctx;
}

static const char *crash_word;

static int starts_with(const void *data, size_t len, const char *w)
{
    const char *d = data;
    size_t i = 0;
    for (; w[i]; i++)
        if (i >= len || d[i] != w[i])
            return 0;
    return 1;
}

static void on_recv(struct ixev_ctx *c, const void *data, size_t len)
{
    if (crash_word && starts_with(data, len, crash_word))
        *(volatile uint64_t *)0x0000400000200000ull = 1; /* dataplane memory: a page fault */
    if (ixev_send(c, data, len))
        ixev_close(c); /* send queue full: the peer is not reading; give up on it */
}

static void on_sent(struct ixev_ctx *c, size_t bytes)
{
    ixev_recv_done(c, bytes); /* echoed and acknowledged: the receive buffer can go */
}

static void on_eof(struct ixev_ctx *c) { ixev_close(c); }

static void on_dead(struct ixev_ctx *c, int reason)
{
    (void)reason;
    struct conn *k = (struct conn *)c;
    k->next_free = free_list;
    free_list = k;
    active--;
}

static void on_udp_recv(const void *data, size_t len, uint64_t tuple)
{
    /* reply to the sender from the same buffer; give it back when the reply has left */
    ixev_udp_send(data, len, tuple);
}

static void on_udp_sent(uint64_t cookie, int ok)
{
    (void)ok;
    ixev_udp_recv_done((const void *)cookie);
}

static const struct ixev_ops ops = {
    .accept = on_accept,
    .recv = on_recv,
    .sent = on_sent,
    .eof = on_eof,
    .dead = on_dead,
    .udp_recv = on_udp_recv,
    .udp_sent = on_udp_sent,
};

static unsigned parse_port(const char *s)
{
    unsigned v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (unsigned)(*s - '0');
    return *s ? 0 : v;
}

int main(int argc, char **argv)
{
    const struct ix_app_info *info = ix_info();
    /* as many connections as the heap holds, up to MAX_CONNS */
    uint64_t max = info->heap_size / sizeof(struct conn);
    if (max > MAX_CONNS)
        max = MAX_CONNS;
    conns = (struct conn *)info->heap;
    for (int i = (int)max - 1; i >= 0; i--) {
        conns[i].next_free = free_list;
        free_list = &conns[i];
    }
    ixev_init(&ops);
    int first = 1;
    if (argc > 2 && argv[1][0] == '-' && argv[1][2] == 'c') { /* --crash-word WORD */
        crash_word = argv[2];
        first = 3;
    }
    int nports = 0;
    for (int i = first; i < argc || (i == first && argc <= first); i++) {
        unsigned port = argc > first ? parse_port(argv[i]) : 7;
        if (port == 0 || port > 65535) {
            ix_printf("echo: bad port '%s'", argv[i]);
            return 2;
        }
        int e1 = ixev_listen((uint16_t)port, 1024), e2 = ixev_udp_bind((uint16_t)port);
        if (e1 || e2) {
            ix_printf("echo: cannot serve port %u (tcp %d, udp %d)", port, e1, e2);
            return 1;
        }
        nports++;
        if (argc <= first)
            break;
    }
    if (info->cpu == 0)
        ix_printf("echo: serving TCP and UDP on %d port(s) on %u cores", nports, info->ncpus);
    return ixev_run();
}
