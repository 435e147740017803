/* oncesign host — the operating system's random source (see random.h). */
#include "random.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>

#include "oncesign/status.h"

int os_random_bytes(uint8_t *buf, size_t len) {
    if (buf == NULL && len > 0) return OS_ERR_ARG;
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return OS_ERR_IO;
        }
        done += (size_t)n;
    }
    return OS_OK;
}
