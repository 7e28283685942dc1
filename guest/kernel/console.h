#ifndef IX_KERNEL_CONSOLE_H
#define IX_KERNEL_CONSOLE_H
#include <stddef.h>
#include "percpu.h"

/* Append text to a CPU's log ring (no exit unless the ring is filling up). */
void console_write(struct percpu *c, const char *s, size_t n);
void kprintf_on(struct percpu *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define kprintf(...) kprintf_on(this_cpu(), __VA_ARGS__)
_Noreturn void panic_on(struct percpu *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define panic(...) panic_on(this_cpu(), __VA_ARGS__)

#endif
