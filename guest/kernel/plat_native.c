/* Hardware virtualization (VT-x / AMD-V): the kernel is in real ring 0 from the first
 * instruction, so there is nothing to switch; the U/S bit protects as usual. */
#include "platform.h"
#include "x86.h"

static void native_go_native(struct percpu *c)
{
    (void)c;
}

static uint64_t native_read_cr2(struct percpu *c)
{
    (void)c;
    return read_cr2();
}

static void native_halt(struct percpu *c)
{
    (void)c;
    /* sti's one-instruction shadow makes sti;hlt atomic: no wake-up is lost in between. */
    __asm__ volatile("sti; hlt; cli" ::: "memory");
}

const struct platform platform_native = {
    .name = "native",
    .id = IX_PLATFORM_NATIVE,
    .go_native = native_go_native,
    .read_cr2 = native_read_cr2,
    .halt = native_halt,
    .entry_pte_user = 0,
};
