/* oncesign mps2-an386 — ARM semihosting calls (the "Semihosting for AArch32 and AArch64" spec):
 * the board's flash file and test-only seed file live on the machine that runs QEMU
 * (-semihosting-config enable=on,target=native). Paths are relative to QEMU's working directory.
 * On a board without a debugger attached a semihosting call is a fault: this board exists for QEMU. */
#ifndef ONCESIGN_MPS2_SEMIHOST_H
#define ONCESIGN_MPS2_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* SYS_OPEN modes (ISO C fopen modes by index). */
#define SH_MODE_RB   1
#define SH_MODE_RPB  3   /* "r+b": read/write, the file must exist */
#define SH_MODE_WB   5   /* "wb": create or truncate */
#define SH_MODE_WPB  7   /* "w+b": create or truncate, read/write */

/* Returns a handle (>= 0) or -1. */
int sh_open(const char *path, int mode);
int sh_close(int fd);
/* Seeks to an absolute position. Returns 0 or -1. */
int sh_seek(int fd, uint32_t pos);
/* Return 0 when all len bytes were transferred, else -1. */
int sh_read(int fd, void *buf, size_t len);
int sh_write(int fd, const void *buf, size_t len);
/* Length of the file in bytes, or -1. */
long sh_flen(int fd);
/* Seconds since 1970 on the host (SYS_TIME). */
uint32_t sh_time(void);
/* Prints a NUL-terminated string on QEMU's stdout (SYS_WRITE0): boot and fault messages. */
void sh_puts(const char *s);
/* Ends the QEMU process (SYS_EXIT): status 0 "application exit", anything else an error. */
void sh_exit(int status) __attribute__((noreturn));

#endif /* ONCESIGN_MPS2_SEMIHOST_H */
