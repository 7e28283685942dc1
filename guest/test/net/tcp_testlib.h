/* TCP test helpers on top of testlib: a scripted Linux-like peer at TL_PEER that injects
 * segments (with options) and decodes what the stack transmitted. */
#ifndef IX_TEST_NET_TCP_TESTLIB_H
#define IX_TEST_NET_TCP_TESTLIB_H

#include "testlib.h"
#include "../../net/tcp.h"
#include "../../net/wire/tcp.h"

struct tt_seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    uint32_t plen;
    uint8_t payload[1600];
    struct tcp_opts o;
    int csum_ok;
};

/* A stack (tl_new) with the peer's MAC learned and the events array reset. */
struct tl *tt_new(void);
/* Advance the fake clock and run timers. */
void tt_advance(struct tl *t, uint64_t us);
/* Inject a segment from TL_PEER:sport to the stack's dport. opts/optlen: raw options
 * (multiple of 4). */
void tt_send(struct tl *t, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
             uint16_t win, const void *payload, uint32_t plen, const uint8_t *opts, uint32_t optlen);
/* The same from another address of the subnet (a spoofed source nobody answers ARP for). */
void tt_send_from(struct tl *t, uint32_t src, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                  uint8_t flags, uint16_t win, const void *payload, uint32_t plen, const uint8_t *opts,
                  uint32_t optlen);
/* Decode captured TX frame number i (0 .. t->ntx-1, within the last TL_TX_MAX); 0 if not TCP. */
int tt_seg_at(struct tl *t, unsigned i, struct tt_seg *s);
/* The next segment after *cursor; 0 if none. */
int tt_next(struct tl *t, unsigned *cursor, struct tt_seg *s);
/* Find an event of the given type in the current array (from index *from); NULL if none. */
const struct ix_event *tt_event(struct tl *t, uint32_t type, unsigned *from);
/* Standard SYN options like Linux: MSS 1460, SACK_PERM, TS, NOP, WS 7. Returns length. */
uint32_t tt_syn_opts(uint8_t *o, uint32_t tsval, uint32_t tsecr);
/* Counters/leak check at the end of a test: no connections, no mbufs. Frees t. */
void tt_free(struct tl *t);

#endif
