#ifndef IX_KERNEL_CONSOLE_H
#define IX_KERNEL_CONSOLE_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include "percpu.h"

/* Append text to a CPU's log ring (no exit unless the ring is filling up). */
void console_write(struct percpu *c, const char *s, size_t n);
/* Format into a CPU's log ring (at most 255 characters); with `line`, end with a newline if
 * the text does not. */
void console_vprintf(struct percpu *c, bool line, const char *fmt, va_list ap);
void kprintf_on(struct percpu *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define kprintf(...) kprintf_on(this_cpu(), __VA_ARGS__)
_Noreturn void panic_on(struct percpu *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define panic(...) panic_on(this_cpu(), __VA_ARGS__)

#endif
