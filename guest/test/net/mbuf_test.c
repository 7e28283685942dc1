/* mbuf pools: allocation until exhaustion, headroom/tailroom, address lookup, double free. */
#include <string.h>

#include "testlib.h"

static void test_pool(void)
{
    enum { N = 16 };
    static uint8_t mem[N * MBUF_SIZE + 64];
    struct mbuf_pool p;
    uint32_t n = mbuf_pool_init(&p, mem + 1, sizeof(mem) - 1); /* misaligned on purpose */
    CHECK(n >= N - 1 && n <= N);
    CHECK_EQ(((uintptr_t)p.base) % 64, 0);
    struct mbuf *ms[N + 1];
    for (uint32_t i = 0; i < n; i++) {
        ms[i] = mbuf_alloc(&p);
        CHECK(ms[i] != NULL);
        CHECK_EQ(ms[i]->len, 0);
        CHECK(ms[i]->data == mbuf_buf(ms[i]) + MBUF_HEADROOM);
        CHECK_EQ(mbuf_headroom(ms[i]), MBUF_HEADROOM);
        CHECK_EQ(mbuf_tailroom(ms[i]), MBUF_DATA_MAX);
    }
    CHECK_EQ(mbuf_pool_in_use(&p), n);
    CHECK(mbuf_alloc(&p) == NULL);
    CHECK_EQ(p.alloc_failures, 1);
    for (uint32_t i = 0; i < n; i++)
        mbuf_free(ms[i]);
    CHECK_EQ(mbuf_pool_in_use(&p), 0);
    /* double free is refused and counted */
    mbuf_free(ms[0]);
    CHECK_EQ(p.double_frees, 1);
    CHECK_EQ(mbuf_pool_in_use(&p), 0);
    CHECK(MBUF_DATA_MAX >= 1514);
    CHECK(mbuf_pool_init(&p, mem, 100) == 0);
}

static void test_ops(void)
{
    static uint8_t mem[4 * MBUF_SIZE + 64];
    struct mbuf_pool p;
    mbuf_pool_init(&p, mem, sizeof(mem));
    struct mbuf *m = mbuf_alloc(&p);
    uint8_t *t = mbuf_append(m, 100);
    CHECK(t == m->data);
    CHECK_EQ(m->len, 100);
    CHECK(mbuf_append(m, MBUF_DATA_MAX) == NULL);
    CHECK_EQ(m->len, 100);
    uint8_t *h = mbuf_prepend(m, 54);
    CHECK(h != NULL && h == m->data);
    CHECK_EQ(m->len, 154);
    CHECK(mbuf_prepend(m, MBUF_HEADROOM) == NULL); /* only 74 left */
    mbuf_adj(m, 14);
    CHECK_EQ(m->len, 140);
    mbuf_adj(m, 1000); /* clamps */
    CHECK_EQ(m->len, 0);
    mbuf_append(m, 10);
    mbuf_trim(m, 4);
    CHECK_EQ(m->len, 4);
    mbuf_trim(m, 40);
    CHECK_EQ(m->len, 4);

    /* address lookup: only payload addresses of allocated mbufs */
    CHECK(mbuf_from_addr(&p, (uintptr_t)m->data) == m);
    CHECK(mbuf_from_addr(&p, (uintptr_t)mbuf_end(m) - 1) == m);
    CHECK(mbuf_from_addr(&p, (uintptr_t)m) == NULL);               /* the struct itself */
    CHECK(mbuf_from_addr(&p, (uintptr_t)p.base - 1) == NULL);
    CHECK(mbuf_from_addr(&p, (uintptr_t)p.base + (uintptr_t)p.count * MBUF_SIZE) == NULL);
    struct mbuf *other = (struct mbuf *)((uint8_t *)m + MBUF_SIZE);  /* free chunk */
    CHECK(mbuf_from_addr(&p, (uintptr_t)mbuf_buf(other)) == NULL);
    CHECK(mbuf_from_addr(&p, 0) == NULL);
    mbuf_free(m);
    CHECK_EQ(mbuf_pool_in_use(&p), 0);
}

int main(void)
{
    CHECK_RUN(test_pool);
    CHECK_RUN(test_ops);
    return check_summary("mbuf_test");
}
