/* kvstore: one client connection: input reassembly, reply queue, flow control.
 *
 * Input: received payloads are parsed in place. A command line split across segments is
 * gathered in lbuf (the only input copy besides storing a value into its item); a value is
 * copied straight from the segments into its new item. While the reply queue is full the
 * connection pauses: unparsed segments stay pinned in inq (not yet given back with
 * ixev_recv_done, so TCP flow control pushes back on the client) and parsing resumes when
 * acknowledgements free room.
 *
 * Output: replies are queued as pieces in outq, in stream order: header text lives in hring
 * (a ring whose bytes stay untouched until acknowledged), values are sent from item memory
 * with the item pinned. Pieces are handed to ixev_send at the end of each round, adjacent
 * header text coalesced into one piece. sent(n) walks outq to release what is acknowledged. */
#ifndef KV_CONN_H
#define KV_CONN_H
#include <ixev.h>
#include "store.h"
#include "meta.h"

#define KV_LINE_MAX 8192   /* longest command line split across segments (memcached answers lines
                              its 16 KB read buffer gets whole, closes on > 2 KB split ones) */
#define KV_HRING 8192      /* reply header ring */
#define KV_OUTQ IXEV_SENDQ /* never more pieces in flight than ixev can queue */
#define KV_INQ 512         /* received segments held while paused: a 256 KB window of >= 512 B segments */
#define KV_CBUF 24576      /* copies of small segments that arrive while paused (still held) */
#define KV_COPY_MAX 512    /* a segment up to this size is copied into cbuf while paused */
#define KV_OUT_MAX (512u << 10) /* reply bytes queued and not acknowledged before a command waits */
#define KV_CMD_ROOM 2048   /* header room a command needs before it starts (stats is ~1 KB) */

enum { KV_LINE, KV_DATA, KV_SWALLOW };
enum { OUT_HDR, OUT_ITEM };

/* A received segment, or a run of small segments copied into cbuf. Either way its bytes
 * are still held by the stack: they go back with ixev_recv_done once parsed, which keeps
 * the TCP window closed while the connection cannot answer. */
struct kv_in {
    const char *data;
    uint32_t len, off;
};

struct kv_out {
    const char *base;
    uint32_t len;
    uint32_t cost;          /* header ring bytes this piece holds (len + wasted ring tail) */
    struct kv_item *it;     /* OUT_ITEM: the pinned item */
    uint8_t kind;
};

struct kv_conn {
    struct ixev_ctx ctx;    /* first: ixev hands this back */
    /* input */
    struct kv_in inq[KV_INQ];
    uint32_t in_head, in_tail;
    uint8_t state;          /* KV_LINE / KV_DATA / KV_SWALLOW */
    uint8_t lbuf_done;      /* lbuf holds a whole line not executed yet */
    uint8_t eof;            /* the peer closed its side */
    uint8_t quitting;       /* close once every reply is acknowledged */
    uint8_t closed;         /* ixev_close issued */
    uint8_t in_drain;
    uint32_t lbuf_len;
    uint32_t lbuf_cut;
    uint8_t get_parted;     /* a part of the current multi-get has been answered */
    uint8_t skip_line;      /* drop input up to the next newline (a long line failed) */      /* lbuf holds a multi-get too long for it: keys before this run first */
    uint32_t resume;        /* get: offset of the next key in the current line, 0 = fresh */
    /* value being received */
    struct kv_item *pend;
    uint64_t data_left;     /* KV_DATA: bytes of value (+"\r\n") still to come; KV_SWALLOW too */
    uint32_t data_off;
    uint8_t pend_cmd, pend_noreply;
    uint8_t noreply;        /* the command being run said noreply: no reply at all */
    uint64_t pend_cas;
    struct kv_meta meta;    /* ms: its flags while the value arrives (key/opaque point into lbuf: copied) */
    char meta_text[KV_KEY_MAX + 48]; /* opaque at 0, the key token as sent at 40 */
    /* output */
    struct kv_out outq[KV_OUTQ];
    uint32_t out_head, out_sub, out_tail; /* acked < head <= sub (handed to ixev) <= tail */
    uint32_t out_acked;     /* bytes of outq[head] already acknowledged */
    uint32_t hr_head, hr_tail, hr_used;
    uint32_t hr_waste;      /* wasted bytes at the ring end, charged to the next piece */
    uint64_t out_bytes;     /* reply bytes queued and not yet acknowledged */
    uint32_t cb_head, cb_tail, cb_used; /* cbuf ring: write position, oldest live byte, live bytes */
    struct kv_conn *next_free;
    char lbuf[KV_LINE_MAX];
    char hring[KV_HRING];
    char cbuf[KV_CBUF];
};

void kv_conn_init(struct kv_conn *c);
void kv_conn_recv(struct kv_conn *c, const void *data, size_t len);
void kv_conn_sent(struct kv_conn *c, size_t bytes);
void kv_conn_eof(struct kv_conn *c);
/* The connection is gone: release pins, the value being received and held segments. */
void kv_conn_dead(struct kv_conn *c);

/* For the command layer (cmd.c). */
int kv_out_room(struct kv_conn *c, uint32_t bytes, uint32_t pieces);
char *kv_out_reserve(struct kv_conn *c, uint32_t max); /* NULL if no contiguous room */
void kv_out_commit(struct kv_conn *c, uint32_t n);     /* after kv_out_reserve */
void kv_out_str(struct kv_conn *c, const char *s);     /* room must have been checked */
/* Queue an item's value; takes over a pin the caller holds (kv_pin under the lock). */
void kv_out_item(struct kv_conn *c, struct kv_item *it);


/* cmd.c: execute one command line (without its "\n"; a trailing "\r" is allowed).
 * Returns 1 when done, 0 when it must wait for reply room (c->resume says where to go on). */
int kv_cmd_line(struct kv_conn *c, const char *line, uint32_t len);
/* The core this instance serves and the store clock of the unix epoch, for stats. */
extern uint32_t kv_core;
/* cmd.c: a multi-get line longer than lbuf, in parts: `len` ends after a complete key.
 * The keys of [0, len) are answered without the final END. Returns like kv_cmd_line, 2 when
 * a key was bad (answered with an error: the rest of the line must be skipped), or -1
 * when the line is no get/gets; *prefix is set to the length of "get " (up to the 1st key). */
int kv_cmd_get_part(struct kv_conn *c, const char *line, uint32_t len, uint32_t *prefix);
/* cmd.c: the value of a storage command has been received completely. */
void kv_cmd_value_done(struct kv_conn *c);
/* stats.c: `stats` and its sub-commands */
struct kv_tok;
void kv_cmd_stats(struct kv_conn *c, struct kv_tok *t, uint32_t ntok);

#endif
