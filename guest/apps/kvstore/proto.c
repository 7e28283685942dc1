#include "proto.h"

uint32_t kv_line_len(const char *line, uint32_t len)
{
    if (len > 1 && line[len - 1] == '\r')
        len--;
    for (uint32_t i = 0; i < len; i++)
        if (line[i] == 0)
            return i;
    return len;
}

uint32_t kv_tokenize(const char *s, uint32_t len, struct kv_tok *t)
{
    uint32_t n = 0, i = 0;
    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        if (i == len)
            break;
        if (n == KV_MAX_TOKENS - 1) { /* more than fit: the terminal marks the rest */
            t[n].p = s + i;
            t[n].n = 0;
            return n + 1;
        }
        uint32_t start = i;
        while (i < len && s[i] != ' ')
            i++;
        t[n].p = s + start;
        t[n].n = i - start;
        n++;
    }
    t[n].p = 0;
    t[n].n = 0;
    return n + 1;
}

int kv_tok_is(const struct kv_tok *t, const char *s)
{
    uint32_t i = 0;
    for (; i < t->n; i++)
        if (s[i] != t->p[i])
            return 0;
    return s[i] == 0;
}

static int space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* strtoul/strtol over p[0, n) (then the end of the token, a NUL in memcached). *mag gets the
 * magnitude, *neg the sign; returns 0 when no digits or they do not end at white space or
 * the token's end, -1 when the magnitude overflows 64 bits (ERANGE). */
static int scan(const char *p, uint32_t n, uint64_t *mag, int *neg)
{
    uint32_t i = 0;
    while (i < n && space(p[i]))
        i++;
    *neg = 0;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        *neg = p[i++] == '-';
    uint32_t d0 = i;
    uint64_t x = 0;
    int over = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        if (x > (~0ull - d) / 10)
            over = 1;
        else
            x = x * 10 + d;
    }
    if (i == d0)
        return 0;
    if (over)
        return -1;
    if (i < n && !space(p[i]))
        return 0;
    *mag = x;
    return 1;
}

static int has_minus(const struct kv_tok *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->p[i] == '-')
            return 1;
    return 0;
}

int kv_num_u64(const struct kv_tok *t, uint64_t *v)
{
    uint64_t m;
    int neg;
    if (scan(t->p, t->n, &m, &neg) != 1)
        return 0;
    uint64_t x = neg ? (uint64_t)0 - m : m; /* strtoull negates in unsigned arithmetic */
    if ((int64_t)x < 0 && has_minus(t))
        return 0;
    *v = x;
    return 1;
}

int kv_num_u32(const struct kv_tok *t, uint32_t *v)
{
    uint64_t x;
    if (!kv_num_u64(t, &x))
        return 0;
    *v = (uint32_t)x; /* memcached stores an unsigned long into a uint32_t */
    return 1;
}

int kv_num_i32(const struct kv_tok *t, int32_t *v)
{
    uint64_t m;
    int neg;
    if (scan(t->p, t->n, &m, &neg) != 1)
        return 0;
    if (neg ? m > (1ull << 63) : m > (uint64_t)INT64_MAX)
        return 0; /* strtol: ERANGE */
    uint64_t x = neg ? (uint64_t)0 - m : m;
    *v = (int32_t)(uint32_t)x; /* memcached stores a long into an int32_t */
    return 1;
}

int kv_num_value(const char *v, uint32_t nbytes, uint64_t *out)
{
    struct kv_tok t = {v, nbytes};
    return kv_num_u64(&t, out);
}
