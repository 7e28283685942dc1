/* Seeded loss/reorder/delay at the TAP boundary; see harness_impair.h for the model. */
#include "harness_impair.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMP_FRAME_MAX 2048
#define IMP_QUEUE 8192 /* frames per direction in the delay FIFO (~1 ms at 10 Gbit/s) */

struct imp_frame {
    uint64_t due;
    uint32_t len;
    uint8_t data[IMP_FRAME_MAX];
};

struct imp_dir {
    int on;
    uint64_t rng;
    struct imp_frame *q;   /* delay FIFO, ring of IMP_QUEUE */
    unsigned head, n;
    struct imp_frame held; /* the frame being reordered */
    int has_held;
    unsigned held_after;   /* frames that must still pass it */
    uint64_t held_since;
    h_impair_out_fn out;
    void *ctx;
    uint64_t in, dropped, reordered, out_frames, overflow, max_queued;
};

static struct h_impair_cfg cfg;
static int configured;
static struct imp_dir dirs[2];
static uint32_t loss_thr, reorder_thr; /* probabilities scaled to 2^32 */

/* splitmix64: seeds each direction's stream from (seed, direction). */
static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* xorshift64*: 32 good bits per draw */
static uint32_t draw(struct imp_dir *d)
{
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return (uint32_t)((d->rng * 0x2545f4914f6cdd1dull) >> 32);
}

static uint32_t pct_threshold(double pct)
{
    double p = pct / 100.0 * 4294967296.0;
    return p >= 4294967295.0 ? 0xffffffffu : (uint32_t)p;
}

int h_impair_parse(const char *spec, struct h_impair_cfg *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->gap = 2;
    c->seed = 1;
    c->dirs = 3;
    char buf[256];
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "spec too long");
        return -1;
    }
    strcpy(buf, spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "'%s' is not key=value", tok);
            return -1;
        }
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        char *end;
        if (!strcmp(k, "loss") || !strcmp(k, "reorder")) {
            double p = strtod(v, &end);
            if (end == v || (*end && strcmp(end, "%")) || p < 0 || p > 100) {
                snprintf(err, errlen, "%s=%s: want a percentage 0..100", k, v);
                return -1;
            }
            *(k[0] == 'l' ? &c->loss_pct : &c->reorder_pct) = p;
        } else if (!strcmp(k, "delay")) {
            double d = strtod(v, &end);
            double mul = !*end || !strcasecmp(end, "us") ? 1 : !strcasecmp(end, "ms") ? 1e3 : -1;
            if (end == v || mul < 0 || d < 0 || d * mul > 10e6) {
                snprintf(err, errlen, "delay=%s: want N, Nus or Nms, at most 10 s", v);
                return -1;
            }
            c->delay_us = (uint32_t)(d * mul);
        } else if (!strcmp(k, "gap") || !strcmp(k, "seed")) {
            unsigned long long n = strtoull(v, &end, 0);
            if (end == v || *end || (k[0] == 'g' && (n < 1 || n > 64))) {
                snprintf(err, errlen, "%s=%s: want a number%s", k, v, k[0] == 'g' ? " in 1..64" : "");
                return -1;
            }
            if (k[0] == 'g')
                c->gap = (uint32_t)n;
            else
                c->seed = n;
        } else if (!strcmp(k, "dir")) {
            c->dirs = !strcmp(v, "both") ? 3 : !strcmp(v, "rx") ? 1 : !strcmp(v, "tx") ? 2 : 0;
            if (!c->dirs) {
                snprintf(err, errlen, "dir=%s: want both, rx or tx", v);
                return -1;
            }
        } else {
            snprintf(err, errlen, "unknown key '%s' (loss, reorder, delay, gap, seed, dir)", k);
            return -1;
        }
    }
    return 0;
}

void h_impair_init(const struct h_impair_cfg *c, h_impair_out_fn rx_out, void *rx_ctx,
                   h_impair_out_fn tx_out, void *tx_ctx)
{
    cfg = *c;
    configured = 1;
    loss_thr = pct_threshold(c->loss_pct);
    reorder_thr = pct_threshold(c->reorder_pct);
    for (int i = 0; i < 2; i++) {
        struct imp_dir *d = &dirs[i];
        memset(d, 0, sizeof(*d));
        d->on = (c->dirs >> i) & 1;
        d->rng = splitmix(c->seed ^ (0x5851f42d4c957f2dull * (uint64_t)(i + 1)));
        if (d->rng == 0)
            d->rng = 1;
        d->out = i == H_IMP_RX ? rx_out : tx_out;
        d->ctx = i == H_IMP_RX ? rx_ctx : tx_ctx;
        if (d->on && (d->q = malloc(sizeof(struct imp_frame) * IMP_QUEUE)) == NULL) {
            fprintf(stderr, "harness: cannot allocate the impairment queue\n");
            exit(1);
        }
    }
}

int h_impair_active(int d) { return configured && dirs[d].on; }

static void enqueue(struct imp_dir *d, const uint8_t *frame, uint32_t len, uint64_t now)
{
    if (d->n == IMP_QUEUE) {
        d->overflow++;
        return;
    }
    struct imp_frame *f = &d->q[(d->head + d->n) % IMP_QUEUE];
    f->due = now + cfg.delay_us;
    f->len = len;
    memcpy(f->data, frame, len);
    if (++d->n > d->max_queued)
        d->max_queued = d->n;
}

static void release_held(struct imp_dir *d, uint64_t now)
{
    d->has_held = 0;
    d->reordered++;
    enqueue(d, d->held.data, d->held.len, now);
}

void h_impair_in(int di, const uint8_t *frame, uint32_t len, uint64_t now)
{
    struct imp_dir *d = &dirs[di];
    if (len > IMP_FRAME_MAX)
        len = IMP_FRAME_MAX; /* cannot happen with a 1500-byte MTU; keep the copy bounded */
    d->in++;
    /* Draw both decisions for every frame so the n-th frame's fate depends on the seed
     * only, not on whether earlier frames were held. */
    uint32_t rl = draw(d), rr = draw(d), rg = draw(d);
    if (rl < loss_thr) {
        d->dropped++;
        return;
    }
    if (d->has_held) {
        enqueue(d, frame, len, now);
        if (--d->held_after == 0)
            release_held(d, now);
        return;
    }
    if (rr < reorder_thr) {
        d->has_held = 1;
        d->held_after = 1 + rg % cfg.gap;
        d->held_since = now;
        d->held.len = len;
        memcpy(d->held.data, frame, len);
        return;
    }
    enqueue(d, frame, len, now);
}

/* A held frame waits at most this long for followers (then it goes out in order). */
static uint64_t hold_max_us(void) { return cfg.delay_us > 1000 ? 2ull * cfg.delay_us : 2000; }

void h_impair_poll(uint64_t now)
{
    for (int i = 0; i < 2; i++) {
        struct imp_dir *d = &dirs[i];
        if (!d->on)
            continue;
        if (d->has_held && now - d->held_since >= hold_max_us())
            release_held(d, now);
        while (d->n > 0) {
            struct imp_frame *f = &d->q[d->head];
            if (f->due > now || d->out(d->ctx, f->data, f->len) != 0)
                break;
            d->out_frames++;
            d->head = (d->head + 1) % IMP_QUEUE;
            d->n--;
        }
    }
}

int64_t h_impair_next_due(uint64_t now)
{
    int64_t best = -1;
    for (int i = 0; i < 2; i++) {
        const struct imp_dir *d = &dirs[i];
        if (!d->on)
            continue;
        int64_t t = -1;
        if (d->n > 0)
            t = d->q[d->head].due > now ? (int64_t)(d->q[d->head].due - now) : 0;
        if (d->has_held) {
            uint64_t h = d->held_since + hold_max_us();
            int64_t th = h > now ? (int64_t)(h - now) : 0;
            if (t < 0 || th < t)
                t = th;
        }
        if (t >= 0 && (best < 0 || t < best))
            best = t;
    }
    return best;
}

void h_impair_report(FILE *out)
{
    if (!configured)
        return;
    fprintf(out, ",\"impair\":{\"loss_pct\":%g,\"reorder_pct\":%g,\"delay_us\":%u,\"gap\":%u,\"seed\":%llu",
            cfg.loss_pct, cfg.reorder_pct, cfg.delay_us, cfg.gap, (unsigned long long)cfg.seed);
    static const char *names[2] = {"rx", "tx"};
    for (int i = 0; i < 2; i++) {
        const struct imp_dir *d = &dirs[i];
        fprintf(out, ",\"%s\":{\"on\":%d,\"in\":%llu,\"dropped\":%llu,\"reordered\":%llu,\"out\":%llu,"
                     "\"overflow\":%llu,\"max_queued\":%llu}",
                names[i], d->on, (unsigned long long)d->in, (unsigned long long)d->dropped,
                (unsigned long long)d->reordered, (unsigned long long)d->out_frames,
                (unsigned long long)d->overflow, (unsigned long long)d->max_queued);
    }
    fprintf(out, "}");
}
