/* TCP internals shared by guest/net/tcp_*.c (not for users of the stack: see tcp.h). */
#ifndef IX_NET_TCP_INT_H
#define IX_NET_TCP_INT_H

#include "core.h"
#include "mbuf.h"
#include "siphash.h"
#include "tcp.h"
#include "tcp_migrate.h"
#include "timer.h"
#include "wire/tcp.h"

#define TCP_SB_MAX 8 /* SACK scoreboard ranges per connection */

/* Per-segment send state of a SACK connection (tcp_sack.c, tcp_rack.c): one record per
 * transmitted range of sequence space (normally one segment, a FIN included), kept in
 * sequence order; together they cover exactly [snd_una, snd_max). A record holds sequence
 * numbers and a time, never data: the bytes stay in the app memory the send queue
 * references (zero copy). Records come from a per-core pool; index 0 means "none". */
struct tcp_seg {
    uint32_t next;      /* next record in sequence order */
    uint32_t seq, end;  /* [seq, end) */
    uint32_t flags;     /* SEGF_* */
    uint64_t xmit_us;   /* time of its latest (re)transmission */
};
#define SEGF_SACKED 0x1u   /* the receiver reported it in a SACK block */
#define SEGF_LOST 0x2u     /* marked lost (RACK, RTO, DupThresh fallback): to be resent */
#define SEGF_RTX 0x4u      /* a retransmission of it is in flight (counts in pipe) */
#define SEGF_EVER_RTX 0x8u /* retransmitted at least once: its RTT sample is ambiguous */
#define TCP_SEG_CONN_MAX 1024u       /* records per connection; beyond: merged into the tail */
#define TCP_SEG_MERGE_MAX (64u << 10) /* a merged record stays below this */

/* RACK (RFC 8985 §6) and TLP (§7) state of a SACK connection. */
struct tcp_rack {
    uint64_t xmit_us;     /* RACK.xmit_ts: latest send time of a delivered segment */
    uint32_t end;         /* RACK.end_seq: that segment's end (ties on xmit_us) */
    uint32_t rtt_us;      /* RACK.rtt: its RTT */
    uint32_t min_rtt_us;  /* windowed minimum RTT (reo_wnd = min_rtt / 4) */
    uint64_t min_rtt_at;
    uint32_t fack;        /* highest sequence delivered (ACKed or SACKed) */
    uint32_t fack_ack;    /* fack before the ACK being processed (reordering check) */
    bool valid;           /* xmit_us/end/rtt_us describe a delivered segment */
    bool have_min;
    bool reord;           /* RACK.reordering_seen */
    bool advanced;        /* this ACK delivered a segment sent after the previous RACK one */
    bool tlp_out;         /* TLP.end_seq != None: a probe is outstanding (one per episode) */
    bool tlp_rtx;         /* TLP.is_retrans: the probe was a retransmission */
    uint32_t tlp_end;     /* TLP.end_seq */
};

enum tcp_state {
    TCPS_CLOSED = 0,
    TCPS_LISTEN,        /* listeners are not PCBs; kept for completeness */
    TCPS_SYN_SENT,
    TCPS_SYN_RECEIVED,
    TCPS_ESTABLISHED,
    TCPS_FIN_WAIT_1,
    TCPS_FIN_WAIT_2,
    TCPS_CLOSE_WAIT,
    TCPS_CLOSING,
    TCPS_LAST_ACK,
    TCPS_TIME_WAIT,
};

/* One slice of app memory referenced by sendv (zero copy until acknowledged). */
struct tcp_slice {
    struct tcp_slice *next;
    const uint8_t *base;
    uint32_t len;
};

struct tcp_listener {
    uint16_t port;      /* 0 = free slot */
    uint16_t backlog;   /* accept queue: established, not accepted yet (pending - half) */
    uint16_t pending;   /* SYN_RECEIVED + established but not accepted yet */
    uint16_t half;      /* of which half-open (SYN_RECEIVED, from the half-open reserve) */
};

/* Half-open connections live in a reserve of control blocks of their own, beyond the
 * max_conns of connections proper, so a SYN flood can never take a block a connection
 * needs. Per listener at most min(backlog, TCP_HALF_OPEN_MAX); past that, SYN cookies. */
#define TCP_HALF_OPEN_MAX 256u

/* Deferred events (bits of pcb->pend). */
#define PEND_KNOCK 0x01u
#define PEND_CONNECTED 0x02u
#define PEND_EOF 0x04u
#define PEND_DEAD 0x08u

struct tcp_pcb {
    /* identity and lookup */
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    uint32_t idx, gen;
    uint8_t state;
    bool in_use;
    bool passive;            /* came from a listener */
    bool half;               /* half-open: holds a block of the half-open reserve */
    bool app_ref;            /* the app holds a valid handle */
    bool accepted;           /* events may be posted (passive: after tcp_accept) */
    bool app_closed;         /* tcp_close called */
    bool on_pend;
    bool synced;             /* reached ESTABLISHED (CONNECTED/KNOCK queued) */
    bool dead_posted;        /* IX_EV_TCP_DEAD has been posted */
    bool ts_on;              /* timestamps negotiated */
    bool ws_on;              /* window scaling negotiated */
    bool sack_seen;          /* the peer offered SACK-permitted */
    bool sack_on;            /* SACK negotiated: our ACKs carry SACK blocks, our sender
                              * runs RACK-TLP on per-segment records */
    uint8_t snd_ws, rcv_ws;  /* window shifts (0 if not negotiated) */
    uint8_t dupacks;
    bool in_recovery;
    bool loss_state;         /* SACK: in RTO recovery (in_recovery too), not fast recovery */
    bool rtt_timing;
    bool fin_queued;         /* our FIN is at seq fin_seq */
    bool fin_rcvd;
    uint8_t pend;            /* PEND_* */
    uint8_t rto_count;       /* retransmission timeouts in a row */
    uint8_t probes;          /* zero-window / keepalive probes in a row */
    uint8_t quickack;        /* ACK the next segments at once */
    uint8_t unacked_segs;    /* in-order segments received and not yet ACKed */
    int32_t conn_outcome;    /* for PEND_CONNECTED */
    int32_t dead_reason;     /* for PEND_DEAD */
    uint64_t cookie;
    struct tcp_listener *listener;  /* until accepted or rejected */
    struct tcp_pcb *hnext;   /* hash chain */
    struct tcp_pcb *lnext;   /* free list / pending-events list */

    /* send side */
    uint32_t iss, snd_una, snd_nxt, snd_max;
    uint32_t snd_wnd, max_sndwnd, snd_wl1, snd_wl2;
    uint32_t snd_end;        /* seq after the last byte the app queued */
    uint32_t fin_seq;
    uint16_t mss;            /* payload bytes per segment (after options) */
    uint32_t cwnd, ssthresh, recover;
    uint32_t last_ack_adv;   /* bytes the last snd_una-advancing ACK covered (RFC 6582 §4.2) */
    /* SACK scoreboard (tcp_sack.c) */
    uint8_t nsb;
    uint32_t sb_l[TCP_SB_MAX], sb_r[TCP_SB_MAX];
    /* per-segment records (tcp_sack.c) and what their flags add up to */
    uint32_t sg_head, sg_tail, sg_count;
    uint32_t sg_spare;       /* a record reserved for the next new data (0 = none) */
    uint32_t sacked_bytes, sacked_segs;   /* SEGF_SACKED */
    uint32_t lost_bytes;     /* SEGF_LOST, not SACKed */
    uint32_t rtx_bytes;      /* SEGF_RTX, not SACKed (retransmissions in flight) */
    uint32_t rexmit_bytes;   /* SEGF_LOST without SEGF_RTX: waiting to be resent */
    uint32_t ever_rtx_segs;  /* records with SEGF_EVER_RTX */
    bool fr_first;           /* the next retransmission is the recovery's first (counted as
                              * a fast retransmit, not as a SACK retransmission) */
    uint32_t prr_delivered, prr_out, prr_recover_fs;  /* PRR (RFC 6937), tcp_cc.c */
    uint32_t cwnd_acc;       /* bytes ACKed towards the next congestion avoidance step */
    struct tcp_rack rk;
    uint32_t rtt_seq;
    uint64_t rtt_start;
    uint32_t srtt_us, rttvar_us, rto_us;
    uint32_t pend_sent;      /* bytes acked, not yet reported in IX_EV_TCP_SENT */
    bool sent_since_input;   /* the app sent data after the last input posted to it (tcp_sendv) */
    struct tcp_slice *sq_head, *sq_tail;
    uint32_t sq_seq;         /* seq of sq_head->base[0] */
    struct tcp_slice *cur;   /* send cursor: slice holding cur_seq (NULL = unknown) */
    uint32_t cur_seq;

    /* receive side */
    uint32_t irs, rcv_nxt, rcv_adv;   /* rcv_adv: right edge of the window we advertised */
    uint32_t rcv_held;       /* payload bytes delivered/queued and not recv_done'd */
    uint32_t rq_off;         /* bytes of rq_head already consumed by recv_done */
    struct mbuf *rq_head, *rq_tail;   /* in-order payload mbufs (aux = seq) */
    struct mbuf *rq_post;    /* first mbuf of rq not posted yet (NULL = all posted) */
    uint32_t posted_unread;  /* bytes posted to the app and not recv_done'd */
    struct mbuf *ooo;        /* out-of-order mbufs sorted by seq; aux = seq | FIN << 32 */
    uint32_t ooo_cnt;
    uint32_t sack_last;      /* seq of the latest out-of-order segment (first SACK block) */
    uint32_t ts_recent;
    uint64_t last_rx_us;     /* keepalive idle clock */

    struct timer t_rtx;      /* retransmission / persist */
    struct timer t_dack;     /* delayed ACK */
    struct timer t_misc;     /* keepalive, FIN_WAIT_2, TIME_WAIT */
    struct timer t_rack;     /* RACK reordering timer (tcp_rack.c) */
    struct timer t_tlp;      /* tail loss probe timer (tcp_rack.c) */
};

struct tcp_core {
    struct net_core *c;
    struct tcp_tunables tun;
    struct tcp_pcb *pcbs;    /* npcbs = max_conns + half_max blocks */
    unsigned max_conns, in_use;
    unsigned npcbs, half_max, half_open;  /* half_open of in_use are half-open */
    struct tcp_pcb *free_pcbs;
    struct tcp_pcb **hash;
    uint32_t hash_mask;      /* buckets - 1 (a power of two) */
    unsigned hash_shift;     /* 64 - log2(buckets) */
    uint64_t hash_mul;       /* secret odd multiplier of the 4-tuple hash, from `key` */
    struct tcp_slice *slices, *free_slices;
    uint32_t nslices, slices_free;
    struct tcp_seg *segs;    /* record pool: segs[1 .. nsegs]; segs[0] unused ("none") */
    uint32_t nsegs, free_seg, segs_free;
    struct tcp_listener listeners[16];
    struct tcp_pcb *pend_head, *pend_tail;
    struct timer t_pend;     /* retries deferred events from the timer run */
    struct mbuf *grave;      /* payload of dead connections the app may still be reading */
    struct tcp_mig_groups mig_hold;  /* flow groups whose received data is held (tcp_migrate.c) */
    bool mig_hold_on;
    uint16_t next_port;
    uint64_t isn_secret;
    struct siphash_key key;  /* per-boot secret: ISNs (RFC 6528 F) and SYN cookies */
    uint64_t flood_log_us;   /* last "SYN flood" log line (rate limit) */
    uint64_t flood_cookies;  /* TCPC_SYNCOOKIE_SENT at that line */
    struct timer_wheel wheel_storage;
};

/* The lookup hash's fixed mix before the secret multiply (tcp_pcb.c, tuple_hash): a
 * bijection on 64-bit tuples, so distinct tuples stay distinct. */
#define TCP_HASH_MIX_MUL 0x9e3779b97f4a7c15ull
static inline uint64_t tcp_tuple_mix(uint64_t k)
{
    k ^= k >> 31;
    k *= TCP_HASH_MIX_MUL;
    k ^= k >> 29;
    return k;
}

#define TCP_TCTR(c, name) ((c)->counters.tcp[TCPC_##name]++)

static inline struct tcp_core *tcp_of(struct net_core *c) { return c->tcp; }
static inline uint64_t tcp_handle(const struct tcp_pcb *p) { return ((uint64_t)p->gen << 32) | p->idx; }
static inline uint32_t tcp_now_ms(void);

/* States in which data (and our FIN) may be sent. */
static inline bool tcp_can_send_data(uint8_t st)
{
    return st == TCPS_ESTABLISHED || st == TCPS_CLOSE_WAIT || st == TCPS_FIN_WAIT_1 ||
           st == TCPS_CLOSING || st == TCPS_LAST_ACK;
}

/* tcp_pcb.c */
struct tcp_pcb *tcp_pcb_alloc(struct net_core *c);          /* a connection's block */
struct tcp_pcb *tcp_pcb_alloc_half(struct net_core *c);     /* from the half-open reserve */
bool tcp_pcb_promote(struct net_core *c, struct tcp_pcb *p); /* half-open -> connection */
void tcp_pcb_free(struct net_core *c, struct tcp_pcb *p);   /* releases everything */
void tcp_pcb_hash(struct net_core *c, struct tcp_pcb *p);
struct tcp_pcb *tcp_pcb_lookup(struct net_core *c, uint32_t raddr, uint16_t rport, uint16_t lport);
struct tcp_pcb *tcp_pcb_from_handle(struct net_core *c, uint64_t h);
struct tcp_listener *tcp_listener_find(struct net_core *c, uint16_t port);
uint32_t tcp_isn(struct net_core *c, const struct tcp_pcb *p);
uint32_t tcp_isn_tuple(struct net_core *c, uint32_t laddr, uint32_t raddr, uint16_t lport, uint16_t rport);
void tcp_pcb_init_conn(struct net_core *c, struct tcp_pcb *p); /* windows, RTO, cc defaults */
void tcp_slices_free(struct net_core *c, struct tcp_pcb *p);

/* tcp_output.c */
#define XF_ACKONLY 0x1u   /* no data, SYN or FIN: a pure ACK (or probe) at `seq` */
#define XF_STATELESS 0x2u /* a SYN cookie's SYN-ACK from a scratch PCB: no timers, no RTT */
int tcp_xmit(struct net_core *c, struct tcp_pcb *p, uint32_t seq, uint32_t maxlen, unsigned xf);
void tcp_output(struct net_core *c, struct tcp_pcb *p);         /* send what the windows allow */
void tcp_send_ack(struct net_core *c, struct tcp_pcb *p);
void tcp_send_rst(struct net_core *c, uint32_t laddr, uint32_t raddr, uint16_t lport, uint16_t rport,
                  uint32_t seq, uint32_t ack, bool with_ack);
void tcp_send_probe(struct net_core *c, struct tcp_pcb *p);     /* seq snd_una-1, elicits an ACK */
uint32_t tcp_rcv_window(const struct net_core *c, const struct tcp_pcb *p);
uint16_t tcp_our_mss(const struct net_core *c);

/* tcp_timer.c */
void tcp_timers_init(struct tcp_pcb *p);
void tcp_timers_cancel(struct net_core *c, struct tcp_pcb *p);
void tcp_rearm_rtx(struct net_core *c, struct tcp_pcb *p);      /* after sending / acking */
void tcp_arm_dack(struct net_core *c, struct tcp_pcb *p);
void tcp_arm_misc(struct net_core *c, struct tcp_pcb *p, uint64_t delay_us);
void tcp_enter_time_wait(struct net_core *c, struct tcp_pcb *p);
void tcp_rtt_sample(struct net_core *c, struct tcp_pcb *p, uint32_t rtt_us);
void tcp_keepalive_reset(struct net_core *c, struct tcp_pcb *p);

/* tcp_cc.c (NewReno) */
void tcp_cc_init(struct net_core *c, struct tcp_pcb *p);
void tcp_cc_ack(struct net_core *c, struct tcp_pcb *p, uint32_t acked);  /* new data acked */
bool tcp_cc_dupack(struct net_core *c, struct tcp_pcb *p);  /* true: fast retransmit now */
void tcp_cc_rto(struct net_core *c, struct tcp_pcb *p);
void tcp_cc_enter_recovery(struct net_core *c, struct tcp_pcb *p); /* SACK: a loss was found */
void tcp_cc_tlp_loss(struct net_core *c, struct tcp_pcb *p);       /* a probe repaired a loss */
void tcp_cc_prr(struct net_core *c, struct tcp_pcb *p, uint32_t delivered); /* cwnd in recovery */

/* tcp_sack.c (only when p->sack_on): records, scoreboard, pipe, retransmissions */
void tcp_sack_clear(struct tcp_pcb *p);
void tcp_sack_update(struct tcp_pcb *p, const struct tcp_opts *o);  /* after snd_una moved */
uint32_t tcp_segs_pool_size(unsigned max_conns);
void tcp_segs_pool_init(struct tcp_core *tc, struct tcp_seg *segs, uint32_t n);
bool tcp_seg_reserve(struct net_core *c, struct tcp_pcb *p);  /* room to record new data */
void tcp_seg_sent(struct net_core *c, struct tcp_pcb *p, uint32_t seq, uint32_t end);
void tcp_segs_free(struct net_core *c, struct tcp_pcb *p);
void tcp_segs_acked(struct net_core *c, struct tcp_pcb *p, uint32_t ack, uint64_t now);
void tcp_segs_sacked(struct net_core *c, struct tcp_pcb *p, const struct tcp_opts *o, uint64_t now);
void tcp_sack_forget(struct net_core *c, struct tcp_pcb *p);  /* a second RTO: maybe reneged */
void tcp_seg_mark_lost(struct tcp_pcb *p, struct tcp_seg *r);
uint32_t tcp_sack_pipe(const struct tcp_pcb *p);
bool tcp_sack_rexmit(struct net_core *c, struct tcp_pcb *p, bool force);
static inline struct tcp_seg *tcp_seg_of(struct net_core *c, uint32_t i) { return &c->tcp->segs[i]; }

/* tcp_rack.c (only when p->sack_on): RACK-TLP, RFC 8985 */
void tcp_rack_init(struct tcp_pcb *p);
void tcp_rack_delivered(struct tcp_pcb *p, const struct tcp_seg *r, uint64_t now);
void tcp_rack_ack(struct net_core *c, struct tcp_pcb *p, const struct tcp_opts *o, uint32_t acked,
                  bool pure_dup);
void tcp_rack_rto(struct net_core *c, struct tcp_pcb *p);
void tcp_rack_min_rtt(struct tcp_pcb *p, uint32_t rtt_us, uint64_t now);
void tcp_tlp_arm(struct net_core *c, struct tcp_pcb *p);
void tcp_rack_timers_init(struct tcp_pcb *p);

/* tcp_events.c */
void tcp_pend(struct net_core *c, struct tcp_pcb *p, uint8_t what);  /* set and try posting */
void tcp_flush_pcb(struct net_core *c, struct tcp_pcb *p);
/* tcp_migrate.c: is p's received data held back from the app (its flow group is moving)? */
bool tcp_mig_holding(const struct net_core *c, const struct tcp_pcb *p);
void tcp_conn_dead(struct net_core *c, struct tcp_pcb *p, int reason); /* to CLOSED, report */
void tcp_maybe_release(struct net_core *c, struct tcp_pcb *p);
void tcp_rq_free(struct net_core *c, struct tcp_pcb *p);

/* tcp_pcb.c: a SYN_RECEIVED connection leaves its listener's backlog */
void tcp_listener_drop_pending(struct tcp_pcb *p);

/* An arriving segment's header fields, parsed once by tcp_input (tcp_input.c). */
struct tcp_rx_seg {
    uint32_t seq, ack, wnd;
    uint32_t plen;         /* payload bytes */
    uint8_t flags;
    struct tcp_opts o;
};

/* tcp_handshake.c: input for no connection, for a listener, for SYN_SENT */
void tcp_reset_no_pcb(struct net_core *c, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                      const struct tcp_rx_seg *s);
void tcp_passive_open(struct net_core *c, struct tcp_listener *l, uint32_t src, uint32_t dst,
                      uint16_t sport, uint16_t dport, const struct tcp_rx_seg *s);
void tcp_syn_sent_input(struct net_core *c, struct tcp_pcb *p, struct tcp_rx_seg *s);
void tcp_syn_recv_init(struct net_core *c, struct tcp_pcb *p, struct tcp_listener *l, uint32_t src,
                       uint32_t dst, uint16_t sport, uint16_t dport, const struct tcp_rx_seg *s, uint32_t iss);

/* tcp_synflood.c: past the half-open bound. A SYN answered with a cookie SYN-ACK (no state
 * kept). */
void tcp_cookie_syn_ack(struct net_core *c, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                        const struct tcp_rx_seg *s);
/* An ACK for a listener and no connection: a connection in SYN_RECEIVED (to be completed by
 * that ACK) if it carries a valid SYN cookie, else NULL (the caller answers with RST). */
struct tcp_pcb *tcp_cookie_open(struct net_core *c, struct tcp_listener *l, uint32_t src, uint32_t dst,
                                uint16_t sport, uint16_t dport, const struct tcp_rx_seg *s);
/* An ACK for our half-open connection p (SYN_RECEIVED) that acknowledges another ISS. When
 * that ISS is a valid cookie for the same SYN (the SYN was answered with a cookie, its
 * retransmission found a half-open slot free and got p), the peer completed the cookie's
 * handshake: p is freed and *pp becomes the cookie's connection (NULL if the accept queue or
 * the pool is full: dropped, the peer retransmits). False (nothing changed) otherwise. */
bool tcp_cookie_supersede(struct net_core *c, struct tcp_pcb **pp, const struct tcp_rx_seg *s);

#include "stack_env.h"
static inline uint32_t tcp_now_ms(void) { return (uint32_t)(env_now_us() / 1000u); }

#endif
