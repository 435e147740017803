/* oncesign host — error text (contract in errtext.h). */
#include "errtext.h"

#include <stdio.h>

void os_verrf(char *err, size_t cap, const char *fmt, va_list ap) {
    if (err == NULL || cap == 0) return;
    vsnprintf(err, cap, fmt, ap);
}

void os_errf(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    os_verrf(err, cap, fmt, ap);
    va_end(ap);
}
