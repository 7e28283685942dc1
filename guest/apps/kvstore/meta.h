/* kvstore: the meta commands (meta.c). */
#ifndef KV_META_H
#define KV_META_H
#include <stdint.h>
#include "proto.h"

/* One meta command's flags, as parsed; kept in the connection while an ms value arrives. */
struct kv_meta {
    struct kv_tok key, opaque;
    struct kv_tok raw;          /* the key token as sent (base64 with b) */
    char ret[KV_MAX_TOKENS];    /* the flag characters, in request order */
    uint32_t nret;
    int32_t ttl, viv;
    uint32_t flags;
    uint64_t cas, delta, initial;
    char mode;
    uint8_t q, has_ttl, has_viv, has_cas;
    uint8_t b, op;              /* b: key in base64; op: g s d a e */
    uint8_t made;               /* ma: N created the item (its N ttl applies at N's place) */
    char kbuf[KV_KEY_MAX];      /* the decoded key */
};

#define KV_META_OPAQUE_MAX 32 /* bytes of an O token's value */

struct kv_conn;
struct kv_item;
/* A line whose command is two characters starting with 'm'. Returns 1. */
int kv_cmd_meta(struct kv_conn *c, struct kv_tok *t, uint32_t n);
/* ms: the value arrived whole (lock held): store by mode, answer; *linked the item stored. */
const char *kv_meta_store(struct kv_conn *c, struct kv_item *it, struct kv_item *old, struct kv_item **linked);
void kv_meta_store_reply(struct kv_conn *c, const char *code, struct kv_item *it);
/* me */
void kv_meta_debug(struct kv_conn *c, const struct kv_meta *m);

/* meta_flags.c */
int kv_meta_one_of(char ch, const char *set);
/* b: the key token is base64; m->key becomes it decoded. 0 when it is no base64. */
int kv_meta_b64_key(struct kv_meta *m);
/* The flag tokens t[from..n-2] into m; returns memcached's error text or 0 (generic: the one
 * text md and ma answer for every flag error). */
const char *kv_meta_preparse(struct kv_meta *m, const struct kv_tok *t, uint32_t from, uint32_t n, int generic);
/* The errors each command's own pass finds after the preparse (mode, opaque length), or 0. */
const char *kv_meta_own_pass(const struct kv_meta *m);

#endif
