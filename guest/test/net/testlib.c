/* Host test library for the network stack; see testlib.h. */
#include "testlib.h"

#include <stdarg.h>
#include <string.h>

#include "../../net/arp.h"
#include "../../net/csum.h"
#include "../../net/eth.h"
#include "../../net/udp.h"
#include "../../net/wire/arp.h"
#include "../../net/wire/eth.h"
#include "../../net/wire/icmp.h"
#include "../../net/wire/ipv4.h"
#include "../../net/wire/udp.h"

const uint8_t TL_MAC[6] = {0x02, 0, 0, 0, 0, 0x02};
const uint8_t TL_PEER_MAC[6] = {0x02, 0, 0, 0, 0, 0x01};
uint64_t tl_now_us = 1000000;

/* The stack's link-time callbacks (net/stack_env.h, net/netif.h) for the unit tests. */
uint64_t env_now_us(void) { return tl_now_us; }

void env_log(const char *fmt, ...)
{
    if (getenv("TL_LOG") == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The capturing netif: gathers the header mbuf and the slices into one frame. */
int netif_tx(struct net_core *c, struct mbuf *hdr, const struct net_iov *iov, int iovcnt)
{
    struct tl *t = c->netif;
    if (t->tx_full)
        return -1;
    if (iovcnt < 0 || iovcnt > NET_IOV_MAX) {
        fprintf(stderr, "netif_tx: iovcnt %d out of range\n", iovcnt);
        abort();
    }
    struct tl_frame *f = &t->tx[t->ntx % TL_TX_MAX];
    uint32_t len = 0;
    if (hdr->len > sizeof(f->buf))
        abort();
    memcpy(f->buf, hdr->data, hdr->len);
    len = hdr->len;
    for (int i = 0; i < iovcnt; i++) {
        if (len + iov[i].len > sizeof(f->buf))
            abort();
        memcpy(f->buf + len, iov[i].base, iov[i].len);
        len += iov[i].len;
    }
    f->len = len;
    t->ntx++;
    t->ntx_total++;
    if (t->tx_hold && t->nheld < sizeof(t->held) / sizeof(t->held[0])) {
        t->held[t->nheld++] = hdr;
        return 0;
    }
    net_tx_complete(c, hdr);
    return 0;
}

static struct tl *tl_make(uint32_t ev_cap)
{
    struct tl *t = calloc(1, sizeof(*t));
    t->pool_mem = aligned_alloc(64, (size_t)TL_POOL_MBUFS * MBUF_SIZE + 64);
    t->mem = aligned_alloc(64, TL_MEM);
    memset(t->mem, 0, TL_MEM);
    if (mbuf_pool_init(&t->pool, t->pool_mem, (size_t)TL_POOL_MBUFS * MBUF_SIZE + 64) < TL_POOL_MBUFS)
        abort();
    struct net_config cfg = {.addr = TL_ADDR, .netmask = 0xffffff00u, .gateway = TL_PEER};
    memcpy(cfg.mac, TL_MAC, 6);
    int rc = net_init(&t->c, 0, &cfg, &t->pool, t->mem, TL_MEM, 64);
    if (rc != 0) {
        fprintf(stderr, "net_init: %d\n", rc);
        abort();
    }
    t->c.netif = t;
    net_events_begin(&t->c, t->ev, ev_cap);
    return t;
}

struct tl *tl_new(void) { return tl_make(TL_EV_MAX); }
struct tl *tl_new_ev(uint32_t ev_cap) { return tl_make(ev_cap < TL_EV_MAX ? ev_cap : TL_EV_MAX); }

void tl_events_reset(struct tl *t) { net_events_begin(&t->c, t->ev, t->c.ev_cap ? t->c.ev_cap : TL_EV_MAX); }

void tl_tx_release(struct tl *t)
{
    for (unsigned i = 0; i < t->nheld; i++)
        net_tx_complete(&t->c, t->held[i]);
    t->nheld = 0;
}

void tl_tx_clear(struct tl *t) { t->ntx = 0; }

void tl_free(struct tl *t)
{
    tl_tx_release(t);
    arp_flush(&t->c);
    /* Deferred UDP completions and lent UDP payloads are the test's to return; drain any
     * completions so only real leaks remain. */
    for (int i = 0; i < 1000 && udp_deferred(&t->c) > 0; i++)
        net_events_begin(&t->c, t->ev, TL_EV_MAX);
    CHECK_EQ(mbuf_pool_in_use(&t->pool), 0);
    CHECK_EQ(t->pool.double_frees, 0);
    free(t->pool_mem);
    free(t->mem);
    free(t);
}

void tl_inject(struct tl *t, const uint8_t *frame, uint32_t len)
{
    struct mbuf *m = mbuf_alloc(&t->pool);
    if (m == NULL) {
        fprintf(stderr, "tl_inject: pool exhausted (leak?)\n");
        abort();
    }
    if (len > MBUF_DATA_MAX)
        abort();
    memcpy(m->data, frame, len);
    m->len = len;
    t->rx_lo = (uintptr_t)m->data;
    t->rx_hi = (uintptr_t)m->data + len;
    net_input(&t->c, m);
}

void tl_learn_peer(struct tl *t, uint32_t ip, const uint8_t *mac)
{
    uint8_t f[64];
    uint32_t n = tl_arp(f, ARP_OP_REQUEST, mac, ip, (const uint8_t[6]){0}, TL_ADDR, eth_bcast_addr);
    tl_inject(t, f, n);
}

uint32_t tl_eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    eth_set_dst(buf, dst);
    eth_set_src(buf, src);
    eth_set_type(buf, type);
    return ETH_HLEN;
}

uint32_t tl_arp(uint8_t *buf, uint16_t op, const uint8_t *sha, uint32_t spa, const uint8_t *tha,
                uint32_t tpa, const uint8_t *edst)
{
    tl_eth(buf, edst, sha, ETH_TYPE_ARP);
    arp_write(buf + ETH_HLEN, op, sha, spa, tha, tpa);
    return ETH_HLEN + ARP_LEN;
}

uint32_t tl_ipv4(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
                 uint32_t l4len)
{
    tl_eth(buf, TL_MAC, TL_PEER_MAC, ETH_TYPE_IPV4);
    uint8_t *ip = buf + ETH_HLEN;
    ipv4_write(ip, (uint16_t)(IPV4_HLEN_MIN + l4len), 7, 64, proto, src, dst);
    ipv4_set_csum(ip, csum_fold(csum_partial(ip, IPV4_HLEN_MIN, 0)));
    memmove(ip + IPV4_HLEN_MIN, l4, l4len);
    return ETH_HLEN + IPV4_HLEN_MIN + l4len;
}

uint32_t tl_udp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                const void *payload, uint32_t plen)
{
    uint8_t l4[2048];
    udp_write(l4, sport, dport, (uint16_t)(UDP_HLEN + plen));
    if (plen)
        memcpy(l4 + UDP_HLEN, payload, plen);
    uint32_t s = csum_pseudo(src, dst, NET_PROTO_UDP, UDP_HLEN + plen);
    uint16_t sum = csum_fold(csum_partial(l4, UDP_HLEN + plen, s));
    udp_set_csum(l4, sum ? sum : 0xffff);
    return tl_ipv4(buf, src, dst, NET_PROTO_UDP, l4, UDP_HLEN + plen);
}

uint32_t tl_icmp_echo(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t type, uint16_t id,
                      uint16_t seq, const void *payload, uint32_t plen)
{
    uint8_t l4[2048];
    icmp_set_type(l4, type);
    icmp_set_code(l4, 0);
    icmp_set_csum(l4, 0);
    icmp_set_echo(l4, id, seq);
    if (plen)
        memcpy(l4 + ICMP_HLEN, payload, plen);
    icmp_set_csum(l4, csum_fold(csum_partial(l4, ICMP_HLEN + plen, 0)));
    return tl_ipv4(buf, src, dst, NET_PROTO_ICMP, l4, ICMP_HLEN + plen);
}

uint32_t tl_tcp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                uint32_t seq, uint32_t ack, uint8_t flags, const void *payload, uint32_t plen)
{
    uint8_t l4[2048];
    memset(l4, 0, 20);
    net_put16(l4 + 0, sport);
    net_put16(l4 + 2, dport);
    net_put32(l4 + 4, seq);
    net_put32(l4 + 8, ack);
    l4[12] = 5 << 4;
    l4[13] = flags;
    net_put16(l4 + 14, 65535);
    if (plen)
        memcpy(l4 + 20, payload, plen);
    uint32_t s = csum_pseudo(src, dst, NET_PROTO_TCP, 20 + plen);
    net_put16(l4 + 16, csum_fold(csum_partial(l4, 20 + plen, s)));
    return tl_ipv4(buf, src, dst, NET_PROTO_TCP, l4, 20 + plen);
}

const uint8_t *tl_parse_ipv4(const struct tl_frame *f, uint8_t *proto, uint32_t *src,
                             uint32_t *dst, uint32_t *l4len)
{
    if (f->len < ETH_HLEN + IPV4_HLEN_MIN || eth_type(f->buf) != ETH_TYPE_IPV4)
        return NULL;
    const uint8_t *ip = f->buf + ETH_HLEN;
    uint32_t hl = ipv4_hlen(ip), tot = ipv4_total_len(ip);
    if (ipv4_version(ip) != 4 || hl < IPV4_HLEN_MIN || tot < hl || ETH_HLEN + tot != f->len)
        return NULL;
    if (csum_fold(csum_partial(ip, hl, 0)) != 0)
        return NULL;
    *proto = ipv4_proto(ip);
    *src = ipv4_src(ip);
    *dst = ipv4_dst(ip);
    *l4len = tot - hl;
    return ip + hl;
}

int tl_l4_csum_ok(uint8_t proto, uint32_t src, uint32_t dst, const uint8_t *l4, uint32_t len)
{
    uint32_t s = proto == NET_PROTO_ICMP ? 0 : csum_pseudo(src, dst, proto, len);
    return csum_fold(csum_partial(l4, len, s)) == 0;
}

/* Recompute the IP header checksum of a frame (mutated headers still pass the check). */
void tl_fix_ip_csum(uint8_t *f, uint32_t len)
{
    if (len < ETH_HLEN + 20)
        return;
    uint8_t *ip = f + ETH_HLEN;
    uint32_t hl = ipv4_hlen(ip);
    if (hl < 20 || ETH_HLEN + hl > len)
        return;
    ipv4_set_csum(ip, 0);
    ipv4_set_csum(ip, csum_fold(csum_partial(ip, hl, 0)));
}
