/* Elastic cores, the kernel's side (docs/scale.md): the host moves a flow group from one core
 * to another through each core's control cell (ix/migrate.h), one command at a time; the
 * core runs it from its dataplane loop with the stack's migration calls (net/tcp_migrate.h).
 * The exporting core's records stay in its memory; the importing core reads them there (one
 * kernel, one address space) and copies the payload into its own buffers, and only then does
 * the exporting core free them (RELEASE). */
#include "dataplane.h"
#include "console.h"
#include "x86.h"
#include "../net/tcp.h"

extern struct percpu percpus[IX_MAX_CPUS];

static void groups_of(const volatile struct ix_migrate_cell *m, struct tcp_mig_groups *g)
{
    _Static_assert(sizeof(g->bits) == sizeof(m->groups), "one bit per redirection table entry");
    for (unsigned i = 0; i < sizeof(g->bits) / sizeof(g->bits[0]); i++)
        g->bits[i] = m->groups[i];
}

/* Take in what the NIC queued before it began holding the groups: bounded passes. */
static void drain_rx(struct percpu *c, struct dataplane *dp)
{
    for (int i = 0; i < 64; i++) {
        if (dp_port_rx(dp, (int)c->bi->batch) == 0)
            break;
        dp_port_tx_flush(dp);
    }
}

static int import_from(struct dataplane *dp, uint32_t peer, uint32_t *failed)
{
    *failed = 0;
    if (peer >= IX_MAX_CPUS || percpus[peer].dp == NULL || percpus[peer].dp == dp)
        return -IX_EINVAL;
    const struct dataplane *from = percpus[peer].dp;
    uint32_t n = from->mig_nrecs, ok = 0;
    for (uint32_t i = 0; i < n && i < DP_MIG_RECS; i++) {
        if (tcp_mig_import(&dp->nc, &from->mig_recs[i]) == 0)
            ok++;
        else
            (*failed)++;
    }
    return (int)ok;
}

void dp_migrate_poll(struct percpu *c, struct dataplane *dp)
{
    volatile struct ix_migrate_cell *m = &c->bi->migrate[c->id];
    uint32_t seq = m->cmd_seq;
    if (seq == dp->mig_seen)
        return;
    dp->mig_seen = seq;
    __asm__ volatile("" ::: "memory"); /* the command was written before its seq */
    struct tcp_mig_groups g;
    groups_of(m, &g);
    uint32_t total = 0, busy = 0, failed = 0;
    int result = 0;
    switch (m->cmd) {
    case IX_MIG_HOLD:
        tcp_mig_hold(&dp->nc, &g);
        tcp_mig_count_why(&dp->nc, &g, &total, &busy, &failed);
        break;
    case IX_MIG_COUNT:
        tcp_mig_count_why(&dp->nc, &g, &total, &busy, &failed);
        break;
    case IX_MIG_EXPORT:
        drain_rx(c, dp);
        dp->mig_nrecs = 0;
        result = tcp_mig_export(&dp->nc, &g, dp->mig_recs, DP_MIG_RECS);
        if (result > 0)
            dp->mig_nrecs = (uint32_t)result;
        dp_port_tx_flush(dp);
        break;
    case IX_MIG_IMPORT:
        result = import_from(dp, m->peer, &failed);
        dp_port_tx_flush(dp);
        break;
    case IX_MIG_RELEASE:
        tcp_mig_release(dp->mig_recs, dp->mig_nrecs);
        dp->mig_nrecs = 0;
        tcp_mig_hold(&dp->nc, NULL);
        break;
    case IX_MIG_CANCEL:
        tcp_mig_hold(&dp->nc, NULL);
        break;
    default:
        result = -IX_EINVAL;
        break;
    }
    m->result = result;
    m->total = total;
    m->busy = busy;
    m->failed = failed;
    __asm__ volatile("" ::: "memory"); /* the answer is written before done_seq */
    m->done_seq = seq;
}
