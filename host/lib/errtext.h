/* oncesign host — one line of error text into a caller's buffer, the way every host/lib function that
 * takes (char *err, size_t cap) fills it. */
#ifndef ONCESIGN_HOST_ERRTEXT_H
#define ONCESIGN_HOST_ERRTEXT_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into err (cap bytes, always terminated); err NULL or cap 0: nothing is written. */
void os_errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void os_verrf(char *err, size_t cap, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#endif /* ONCESIGN_HOST_ERRTEXT_H */
