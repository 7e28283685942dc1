/* kvstore: parsing the flags of a meta command (meta.c runs the commands), as memcached
 * 1.6.18 parses them: which flags exist, the order in which errors are found and their
 * texts, base64 keys. */
#include "cmd.h"
#include "meta.h"

int kv_meta_one_of(char ch, const char *set)
{
    for (; *set; set++)
        if (*set == ch)
            return 1;
    return 0;
}

/* Flags memcached 1.6.18 accepts on any meta command. */
static int valid_flag(char ch)
{
    return kv_meta_one_of(ch, "bcfhklOqsTtuvCDFIJLMNPR");
}

static struct kv_tok val(const struct kv_tok *t) { return (struct kv_tok){t->p + 1, t->n - 1}; }

static int b64_val(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* b: the key token is base64 (groups of 4, '=' padding at the end); m->key becomes it decoded. */
int kv_meta_b64_key(struct kv_meta *m)
{
    const char *s = m->raw.p;
    uint32_t n = m->raw.n, o = 0;
    if (n == 0 || n % 4)
        return 0;
    for (uint32_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            char ch = s[i + j];
            if (ch == '=' && i + 4 == n && j >= 2 && (j == 3 || s[i + 3] == '=')) {
                v[j] = 0;
                pad++;
                continue;
            }
            if ((v[j] = b64_val(ch)) < 0 || pad)
                return 0;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        m->kbuf[o++] = (char)(w >> 16);
        if (pad < 2)
            m->kbuf[o++] = (char)(w >> 8);
        if (pad < 1)
            m->kbuf[o++] = (char)w;
    }
    m->key = (struct kv_tok){m->kbuf, o};
    m->b = 1;
    return 1;
}

/* memcached's _meta_flag_preparse: an unknown or repeated flag ends it at once; a bad value
 * (base64 key, N, T, R, C, F, D, J, M's length) is noted and parsing goes on, the last one
 * noted being the error (md and ma answer them all with one text). Then, as each command's
 * own pass over the flags does, an opaque over 32 bytes. Fills m; returns the error or 0. */
const char *kv_meta_preparse(struct kv_meta *m, const struct kv_tok *t, uint32_t from, uint32_t n, int generic)
{
    uint64_t seen = 0;
    const char *err = 0;
    int fbad = 0;
    const char *bad = "CLIENT_ERROR bad token in command line format";
    for (uint32_t i = from; i + 1 < n; i++) {
        char ch = t[i].p[0];
        if (!valid_flag(ch))
            return generic ? "CLIENT_ERROR invalid or duplicate flag" : "CLIENT_ERROR invalid flag";
        uint64_t bit = 1ull << (ch - 'A');
        if (seen & bit)
            return generic ? "CLIENT_ERROR invalid or duplicate flag" : "CLIENT_ERROR duplicate flag";
        seen |= bit;
        struct kv_tok v = val(&t[i]);
        int32_t r;
        switch (ch) {
        case 'b':
            if (!kv_meta_b64_key(m))
                err = "CLIENT_ERROR error decoding key";
            break;
        case 'N': /* vivify ttl */
        case 'T': /* ttl */
        case 'R': /* recache ttl (read, not used) */
            if (!kv_num_i32(&v, ch == 'N' ? &m->viv : ch == 'T' ? &m->ttl : &r))
                err = bad;
            m->has_viv |= ch == 'N';
            m->has_ttl |= ch == 'T';
            break;
        case 'O':
            m->opaque = t[i];
            break;
        case 'q':
            m->q = 1;
            break;
        case 'M':
            if (t[i].n != 2)
                err = "CLIENT_ERROR incorrect length for M token";
            else
                m->mode = t[i].p[1];
            break;
        case 'C': /* cas to compare */
        case 'D': /* delta */
        case 'J': /* initial value */
            if (!kv_num_u64(&v, ch == 'C' ? &m->cas : ch == 'D' ? &m->delta : &m->initial))
                err = bad;
            m->has_cas |= ch == 'C';
            break;
        case 'F': /* memcached notes the error without a text: the default one, if no other */
            fbad |= !kv_num_u32(&v, &m->flags);
            break;
        default:
            break;
        }
        m->ret[m->nret++] = ch;
    }
    if (!err && fbad)
        err = "CLIENT_ERROR bad command line format";
    if (err)
        return generic ? "CLIENT_ERROR invalid or duplicate flag" : err;
    return 0;
}

/* What each command's own pass finds after the preparse: a bad mode (ms, ma) before an
 * over-long opaque. */
const char *kv_meta_own_pass(const struct kv_meta *m)
{
    if (m->op == 's' && m->mode && !kv_meta_one_of(m->mode, "SEAPR"))
        return "CLIENT_ERROR invalid mode for ms M token";
    if (m->op == 'a' && m->mode && !kv_meta_one_of(m->mode, "I+D-"))
        return "CLIENT_ERROR invalid mode for ma M token";
    if (m->opaque.n > KV_META_OPAQUE_MAX && m->op != 'a') /* ma: see meta_arith */
        return "CLIENT_ERROR opaque token too long";
    return 0;
}
