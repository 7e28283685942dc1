/* Link impairment at the harness's TAP boundary: loss, reordering and delay, seeded and
 * deterministic (the n-th frame of a direction always gets the same decision for a given
 * seed), applied to frames read from the TAP (rx: Linux -> stack) and to frames the stack
 * writes to it (tx: stack -> Linux).
 *
 * Why it exists: the kernels of the hosts this project runs on have no sch_netem (and
 * modules cannot be loaded), so `tc qdisc ... netem` is unavailable. See docs/net-stack.md.
 *
 * Model, per direction, for each frame in arrival order:
 *   1. loss: dropped with probability loss %;
 *   2. reorder: with probability reorder % the frame is held back and released right after
 *      the next `gap` frames (1..gap, drawn per hold) have passed it, or after hold_max_us
 *      if no frame comes (so a held FIN/last segment is never stuck); one frame is held at a
 *      time;
 *   3. delay: every frame that passes waits delay_us in a FIFO (a timer queue), then goes
 *      out (to the stack or to the TAP). The FIFO is bounded; overflow drops are counted.
 * Frames are copied into the impairment's own slots: the link owns them, as a wire would, so
 * the stack completes TX at once and its zero-copy rules are unaffected.
 *
 * Spec (--impair): comma-separated key=value, e.g. "loss=5,reorder=10,delay=1000us,seed=42"
 *   loss=PCT  reorder=PCT  delay=N[us|ms]  gap=N (max frames a held one waits for, default 2)
 *   seed=N  dir=both|rx|tx (which directions are impaired, default both)
 */
#ifndef IX_TEST_NET_HARNESS_IMPAIR_H
#define IX_TEST_NET_HARNESS_IMPAIR_H

#include <stdint.h>
#include <stdio.h>

enum { H_IMP_RX = 0, H_IMP_TX = 1 };

struct h_impair_cfg {
    double loss_pct, reorder_pct;
    uint32_t delay_us;
    uint32_t gap;
    uint64_t seed;
    int dirs; /* bit 0: rx, bit 1: tx */
};

/* Parse a spec; 0 on success, -1 with a message in err (size errlen) otherwise. */
int h_impair_parse(const char *spec, struct h_impair_cfg *cfg, char *err, size_t errlen);

/* Where released frames go: return 0 when taken, -1 to retry later (e.g. no mbuf). */
typedef int (*h_impair_out_fn)(void *ctx, const uint8_t *frame, uint32_t len);

/* Set up both directions (allocates the FIFOs); exits with a message on failure. */
void h_impair_init(const struct h_impair_cfg *cfg, h_impair_out_fn rx_out, void *rx_ctx,
                   h_impair_out_fn tx_out, void *tx_ctx);
/* Is direction d impaired? (false before h_impair_init) */
int h_impair_active(int d);
/* A frame enters direction d at time now (copied). */
void h_impair_in(int d, const uint8_t *frame, uint32_t len, uint64_t now);
/* Release what is due in both directions. */
void h_impair_poll(uint64_t now);
/* Microseconds until the next frame is due (0 = now), or -1 if nothing is waiting. */
int64_t h_impair_next_due(uint64_t now);
/* ",\"impair\":{...}" for the stats line (nothing if not configured). */
void h_impair_report(FILE *out);

#endif
