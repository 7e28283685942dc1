/* Kernel entry and exit paths.
 *
 * _start is where every vCPU begins (the host sets %rdi = boot info GPA, %rsi = CPU index,
 * 64-bit mode, paging on with the host-built direct map).
 *
 * Everything in .text.entry runs, at least partly, with the app's page table loaded: the
 * app page table maps these pages (and this CPU's entry block at ENTRY_VA) but nothing else
 * of the kernel. That is how isolation works on PVM hosts, where the U/S bit cannot
 * separate app from kernel (the kernel itself runs at CPL3 there): the kernel is simply not
 * mapped while the app runs.
 */
#include "layout.h"
#include "entry_regs.h"

    .section .text.entry, "ax"
    .code64

/* ---- boot ------------------------------------------------------------------------ */
    .globl _start
_start:
    cld
    /* stack = boot_stacks + (cpu + 1) * BOOT_STACK_SIZE */
    mov     %rsi, %rax
    inc     %rax
    shl     $13, %rax
    lea     boot_stacks(%rip), %rsp
    add     %rax, %rsp
    xor     %rbp, %rbp
    call    kmain           /* kmain(bootinfo_gpa, cpu): never returns */
1:  hlt
    jmp     1b

/* ---- SYSCALL: ix_bpoll(calls = %rdi, n = %rsi) --------------------------------------
 * On entry: %rcx = app %rip, %r11 = app %rflags, %rsp = app stack, page table = the app's.
 * The libix wrapper is an ordinary function call, so every caller-saved register may be
 * clobbered; the callee-saved ones are preserved by the C code. */
    .globl ix_syscall_entry
ix_syscall_entry:
    mov     %rsp, %r9                           /* app stack */
    movabs  $ENTRY_VA, %r10
    mov     ENTRY_HDR_KCR3(%r10), %rax
    mov     %rax, %cr3                          /* kernel page table (trapped on PVM) */
    mov     ENTRY_HDR_KSTACK(%r10), %rsp
    SYSCALL_FRAME_PUSH                          /* app rsp, rip; rbp, rbx */
    call    ix_syscall_dispatch                 /* long (calls, n); may not return */
    SYSCALL_FRAME_POP
    /* fall through */

/* Return to the app: %rcx = rip, %r9 = rsp, %rax = return value. */
    .globl ix_return_to_app
ix_return_to_app:
    movabs  $ENTRY_VA, %r10
    mov     ENTRY_HDR_UCR3(%r10), %rdx
    mov     %rdx, %cr3                          /* app page table: the kernel disappears */
    SYSRET_TO_APP                               /* SYSRETQ: the only way to ring 3 on PVM */

/* First entry into the app: ix_enter_app(rip, rsp, arg) - never returns. */
    .globl ix_enter_app
ix_enter_app:
    mov     %rdi, %rcx
    mov     %rsi, %r9
    mov     %rdx, %rdi                          /* the app's first argument */
    xor     %eax, %eax
    xor     %ebx, %ebx
    xor     %ebp, %ebp
    xor     %r12d, %r12d
    xor     %r13d, %r13d
    xor     %r14d, %r14d
    xor     %r15d, %r15d
    movabs  $ENTRY_VA, %r10
    mov     ENTRY_HDR_UCR3(%r10), %rdx
    mov     %rdx, %cr3
    SYSRET_TO_APP rdi_arg=1

/* Resume the app after an interrupt it survives, on PVM: IRETQ to ring 3 would run the app
 * with the host believing the kernel runs (docs/pvm.md), so the way back is SYSRETQ, which
 * takes RIP and RFLAGS from %rcx and %r11. resume_app_pvm (prot_pagetables.c) has pushed the
 * app's RIP, RCX, R11 and RFLAGS below its red zone and set the frame's RSP to them; the
 * trampoline, in this text the app's table maps (U=1 on PVM), pops them back in ring 3.
 * ix_resume_app_sysret(frame) - never returns. */
    .globl ix_resume_app_sysret
ix_resume_app_sysret:
    mov     %rdi, %rsp                          /* the frame, on the RSP0 stack (mapped for the app) */
    movabs  $ENTRY_VA, %rax
    mov     ENTRY_HDR_UCR3(%rax), %rax
    mov     %rax, %cr3
    POP_GPRS
    lea     ix_resume_tramp(%rip), %rcx
    movabs  $ENTRY_VA, %r11
    mov     ENTRY_HDR_RFLAGS(%r11), %r11
    mov     5*8(%rsp), %rsp                     /* past vector, error, rip, cs, rflags: rsp */
    sysretq
    .globl ix_resume_tramp
ix_resume_tramp:                                /* ring 3, on the app's stack */
    popfq                                       /* arithmetic flags (IF is not the app's to set) */
    pop     %r11
    pop     %rcx
    ret     $RESUME_RED_ZONE

/* ---- exceptions and interrupts ------------------------------------------------------
 * An event from ring 3 arrives on this CPU's RSP0 stack (in the entry block, mapped in both
 * page tables) with the app's page table still loaded; an event from the kernel arrives on
 * the current kernel stack. The pushed CS tells which: the CPU (or the PVM host) writes it. */
.macro TRAP_NOERR vec
    .globl trap_vec\vec
trap_vec\vec:
    push    $0
    push    $\vec
    jmp     trap_common
.endm
.macro TRAP_ERR vec
    .globl trap_vec\vec
trap_vec\vec:
    push    $\vec
    jmp     trap_common
.endm

TRAP_NOERR 0
TRAP_NOERR 1
TRAP_NOERR 2
TRAP_NOERR 3
TRAP_NOERR 4
TRAP_NOERR 5
TRAP_NOERR 6
TRAP_NOERR 7
TRAP_ERR   8
TRAP_NOERR 9
TRAP_ERR   10
TRAP_ERR   11
TRAP_ERR   12
TRAP_ERR   13
TRAP_ERR   14
TRAP_NOERR 15
TRAP_NOERR 16
TRAP_ERR   17
TRAP_NOERR 18
TRAP_NOERR 19
TRAP_NOERR 20
TRAP_ERR   21
TRAP_NOERR 22
TRAP_NOERR 23
TRAP_NOERR 24
TRAP_NOERR 25
TRAP_NOERR 26
TRAP_NOERR 27
TRAP_NOERR 28
TRAP_ERR   29
TRAP_ERR   30
TRAP_NOERR 31
.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
TRAP_NOERR \v
.endr

/* Frame layout (struct trap_frame in trap.h): r15 ... rax, vector, error, rip, cs, rflags, rsp, ss */
    .globl trap_common
trap_common:
    PUSH_GPRS
    testb   $3, 18*8(%rsp)                      /* cs */
    jz      1f
    movabs  $ENTRY_VA, %rax                     /* from the app: load the kernel page table */
    mov     ENTRY_HDR_KCR3(%rax), %rax
    mov     %rax, %cr3
1:  cld
    mov     %rsp, %rdi
    mov     %rsp, %rbx
    and     $-16, %rsp
    call    trap_dispatch                       /* returns for kernel-mode events and interrupts */
    mov     %rbx, %rsp
    testb   $3, 18*8(%rsp)
    jz      2f
    movabs  $ENTRY_VA, %rax                     /* back to the app (an interrupt it may survive, */
    mov     ENTRY_HDR_UCR3(%rax), %rax          /* native only: trap_dispatch sees to that) */
    mov     %rax, %cr3
2:  POP_GPRS
    add     $16, %rsp
    iretq                                       /* to kernel code (CS=0x10): emulated on PVM */

    .section .rodata
    .balign 8
    .globl trap_vectors
trap_vectors:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    .quad trap_vec\v
.endr

/* ---- ordinary kernel text ------------------------------------------------------------ */
    .text
/* protection = "none": run the app in ring 0 on this CPU's kernel page table (which maps the
 * app too). ix_enter_app_ring0(rip, rsp, arg) - never returns. */
    .globl ix_enter_app_ring0
ix_enter_app_ring0:
    mov     %rsi, %rsp
    xor     %ebp, %ebp
    push    $0                                  /* a null return address: main must not return here */
    mov     %rdi, %rax
    mov     %rdx, %rdi
    jmp     *%rax

/* Abandon the current stack and run fn on the kernel stack: used when the app is gone. */
    .globl switch_stack_and_call
switch_stack_and_call:                          /* (stack_top, fn, arg) */
    mov     %rdi, %rsp
    xor     %rbp, %rbp
    mov     %rdx, %rdi
    call    *%rsi
2:  hlt
    jmp     2b

/* The boot self-test: a 'dec; jnz' loop of n iterations, in kernel mode. */
    .globl selftest_loop
selftest_loop:
    mov     %rdi, %rax
3:  dec     %rax
    jnz     3b
    ret

    .bss
    .balign 4096
    .globl boot_stacks
boot_stacks:
    .skip BOOT_STACK_SIZE * 16
