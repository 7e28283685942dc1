/* Host unit tests of the stack glue (guest/drivers/vnet_netif.c): real mbuf pools
 * (guest/net/mbuf.c), stubs for the two stack entry points the glue calls, and the fake
 * device. ASan+UBSan. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../net/core.h"
#include "check.h"
#include "fake_device.h"
#include "vnet_netif.h"

#define MEM_SIZE (8u << 20)
static uint8_t *mem;

/* stack stubs: record what the glue hands over */
static struct mbuf *inputs[64];
static int ninputs;
static struct mbuf *completed[512];
static int ncompleted;
void net_input(struct net_core *c, struct mbuf *m)
{
    (void)c;
    assert(ninputs < 64);
    inputs[ninputs++] = m;
}
void net_tx_complete(struct net_core *c, struct mbuf *hdr)
{
    (void)c;
    assert(ncompleted < 512);
    completed[ncompleted++] = hdr;
    mbuf_free(hdr);
}

static uint64_t v2p(void *ctx, const void *p)
{
    (void)ctx;
    uint64_t a = (uint64_t)((const uint8_t *)p - mem);
    assert(a < MEM_SIZE);
    return a;
}
static void *p2v(void *ctx, uint64_t pa)
{
    (void)ctx;
    assert(pa < MEM_SIZE);
    return mem + pa;
}
static int kicks;
static void kick(void *ctx, uint16_t q)
{
    (void)ctx;
    (void)q;
    kicks++;
}

static struct ix_nic_info info;
static struct fake_vq drx, dtx;

int main(void)
{
    mem = aligned_alloc(4096, MEM_SIZE);
    memset(mem, 0, MEM_SIZE);
    const uint16_t qs = 32;
    info.present = 1;
    info.nqueues = 1;
    info.mtu = 1500;
    info.rx[0] = (struct ix_nic_vq){ .desc = 0x1000, .avail = 0x2000, .used = 0x3000, .size = qs };
    info.tx[0] = (struct ix_nic_vq){ .desc = 0x4000, .avail = 0x5000, .used = 0x6000, .size = qs };
    fdev_init(&drx, mem, MEM_SIZE, 0x1000, 0x2000, 0x3000, qs);
    fdev_init(&dtx, mem, MEM_SIZE, 0x4000, 0x5000, 0x6000, qs);

    /* all stack state lives in "guest memory" (the device reads the port's TX header) */
    struct mbuf_pool *pool = (struct mbuf_pool *)(mem + 0x8000);
    struct net_core *c = (struct net_core *)(mem + 0x9000);
    struct vnet_port *p = (struct vnet_port *)(mem + 0x100000);
    uint32_t nbufs = mbuf_pool_init(pool, mem + 0x200000, 400 * MBUF_SIZE);
    CHECK(nbufs >= 79);
    c->pool = pool;
    struct vnet_env env = { 0, v2p, p2v, kick };

    CHECK(vnet_port_init(p, c, &info, 0, &env) == 0);
    CHECK(c->netif == p);
    CHECK(fdev_pending(&drx) == qs);         /* ring filled from the pool */
    CHECK(mbuf_pool_in_use(pool) == qs);

    /* RX: two frames arrive, land at m->data with the right length, ring is refilled */
    uint8_t f[1514];
    for (int i = 0; i < (int)sizeof f; i++)
        f[i] = (uint8_t)(i * 5 + 1);
    CHECK(fdev_rx(&drx, f, 60));
    CHECK(fdev_rx(&drx, f, 1514));
    fdev_publish(&drx);
    CHECK(vnet_port_rx(p, 64) == 2);
    CHECK(ninputs == 2);
    CHECK(inputs[0]->len == 60 && memcmp(inputs[0]->data, f, 60) == 0);
    CHECK(inputs[1]->len == 1514 && memcmp(inputs[1]->data, f, 1514) == 0);
    CHECK(mbuf_headroom(inputs[0]) == MBUF_HEADROOM);
    CHECK(fdev_pending(&drx) == qs); /* refilled */
    mbuf_free(inputs[0]);
    mbuf_free(inputs[1]);
    CHECK(mbuf_pool_in_use(pool) == qs);

    /* TX: header mbuf + two zero-copy slices (one empty, skipped) */
    struct mbuf *h = mbuf_alloc(pool);
    uint8_t *hd = mbuf_append(h, 42);
    memcpy(hd, f, 42);
    uint8_t *payload = mem + 0x300000;
    memcpy(payload, f + 42, 500);
    struct net_iov iov[3] = { { payload, 200 }, { payload + 200, 0 }, { payload + 200, 300 } };
    CHECK(netif_tx(c, h, iov, 3) == 0);
    vnet_port_tx_flush(p);
    uint8_t out[2048];
    CHECK(fdev_tx(&dtx, out, sizeof out) == 542 && memcmp(out, f, 542) == 0);
    fdev_publish(&dtx);
    CHECK(ncompleted == 0);
    CHECK(vnet_port_rx(p, 64) == 0); /* reclaims TX */
    CHECK(ncompleted == 1 && completed[0] == h);

    /* TX ring full: frames wait in the backlog; once that is full too, netif_tx fails and
     * the caller keeps the mbuf */
    int sent = 0;
    struct mbuf *last = NULL;
    for (;;) {
        struct mbuf *m = mbuf_alloc(pool);
        assert(m);
        mbuf_append(m, 60);
        if (netif_tx(c, m, NULL, 0) < 0) {
            last = m;
            break;
        }
        sent++;
    }
    CHECK(sent == qs / 2 + VNET_TX_BACKLOG); /* header descriptor + one data descriptor each */
    CHECK(last->flags & MBUF_F_INUSE);
    mbuf_free(last);
    CHECK(vnet_port_prepare_halt(p) == true); /* the backlog waits: no halt */
    /* the device empties the ring, the next pass refills it from the backlog, until all are out */
    ncompleted = 0;
    int out_n = 0;
    for (int pass = 0; pass < 64 && ncompleted < sent; pass++) {
        vnet_port_tx_flush(p);
        while (fdev_tx(&dtx, out, sizeof out) == 60)
            out_n++;
        fdev_publish(&dtx);
        vnet_port_rx(p, 64);
    }
    CHECK(out_n == sent && ncompleted == sent);
    CHECK(vnet_port_prepare_halt(p) == false);

    /* pool exhausted: refill stops, counted; frames still delivered from posted buffers */
    struct mbuf *hold[400];
    int nhold = 0;
    for (struct mbuf *m; (m = mbuf_alloc(pool));)
        hold[nhold++] = m;
    ninputs = 0;
    CHECK(fdev_rx(&drx, f, 100));
    fdev_publish(&drx);
    CHECK(vnet_port_rx(p, 64) == 1);
    CHECK(p->b.rx_nomem > 0);
    CHECK(fdev_pending(&drx) == qs - 1);
    mbuf_free(inputs[0]);
    for (int i = 0; i < nhold; i++)
        mbuf_free(hold[i]);
    vnet_port_rx(p, 64);
    CHECK(fdev_pending(&drx) == qs);

    /* halting: nothing waiting -> may halt; a frame arrives -> the device must interrupt */
    CHECK(vnet_port_prepare_halt(p) == false);
    ninputs = 0;
    CHECK(fdev_rx(&drx, f, 64));
    CHECK(fdev_publish(&drx) == true);
    CHECK(vnet_port_prepare_halt(p) == true);

    free(mem);
    return check_summary("test_vnet_netif");
}
