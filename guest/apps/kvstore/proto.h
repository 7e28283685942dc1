/* kvstore: the memcached text protocol's line syntax, as memcached 1.6 reads it: tokens
 * split on spaces (at most KV_MAX_TOKENS - 1, the last entry a terminal marking any rest of
 * the line), and numbers read as memcached's safe_strto* read them (strtoul/strtol on a
 * 64-bit host: leading white space and a sign accepted, the value truncated to the target
 * width, a token that goes on after the digits with anything but white space refused).
 * Pure functions over the line; no state. */
#ifndef KV_PROTO_H
#define KV_PROTO_H
#include <stdint.h>

#define KV_MAX_TOKENS 24

struct kv_tok {
    const char *p;
    uint32_t n;
};

/* The effective command line: memcached ends it at the first NUL and drops one "\r" before
 * the "\n" (only when the line has 2 bytes or more). Returns its length. */
uint32_t kv_line_len(const char *line, uint32_t len);
/* Tokenize: returns ntokens counting the terminal entry t[ntokens - 1] (n == 0; p is the
 * unprocessed rest of the line when there were more than KV_MAX_TOKENS - 1 tokens, else 0). */
uint32_t kv_tokenize(const char *s, uint32_t len, struct kv_tok *t);
int kv_tok_is(const struct kv_tok *t, const char *s);
/* 1 when the token reads as a number (memcached's safe_strtoul / safe_strtol / safe_strtoull). */
int kv_num_u32(const struct kv_tok *t, uint32_t *v);
int kv_num_i32(const struct kv_tok *t, int32_t *v);
int kv_num_u64(const struct kv_tok *t, uint64_t *v);
/* A stored value as incr/decr reads it (strtoull from the value's start: leading white
 * space skipped, the digits must end at white space, which the value's "\r\n" is). */
int kv_num_value(const char *v, uint32_t nbytes, uint64_t *out);

#endif
