/* RFC 6528 initial sequence numbers: ISN = M + F(4-tuple, secret), M the 4 µs clock, F
 * SipHash-2-4 keyed with the per-boot secret (tcp_set_secret). Checked on SYN-ACKs the
 * stack actually sends: different secrets (boots) give unrelated ISNs for the same tuple,
 * different tuples unrelated ISNs under one secret, and one tuple's ISN advances with the
 * clock (monotonic, 250 per millisecond). */
#include "../../net/tcp_int.h"
#include "tcp_testlib.h"

#define LPORT 80

/* The ISS of the SYN-ACK to a SYN from sport; the half-open connection is then reset. */
static uint32_t isn_of(struct tl *t, uint16_t sport)
{
    unsigned cur = t->ntx;
    tt_send(t, sport, LPORT, 5000, 0, TCP_SYN, 65535, NULL, 0, NULL, 0);
    struct tt_seg s;
    uint32_t iss = 0;
    CHECK(tt_next(t, &cur, &s) && s.flags == (TCP_SYN | TCP_ACK));
    iss = s.seq;
    tt_send(t, sport, LPORT, 5001, 0, TCP_RST, 0, NULL, 0, NULL, 0); /* frees it */
    return iss;
}

static struct tl *boot(uint64_t k0, uint64_t k1)
{
    struct tl *t = tt_new();
    tcp_set_secret(&t->c, k0, k1);
    CHECK_EQ(tcp_listen(&t->c, LPORT, 8), 0);
    return t;
}

static void isn_per_secret_and_tuple(void)
{
    struct tl *a = boot(0x1111, 0x2222), *b = boot(0x1111, 0x2223);
    uint32_t a1 = isn_of(a, 40000), b1 = isn_of(b, 40000);
    CHECK(a1 != b1); /* another boot's secret: another ISN for the same tuple and time */
    /* Under one secret, 64 tuples give 64 different ISNs, spread over the space. */
    uint32_t seen[64], or_bits = 0, and_bits = ~0u;
    for (unsigned i = 0; i < 64; i++) {
        seen[i] = isn_of(a, (uint16_t)(41000 + i));
        or_bits |= seen[i];
        and_bits &= seen[i];
        for (unsigned j = 0; j < i; j++)
            CHECK(seen[i] != seen[j]);
    }
    CHECK_EQ(or_bits, 0xffffffffu); /* every bit varies: F is not a small offset */
    CHECK_EQ(and_bits, 0u);
    CHECK_EQ(tcp_conns_in_use(&a->c), 0);
    tt_free(a);
    tt_free(b);
}

static void isn_monotonic_per_tuple(void)
{
    struct tl *t = boot(0xabcdef, 0x123456);
    uint32_t prev = isn_of(t, 40000);
    for (int i = 0; i < 100; i++) {
        tt_advance(t, 1000); /* 1 ms: M moves by 250 */
        uint32_t now = isn_of(t, 40000);
        CHECK_EQ(now - prev, 250u);
        prev = now;
    }
    tt_free(t);
}

int main(void)
{
    CHECK_RUN(isn_per_secret_and_tuple);
    CHECK_RUN(isn_monotonic_per_tuple);
    return check_summary("tcp_isn_test");
}
