/* Assembly only: save and restore every general register in the order of struct trap_frame
 * (trap.h), lowest address first: r15 ... rax. Shared by entry.S and entry_hostswitch.S. */
#ifndef IX_KERNEL_ENTRY_REGS_H
#define IX_KERNEL_ENTRY_REGS_H
.macro PUSH_GPRS
    push    %rax
    push    %rbx
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %rbp
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    push    %r12
    push    %r13
    push    %r14
    push    %r15
.endm
.macro POP_GPRS
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rbp
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
.endm
/* A SYSCALL entry that needs no CR3 write: keep the app's RSP in %r9 and move to this
 * CPU's kernel stack (from the entry block; %r10 = ENTRY_VA afterwards). */
.macro SYSCALL_TO_KSTACK
    mov     %rsp, %r9
    movabs  $ENTRY_VA, %r10
    mov     ENTRY_HDR_KSTACK(%r10), %rsp
.endm

/* The SYSCALL entries' frame on the kernel stack, once %rsp points there: the app's RSP
 * (in %r9) and RIP (in %rcx) on top, where app_fault_bad_calls finds them, then %rbp and
 * %rbx (which also keeps the stack 16-byte aligned at the call). */
.macro SYSCALL_FRAME_PUSH
    push    %r9
    push    %rcx
    push    %rbp
    push    %rbx
    mov     %rsp, %rbp
.endm
.macro SYSCALL_FRAME_POP
    pop     %rbx
    pop     %rbp
    pop     %rcx
    pop     %r9
.endm

/* Return to the app with SYSRETQ: RIP from %rcx (the caller sets it), RSP from %r9, RFLAGS
 * from the entry block (APP_RFLAGS, or APP_RFLAGS_IF with a runaway watchdog: layout.h). The scratch registers the kernel used are cleared on the way so no
 * kernel value reaches the app; rdi_arg=1 keeps %rdi (the app's argument at its first entry). */
.macro SYSRET_TO_APP rdi_arg=0
    mov     %r9, %rsp
    movabs  $ENTRY_VA, %r11
    mov     ENTRY_HDR_RFLAGS(%r11), %r11
    xor     %edx, %edx
    xor     %esi, %esi
.if \rdi_arg == 0
    xor     %edi, %edi
.endif
    xor     %r8d, %r8d
    xor     %r9d, %r9d
    xor     %r10d, %r10d
    sysretq
.endm

#endif
