/* Fixed kernel layout shared by C and assembly: selectors, the per-CPU entry block and the
 * app's address space. */
#ifndef IX_KERNEL_LAYOUT_H
#define IX_KERNEL_LAYOUT_H

/* GDT selectors. SYSCALL loads CS/SS from STAR[47:32] (0x10/0x18); SYSRET loads
 * CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8 with RPL 3: base 0x23 gives 0x33/0x2b, which
 * are also the user selectors kvm_pvm hosts load in hardware while the guest runs. */
#define SEL_KCODE 0x10
#define SEL_KDATA 0x18
#define SEL_USER32 0x20
#define SEL_UDATA 0x28
#define SEL_UCODE 0x30
#define SEL_TSS 0x40
#define GDT_ENTRIES 10

/* The per-CPU entry block: 16 KiB, mapped at ENTRY_VA in this CPU's kernel and app page
 * tables (different physical pages on each CPU, same address), so entry code finds its
 * CPU's data without a GS base. Page 0 holds the header, the GDT and the TSS (read-only to
 * the app); pages 1-3 are the stack the CPU switches to (TSS.RSP0) on an event from ring 3. */
#define ENTRY_VA 0x00007fffff000000
#define ENTRY_BLOCK_SIZE 0x4000
#define ENTRY_HDR_KCR3 0        /* kernel page table of this CPU */
#define ENTRY_HDR_UCR3 8        /* app page table of this CPU */
#define ENTRY_HDR_KSTACK 16     /* top of this CPU's kernel stack */
#define ENTRY_HDR_PERCPU 24     /* struct percpu * (kernel address) */
#define ENTRY_HDR_RFLAGS 32     /* RFLAGS the app runs with (SYSRET_TO_APP) */
#define ENTRY_GDT_OFF 0x100
#define ENTRY_TSS_OFF 0x200
#define ENTRY_RSP0_TOP (ENTRY_VA + ENTRY_BLOCK_SIZE)

#define KSTACK_SIZE 0x4000      /* per-CPU kernel stack */
#define BOOT_STACK_SIZE 0x2000  /* per-CPU stack used before the kernel stack is set up */

/* The app's address space (PML4 slot 0, below 512 GiB). */
#define APP_STACK_TOP 0x0000007f00000000
#define APP_CALLS_VA 0x0000007f10000000
#define APP_EVENTS_VA 0x0000007f20000000
#define APP_INFO_VA 0x0000007f30000000
#define APP_SHARED_VA 0x0000007c00000000 /* [app] shared_heap: the same memory in every instance */
#define APP_RXPOOL_VA 0x0000007e00000000 /* the core's mbuf pool, read-only: received payloads */
#define APP_VA_LIMIT 0x0000008000000000 /* = IX_APP_VA_LIMIT (ix/bootinfo.h; app.c checks) */

/* %rax of the pvm-host-switch event stubs' SYSCALL: IX_SYSCALL_EVENT_REPORT of ix/abi.h (which
 * assembly cannot include; prot_hostswitch.c checks they agree). */
#define SYSCALL_EVENT_REPORT 0x45

/* The app runs with interrupts masked (the core is only woken while idle in the kernel),
 * unless [app] max_run_ms is set: then the host's runaway interrupt must reach it. */
#define APP_RFLAGS 0x2
#define APP_RFLAGS_IF 0x202
/* The 128-byte red zone below the app's RSP that a resume on PVM leaves alone (entry.S). */
#define RESUME_RED_ZONE 128

#endif
