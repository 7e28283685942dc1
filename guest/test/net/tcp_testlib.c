/* TCP test helpers; see tcp_testlib.h. */
#include "tcp_testlib.h"

#include <string.h>

#include "../../net/csum.h"
#include "../../net/tcp_int.h"
#include "../../net/wire/eth.h"
#include "../../net/wire/ipv4.h"

struct tl *tt_new(void)
{
    struct tl *t = tl_new();
    tl_learn_peer(t, TL_PEER, TL_PEER_MAC);
    tl_tx_clear(t);
    tl_events_reset(t);
    return t;
}

void tt_advance(struct tl *t, uint64_t us)
{
    tl_now_us += us;
    net_poll_timers(&t->c);
}

void tt_send(struct tl *t, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
             uint16_t win, const void *payload, uint32_t plen, const uint8_t *opts, uint32_t optlen)
{
    tt_send_from(t, TL_PEER, sport, dport, seq, ack, flags, win, payload, plen, opts, optlen);
}

void tt_send_from(struct tl *t, uint32_t src, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                  uint8_t flags, uint16_t win, const void *payload, uint32_t plen, const uint8_t *opts,
                  uint32_t optlen)
{
    uint8_t l4[2048], frame[2100];
    uint32_t hlen = TCP_HLEN_MIN + optlen;
    tcp_write(l4, sport, dport, seq, ack, hlen, flags, win);
    if (optlen)
        memcpy(l4 + TCP_HLEN_MIN, opts, optlen);
    if (plen)
        memcpy(l4 + hlen, payload, plen);
    uint32_t sum = csum_pseudo(src, TL_ADDR, NET_PROTO_TCP, hlen + plen);
    tcp_set_csum(l4, csum_fold(csum_partial(l4, hlen + plen, sum)));
    uint32_t n = tl_ipv4(frame, src, TL_ADDR, NET_PROTO_TCP, l4, hlen + plen);
    tl_inject(t, frame, n);
}

int tt_seg_at(struct tl *t, unsigned i, struct tt_seg *s)
{
    const struct tl_frame *f = &t->tx[i % TL_TX_MAX];
    if (f->len < ETH_HLEN + IPV4_HLEN_MIN + TCP_HLEN_MIN)
        return 0;
    const uint8_t *ip = f->buf + ETH_HLEN;
    if (eth_type(f->buf) != ETH_TYPE_IPV4 || ipv4_proto(ip) != NET_PROTO_TCP)
        return 0;
    uint32_t tot = ipv4_total_len(ip);
    const uint8_t *h = ip + ipv4_hlen(ip);
    uint32_t l4 = tot - ipv4_hlen(ip);
    memset(s, 0, sizeof(*s));
    s->sport = tcp_sport(h);
    s->dport = tcp_dport(h);
    s->seq = tcp_seq(h);
    s->ack = tcp_ack(h);
    s->flags = tcp_flags(h);
    s->win = tcp_win(h);
    s->plen = l4 - tcp_hlen(h);
    if (s->plen > sizeof(s->payload))
        abort();
    memcpy(s->payload, h + tcp_hlen(h), s->plen);
    tcp_parse_opts(h, l4, &s->o);
    uint32_t sum = csum_pseudo(ipv4_src(ip), ipv4_dst(ip), NET_PROTO_TCP, l4);
    s->csum_ok = csum_fold(csum_partial(h, l4, sum)) == 0;
    return 1;
}

int tt_next(struct tl *t, unsigned *cursor, struct tt_seg *s)
{
    while (*cursor < t->ntx) {
        unsigned i = (*cursor)++;
        if (tt_seg_at(t, i, s)) {
            if (!s->csum_ok)
                fprintf(stderr, "tt_next: bad TCP checksum in frame %u\n", i);
            CHECK(s->csum_ok);
            return 1;
        }
    }
    return 0;
}

const struct ix_event *tt_event(struct tl *t, uint32_t type, unsigned *from)
{
    for (unsigned i = from ? *from : 0; i < t->c.ev_len; i++)
        if (t->c.ev[i].type == type) {
            if (from)
                *from = i + 1;
            return &t->c.ev[i];
        }
    return NULL;
}

uint32_t tt_syn_opts(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
    uint32_t n = tcp_put_opt_mss(o, 1460);
    o[n++] = TCP_OPT_SACK_OK;
    o[n++] = 2;
    o[n++] = TCP_OPT_TS;
    o[n++] = 10;
    net_put32(o + n, tsval);
    net_put32(o + n + 4, tsecr);
    n += 8;
    n += tcp_put_opt_wscale(o + n, 7);
    return n;
}

void tt_free(struct tl *t)
{
    tl_events_reset(t);
    tcp_flush_events(&t->c);
    CHECK_EQ(tcp_conns_in_use(&t->c), 0);
    CHECK_EQ(t->c.counters.copies, 0);
    tl_free(t);
}
