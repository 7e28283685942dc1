/* Elastic cores: the control cell through which the host moves flow groups between cores
 * (docs/scale.md). One per CPU in the boot info page (struct ix_bootinfo.migrate[cpu]). The
 * host writes a command and then bumps cmd_seq; the core runs it from its dataplane loop and
 * then sets done_seq = cmd_seq. Polled on both sides; no exits. */
#ifndef IX_MIGRATE_H
#define IX_MIGRATE_H
#include <stdint.h>

enum ix_mig_cmd {
    IX_MIG_NONE = 0,
    IX_MIG_HOLD = 1,    /* keep received data of `groups` from the app (drain); total/busy:
                           the connections of the groups and how many still have data in hand */
    IX_MIG_COUNT = 2,   /* total/busy as for HOLD, changing nothing */
    IX_MIG_EXPORT = 3,  /* (the NIC holds the groups now) take in the frames already queued,
                           then hand every connection of `groups` over: result = connections
                           exported, or -IX_EAGAIN (one still busy: nothing exported) */
    IX_MIG_IMPORT = 4,  /* adopt the connections core `peer` exported: result = adopted;
                           failed = those that could not be (no control block or buffer) */
    IX_MIG_RELEASE = 5, /* after the import: free what the export kept aside, end the hold */
    IX_MIG_CANCEL = 6,  /* end the hold without moving anything */
};

struct ix_migrate_cell {
    uint32_t cmd_seq;   /* host: bumped after the command below is written */
    uint32_t cmd;       /* host: IX_MIG_* */
    uint32_t peer;      /* host: IX_MIG_IMPORT: the core that exported */
    uint32_t done_seq;  /* guest: = cmd_seq once the command is done */
    int32_t result;     /* guest: >= 0, or -IX_E* */
    uint32_t total;     /* guest: HOLD/COUNT: connections in the groups */
    uint32_t busy;      /* guest: HOLD/COUNT: of them, not ready to move yet */
    uint32_t failed;    /* guest: IMPORT: connections that could not be adopted; HOLD/COUNT:
                           why the busy ones are busy (bits: 1 opening or closing, 2 not
                           accepted or closed by the app, 4 sending, 8 the app holds received
                           bytes, 16 out-of-order data, 32 events not posted yet) */
    uint64_t groups[8]; /* host: the flow groups, one bit per redirection table entry */
};

#endif
