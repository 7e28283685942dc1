/* App entry: the kernel enters here (sysret) with %rdi = the read-only app info page and
 * %rsp = the top of this instance's stack. */
    .text
    .globl _start
_start:
    and     $-16, %rsp
    xor     %rbp, %rbp
    call    ix_start            /* never returns */
1:  ud2
    jmp     1b

/* long ix_bpoll(struct ix_call *calls, unsigned long n): the one trap into the dataplane.
 * SYSCALL clobbers %rcx and %r11; the kernel may clobber any caller-saved register. */
    .globl ix_bpoll
ix_bpoll:
    mov     ix_bpoll_fn(%rip), %rax
    test    %rax, %rax
    jnz     1f
    syscall
    ret
1:  jmp     *%rax                               /* protection = "none": a plain call */

    .bss
    .balign 8
    .globl ix_bpoll_fn
ix_bpoll_fn:
    .quad 0
