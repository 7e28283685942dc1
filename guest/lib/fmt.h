/* A small freestanding formatter shared by the kernel and libix.
 * Supports %s %c %d %i %u %x %X %p %% with the l/ll/z length modifiers, a field width and
 * the '0' and '-' flags. Always NUL-terminates; returns the length it would have written. */
#ifndef IX_LIB_FMT_H
#define IX_LIB_FMT_H
#include <stdarg.h>
#include <stddef.h>

int ix_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ix_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
