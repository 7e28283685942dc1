/* TCP internals shared by guest/net/tcp_*.c (not for users of the stack: see tcp.h). */
#ifndef IX_NET_TCP_INT_H
#define IX_NET_TCP_INT_H

#include "core.h"
#include "mbuf.h"
#include "tcp.h"
#include "timer.h"
#include "wire/tcp.h"

#define TCP_SB_MAX 8 /* SACK scoreboard ranges per connection */

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
    uint16_t backlog;
    uint16_t pending;   /* SYN_RECEIVED + established but not accepted yet */
};

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
    bool app_ref;            /* the app holds a valid handle */
    bool accepted;           /* events may be posted (passive: after tcp_accept) */
    bool app_closed;         /* tcp_close called */
    bool on_pend;
    bool synced;             /* reached ESTABLISHED (CONNECTED/KNOCK queued) */
    bool dead_posted;        /* IX_EV_TCP_DEAD has been posted */
    bool ts_on;              /* timestamps negotiated */
    bool ws_on;              /* window scaling negotiated */
    bool sack_seen;          /* the peer offered SACK-permitted */
    bool sack_on;            /* SACK negotiated: our ACKs carry SACK blocks */
    uint8_t snd_ws, rcv_ws;  /* window shifts (0 if not negotiated) */
    uint8_t dupacks;
    bool in_recovery;
    bool loss_state;         /* SACK recovery after an RTO: everything not SACKed is lost */
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
    uint32_t high_rxt;       /* RFC 6675 HighRxt */
    uint32_t head_rxt_mark;  /* snd_max when the head hole was last retransmitted */
    uint64_t head_rxt_us;    /* ... and when (0 = not retransmitted) */
    uint32_t rtt_seq;
    uint64_t rtt_start;
    uint32_t srtt_us, rttvar_us, rto_us;
    uint32_t pend_sent;      /* bytes acked, not yet reported in IX_EV_TCP_SENT */
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
};

struct tcp_core {
    struct net_core *c;
    struct tcp_tunables tun;
    struct tcp_pcb *pcbs;
    unsigned max_conns, in_use;
    struct tcp_pcb *free_pcbs;
    struct tcp_pcb **hash;
    uint32_t hash_mask;
    struct tcp_slice *slices, *free_slices;
    uint32_t nslices, slices_free;
    struct tcp_listener listeners[16];
    struct tcp_pcb *pend_head, *pend_tail;
    struct timer t_pend;     /* retries deferred events from the timer run */
    struct mbuf *grave;      /* payload of dead connections the app may still be reading */
    uint16_t next_port;
    uint64_t isn_secret;
    struct timer_wheel wheel_storage;
};

#define TCP_TCTR(c, name) ((c)->counters.tcp[TCPC_##name]++)

static inline struct tcp_core *tcp_of(struct net_core *c) { return c->tcp; }
static inline uint64_t tcp_handle(const struct tcp_pcb *p) { return ((uint64_t)p->gen << 32) | p->idx; }
static inline uint32_t tcp_now_ms(void);

/* tcp_pcb.c */
struct tcp_pcb *tcp_pcb_alloc(struct net_core *c);
void tcp_pcb_free(struct net_core *c, struct tcp_pcb *p);   /* releases everything */
void tcp_pcb_hash(struct net_core *c, struct tcp_pcb *p);
struct tcp_pcb *tcp_pcb_lookup(struct net_core *c, uint32_t raddr, uint16_t rport, uint16_t lport);
struct tcp_pcb *tcp_pcb_from_handle(struct net_core *c, uint64_t h);
struct tcp_listener *tcp_listener_find(struct net_core *c, uint16_t port);
uint32_t tcp_isn(struct net_core *c, const struct tcp_pcb *p);
void tcp_pcb_init_conn(struct net_core *c, struct tcp_pcb *p); /* windows, RTO, cc defaults */
void tcp_slices_free(struct net_core *c, struct tcp_pcb *p);

/* tcp_output.c */
#define XF_ACKONLY 0x1u   /* no data, SYN or FIN: a pure ACK (or probe) at `seq` */
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

/* tcp_sack.c (only when p->sack_on) */
void tcp_sack_clear(struct tcp_pcb *p);
void tcp_sack_update(struct tcp_pcb *p, const struct tcp_opts *o);  /* after snd_una moved */
bool tcp_sack_head_lost(const struct tcp_pcb *p);
void tcp_sack_entered_recovery(struct tcp_pcb *p, uint32_t rxt_len);
void tcp_sack_partial_ack(struct tcp_pcb *p);
void tcp_sack_recover(struct net_core *c, struct tcp_pcb *p);

/* tcp_events.c */
void tcp_pend(struct net_core *c, struct tcp_pcb *p, uint8_t what);  /* set and try posting */
void tcp_flush_pcb(struct net_core *c, struct tcp_pcb *p);
void tcp_conn_dead(struct net_core *c, struct tcp_pcb *p, int reason); /* to CLOSED, report */
void tcp_maybe_release(struct net_core *c, struct tcp_pcb *p);
void tcp_rq_free(struct net_core *c, struct tcp_pcb *p);

/* tcp_input.c helpers used elsewhere */
void tcp_listener_drop_pending(struct tcp_pcb *p);

#include "plat.h"
static inline uint32_t tcp_now_ms(void) { return (uint32_t)(plat_now_us() / 1000u); }

#endif
