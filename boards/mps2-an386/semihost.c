/* oncesign mps2-an386 — ARM semihosting calls (contract in semihost.h). */
#include "semihost.h"

#include <string.h>

#define SYS_OPEN   0x01
#define SYS_CLOSE  0x02
#define SYS_WRITE0 0x04
#define SYS_WRITE  0x05
#define SYS_READ   0x06
#define SYS_SEEK   0x0A
#define SYS_FLEN   0x0C
#define SYS_TIME   0x11
#define SYS_EXIT   0x18

#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUNTIME_ERROR    0x20023u

/* On M-profile the semihosting trap is BKPT 0xAB: r0 = operation, r1 = argument block. */
static int sh_call(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int)r0;
}

int sh_open(const char *path, int mode) {
    uint32_t args[3] = { (uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path) };
    return sh_call(SYS_OPEN, args);
}

int sh_close(int fd) {
    uint32_t args[1] = { (uint32_t)fd };
    return sh_call(SYS_CLOSE, args) == 0 ? 0 : -1;
}

int sh_seek(int fd, uint32_t pos) {
    uint32_t args[2] = { (uint32_t)fd, pos };
    return sh_call(SYS_SEEK, args) == 0 ? 0 : -1;
}

int sh_read(int fd, void *buf, size_t len) {
    uint32_t args[3] = { (uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len };
    /* SYS_READ returns the number of bytes NOT read. */
    return sh_call(SYS_READ, args) == 0 ? 0 : -1;
}

int sh_write(int fd, const void *buf, size_t len) {
    uint32_t args[3] = { (uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len };
    /* SYS_WRITE returns the number of bytes NOT written. */
    return sh_call(SYS_WRITE, args) == 0 ? 0 : -1;
}

long sh_flen(int fd) {
    uint32_t args[1] = { (uint32_t)fd };
    return (long)sh_call(SYS_FLEN, args);
}

uint32_t sh_time(void) { return (uint32_t)sh_call(SYS_TIME, NULL); }

void sh_puts(const char *s) { (void)sh_call(SYS_WRITE0, s); }

void sh_exit(int status) {
    /* The 32-bit form of SYS_EXIT takes the reason code itself in r1. */
    (void)sh_call(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                                   : ADP_STOPPED_RUNTIME_ERROR));
    for (;;) {
        __asm__ volatile("" ::: "memory");
    }
}
