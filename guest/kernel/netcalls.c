/* The network calls of ix_bpoll (docs/abi.md): every argument the app passes is checked
 * against its own memory before the stack sees it; a bad one fails that call alone. */
#include <ix/abi.h>
#include "app.h"
#include "dataplane.h"
#include "netcalls.h"
#include "../net/tcp.h"
#include "../net/udp.h"
#include "../net/netif.h"

/* Copy and check a scatter-gather list from app memory. Returns the count or a -IX_E*. */
static int load_sg(const struct app *a, uint64_t sg_va, uint64_t n, int max, struct net_iov *iov)
{
    if (n == 0 || n > (uint64_t)max)
        return -IX_EINVAL;
    if (!app_range_ok(a, sg_va, n * sizeof(struct ix_sg), VMA_R))
        return -IX_EFAULT;
    const uint8_t *sg = (const uint8_t *)sg_va;
    for (uint64_t i = 0; i < n; i++) {
        /* read once (the app could change them), and bytewise: the app may pass a list at
         * any address, and a misaligned struct access is undefined (found by fuzz_syscall) */
        struct ix_sg e;
        __builtin_memcpy(&e, sg + i * sizeof e, sizeof e);
        uint64_t base = e.base, len = e.len;
        if (len == 0 || len > 0xffffffffu)
            return -IX_EINVAL;
        if (!app_range_ok(a, base, len, VMA_R))
            return -IX_EFAULT;
        iov[i].base = (const void *)base;
        iov[i].len = (uint32_t)len;
    }
    return (int)n;
}

static int port_ok(uint64_t p) { return p > 0 && p < 65536; }

int netcall(struct percpu *c, struct app *a, struct ix_call *k)
{
    struct dataplane *dp = c->dp;
    if (!dp)
        return -IX_ENOSYS; /* no NIC attached to this dataplane */
    struct net_core *nc = &dp->nc;
    struct net_iov iov[IX_SG_MAX];
    int64_t r;
    switch (k->op) {
    case IX_OP_TCP_LISTEN:
        if (!port_ok(k->a0) || k->a1 > 65535)
            return -IX_EINVAL;
        return tcp_listen(nc, (uint16_t)k->a0, (unsigned)k->a1);
    case IX_OP_TCP_CONNECT:
        if (!port_ok(k->a2) || k->a1 > 0xffffffffu)
            return -IX_EINVAL;
        r = tcp_connect(nc, k->a0, (uint32_t)k->a1, (uint16_t)k->a2);
        if (r < 0)
            return (int)r;
        k->ret = (uint64_t)r;
        return 0;
    case IX_OP_TCP_ACCEPT:
        return tcp_accept(nc, k->a0, k->a1);
    case IX_OP_TCP_REJECT:
        return tcp_reject(nc, k->a0);
    case IX_OP_TCP_SENDV: {
        int n = load_sg(a, k->a1, k->a2, IX_SG_MAX, iov);
        if (n < 0)
            return n;
        r = tcp_sendv(nc, k->a0, iov, n);
        if (r < 0)
            return (int)r;
        k->ret = (uint64_t)r;
        return 0;
    }
    case IX_OP_TCP_RECV_DONE:
        if (k->a1 > 0xffffffffu)
            return -IX_EINVAL;
        return tcp_recv_done(nc, k->a0, (uint32_t)k->a1);
    case IX_OP_TCP_CLOSE:
        return tcp_close(nc, k->a0);
    case IX_OP_UDP_BIND:
        if (!port_ok(k->a0))
            return -IX_EINVAL;
    {
        int r2 = udp_bind(nc, (uint16_t)k->a0);
        if (r2 == 0)
            dp_note_udp_port(dp, (uint16_t)k->a0);
        return r2;
    }
    case IX_OP_UDP_SEND:
    case IX_OP_UDP_SENDV: {
        int n;
        if (k->op == IX_OP_UDP_SEND) {
            if (k->a1 == 0 || k->a1 > 0xffff)
                return -IX_EINVAL;
            if (!app_range_ok(a, k->a0, k->a1, VMA_R))
                return -IX_EFAULT;
            iov[0].base = (const void *)k->a0;
            iov[0].len = (uint32_t)k->a1;
            n = 1;
        } else {
            n = load_sg(a, k->a0, k->a1, NET_IOV_MAX, iov);
            if (n < 0)
                return n;
        }
        uint64_t t = k->a2;
        if (!port_ok(ix_tuple_rport(t)) || !port_ok(ix_tuple_lport(t)))
            return -IX_EINVAL;
        return udp_send(nc, iov, n, ix_tuple_raddr(t), ix_tuple_rport(t), ix_tuple_lport(t), k->a0);
    }
    case IX_OP_UDP_RECV_DONE: {
        uint64_t ka = dp_pool_from_app(dp, k->a0);
        if (!ka)
            return -IX_EFAULT;
        return udp_recv_done(nc, (uintptr_t)ka);
    }
    case IX_OP_TIMER_ARM:
        if (k->a1 > 3600ull * 1000000)
            return -IX_EINVAL;
        return dp_timer_arm(dp, k->a0, k->a1, &k->ret);
    case IX_OP_TIMER_CANCEL:
        return dp_timer_cancel(dp, k->a0);
    default:
        return -IX_ENOSYS;
    }
}
