/* SYSCALL entry of protection = "shared-page-table" (prot_shared.c explains the mode). The
 * app and the kernel share one page table, so there is no CR3 to switch: the stub takes the
 * kernel stack from the entry block (mapped supervisor-only), opens SMAP for the dispatch,
 * which reads and writes the app's memory in place (call arrays, payloads), and returns
 * with SYSRETQ, whose RFLAGS (from the entry block) close it again. */
#include "layout.h"
#include "entry_regs.h"

    .text
    .code64
    .globl ix_syscall_entry_shared
ix_syscall_entry_shared:
    SYSCALL_TO_KSTACK                           /* app rsp in %r9 */
    stac                                        /* RFLAGS.AC: SFMASK cleared it on entry */
    SYSCALL_FRAME_PUSH                          /* app rsp, rip; rbp, rbx */
    call    ix_syscall_dispatch                 /* long (calls, n); may not return */
    SYSCALL_FRAME_POP
    SYSRET_TO_APP
