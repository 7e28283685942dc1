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
    mov     %rsp, %r9                           /* app stack */
    movabs  $ENTRY_VA, %r10
    mov     ENTRY_HDR_KSTACK(%r10), %rsp
    stac                                        /* RFLAGS.AC: SFMASK cleared it on entry */
    push    %r9                                 /* app rsp (app_fault_bad_calls reads these two) */
    push    %rcx                                /* app rip */
    push    %rbp
    push    %rbx                                /* keeps the stack 16-byte aligned at the call */
    mov     %rsp, %rbp
    call    ix_syscall_dispatch                 /* long (calls, n); may not return */
    pop     %rbx
    pop     %rbp
    pop     %rcx
    pop     %r9
    SYSRET_TO_APP
