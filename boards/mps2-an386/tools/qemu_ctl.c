/* oncesign-qemu-ctl — sends one line to the mps2-an386 board's button/display UART (UART1, which
 * QEMU exposes as a Unix socket) and prints the answer: one line, or for `screen`, `stats`, `bench` every
 * line up to the lone "." that ends them. A host tool for tests (tests/e2e/qemu_check.sh).
 *
 *   oncesign-qemu-ctl SOCKET COMMAND [TIMEOUT_MS]
 *
 * Exit status: 0 answered, 2 no connection or no (complete) answer in time, 3 the board answered
 * "error: ...", 1 usage. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    struct sockaddr_un addr;
    if (argc < 3 || argc > 4 || strlen(argv[1]) >= sizeof addr.sun_path || strchr(argv[2], '\n') != NULL) {
        fputs("usage: oncesign-qemu-ctl SOCKET COMMAND [TIMEOUT_MS]\n", stderr);
        return 1;
    }
    long timeout = argc == 4 ? strtol(argv[3], NULL, 10) : 5000;
    int multi = strcmp(argv[2], "screen") == 0 || strcmp(argv[2], "stats") == 0 || strcmp(argv[2], "bench") == 0;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, argv[1], strlen(argv[1]));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fprintf(stderr, "oncesign-qemu-ctl: connect(%s): %s\n", argv[1], strerror(errno));
        return 2;
    }
    /* A leading newline ends whatever half line an earlier, killed client left in the board (which
     * ignores empty lines). */
    char line[300];
    int len = snprintf(line, sizeof line, "\n%s\n", argv[2]);
    if (len < 0 || (size_t)len >= sizeof line || write(fd, line, (size_t)len) != len) {
        fputs("oncesign-qemu-ctl: cannot send\n", stderr);
        close(fd);
        return 2;
    }
    char out[8192];
    size_t used = 0, line_start = 0;
    long long deadline = now_ms() + timeout;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        long long left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 || used + 1 >= sizeof out) break;
        ssize_t n = read(fd, out + used, 1);
        if (n <= 0) break;
        used++;
        if (out[used - 1] != '\n') continue;
        out[used] = '\0';
        const char *cur = out + line_start;
        int done = !multi || strcmp(cur, ".\n") == 0;
        line_start = used;
        if (done) {
            close(fd);
            fwrite(out, 1, used, stdout);
            return strncmp(out, "error", 5) == 0 ? 3 : 0;
        }
    }
    close(fd);
    fprintf(stderr, "oncesign-qemu-ctl: no complete answer to '%s' from %s\n", argv[2], argv[1]);
    return 2;
}
