/* kvstore: shared between the command files (cmd.c: dispatch, retrieval and the small
 * commands; cmd_store.c: storage commands and incr/decr). */
#ifndef KV_CMD_H
#define KV_CMD_H
#include "conn.h"
#include "proto.h"

#define KV_VERSION "1.6.0"

/* A reply line ("\r\n" added), unless the command said noreply (c->noreply): memcached then
 * answers nothing at all, errors included. */
void kv_reply(struct kv_conn *c, const char *s);
void kv_reply_fmt(struct kv_conn *c, uint32_t max, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* memcached's set_noreply_maybe: the last token is "noreply" */
int kv_noreply_maybe(struct kv_conn *c, const struct kv_tok *t, uint32_t ntok);

enum { C_SET = 1, C_ADD, C_REPLACE, C_APPEND, C_PREPEND, C_CAS, C_META };
void kv_cmd_store(struct kv_conn *c, int cmd, struct kv_tok *t, uint32_t ntok);
/* append/prepend: a new item holding old + add (lock held); NULL when too large or no memory */
struct kv_item *kv_concat(struct kv_item *old, struct kv_item *add, int append);
/* incr/decr/ma: a new, unlinked item holding v (in num too), sized as memcached would keep
 * it: old's length padded with spaces when v fits (old NULL: a new key). Lock held. */
struct kv_item *kv_arith_item(struct kv_conn *c, struct kv_item *old, const char *key, uint32_t nkey,
                              uint32_t exptime, uint64_t v, char num[24]);
void kv_cmd_arith(struct kv_conn *c, int incr, struct kv_tok *t, uint32_t ntok);

#endif
