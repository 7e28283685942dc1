/* Entry and exit paths of protection = "pvm-host-switch" (prot_hostswitch.c explains the
 * mode). Everything here sits in .text.entry: the user-level event stubs run at CPL 3 on
 * the app's page table, which maps these pages read-only. */
#include "layout.h"
#include "entry_regs.h"

    .section .text.entry, "ax"
    .code64

/* ---- SYSCALL ----------------------------------------------------------------------------
 * The host already switched CR3 to this CPU's kernel PGD. %rcx = return RIP, %r11 = RFLAGS,
 * %rsp = the app's stack. %rax = 0: ix_bpoll(%rdi = calls, %rsi = n);
 * %rax = IX_SYSCALL_EVENT_REPORT: an event stub's report (%rdi = its frame). */
    .globl ix_syscall_entry_hs
ix_syscall_entry_hs:
    SYSCALL_TO_KSTACK                           /* app rsp in %r9 */
    SYSCALL_FRAME_PUSH                          /* app rsp, rip; rbp, rbx */
    cmp     $SYSCALL_EVENT_REPORT, %rax
    je      1f
    call    ix_syscall_dispatch                 /* long (calls, n); may not return */
    jmp     2f
1:  call    ix_event_report                     /* long (frame); returns only to resume */
2:  SYSCALL_FRAME_POP
    SYSRET_TO_APP                               /* the host sets CR3 bit 12: the app's table */

/* First entry into the app: ix_enter_app_hs(rip, rsp, arg) - never returns. No CR3 write:
 * SYSRETQ switches to the app's page table. */
    .globl ix_enter_app_hs
ix_enter_app_hs:
    mov     %rdi, %rcx
    mov     %rsi, %r9
    mov     %rdx, %rdi
    xor     %eax, %eax
    xor     %ebx, %ebx
    xor     %ebp, %ebp
    xor     %r12d, %r12d
    xor     %r13d, %r13d
    xor     %r14d, %r14d
    xor     %r15d, %r15d
    SYSRET_TO_APP rdi_arg=1

/* ---- user-level event stubs ---------------------------------------------------------------
 * Reached through this mode's IDT (selector 0x33, DPL 3). From user mode the host pushes
 * [error,] RIP, CS=0x33, RFLAGS, RSP, SS at the app's RSP, without a stack switch, and
 * leaves CR3 on the app's table. The stub completes a struct trap_frame there, reports it
 * with SYSCALL, and - if the kernel lets the app go on - restores every register and
 * returns with a native IRETQ (CPL 3 to CPL 3, which the host does not see and need not).
 * An event in kernel mode (a kernel bug; the pushed CS has RPL 0) goes to the ordinary
 * kernel path in entry.S. */
.macro HS_NOERR vec
hs_vec\vec:
    push    $0
    push    $\vec
    jmp     hs_event
.endm
.macro HS_ERR vec
hs_vec\vec:
    push    $\vec
    jmp     hs_event
.endm

.irp v, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
HS_NOERR \v
.endr
.irp v, 8,10,11,12,13,14,17,21,29,30
HS_ERR \v
.endr
.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
HS_NOERR \v
.endr

hs_event:
    testb   $3, 24(%rsp)                        /* the pushed CS */
    jz      trap_common                         /* kernel mode: entry.S */
    PUSH_GPRS
    mov     %rsp, %rdi
    mov     $SYSCALL_EVENT_REPORT, %eax
    syscall                                     /* returns here only if the app may go on */
    POP_GPRS
    add     $16, %rsp                           /* vector, error */
    iretq

    .section .rodata
    .balign 8
    .globl hs_event_vectors
hs_event_vectors:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    .quad hs_vec\v
.endr
