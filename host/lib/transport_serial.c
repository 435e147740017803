/* oncesign host — "serial:PATH": 64-byte reports over a byte stream (contract in transport.h).
 *
 * PATH is either a Unix stream socket (what QEMU's `-serial unix:PATH,server=on` listens on) or a
 * character device (a pty from `-serial pty`, or a real UART), set to raw mode. Each report travels
 * as one COBS + CRC-32 frame (proto/serial_frame.h, PROTOCOL.md "Byte-stream transport (UART)");
 * damaged frames are dropped by the receiver, and the client's request ids and timeouts take it
 * from there, exactly as for a lost USB report.
 */
#include "transport.h"
#include "transport_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "oncesign/status.h"
#include "serial_frame.h"

#define SERIAL_SEND_TIMEOUT_MS 2000

typedef struct {
    os_transport base;          /* first: the os_transport pointer is the serial_transport pointer */
    int fd;
    int is_socket;
    os_serial_rx rx;
    uint8_t buf[512];           /* bytes read but not yet fed to rx */
    size_t buf_len, buf_pos;
} serial_transport;

static int write_all(serial_transport *s, const uint8_t *p, size_t n) {
    int64_t deadline = os_transport_now_ms() + SERIAL_SEND_TIMEOUT_MS;
    while (n > 0) {
        ssize_t w = s->is_socket ? send(s->fd, p, n, MSG_NOSIGNAL) : write(s->fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline - os_transport_now_ms();
            struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
            if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) return OS_ERR_IO;
            continue;
        }
        return OS_ERR_IO;
    }
    return OS_OK;
}

static int serial_send(os_transport *t, const uint8_t report[OS_REPORT_SIZE]) {
    serial_transport *s = (serial_transport *)t;
    uint8_t frame[OS_SERIAL_FRAME_BYTES];
    if (s->fd < 0 || report == NULL) return OS_ERR_IO;
    size_t n = os_serial_frame_encode(report, frame);
    return write_all(s, frame, n);
}

static int serial_recv(os_transport *t, uint8_t report[OS_REPORT_SIZE], int timeout_ms) {
    serial_transport *s = (serial_transport *)t;
    int64_t deadline = os_transport_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    if (s->fd < 0 || report == NULL) return OS_ERR_IO;
    for (;;) {
        while (s->buf_pos < s->buf_len) {
            if (os_serial_rx_feed(&s->rx, s->buf[s->buf_pos++], report) == 1) return 1;
        }
        int ready = os_transport_wait_readable(s->fd, deadline);
        if (ready < 0) return ready;
        if (ready > 0) {
            ssize_t n = read(s->fd, s->buf, sizeof s->buf);
            if (n == 0) return OS_ERR_IO;                    /* QEMU went away */
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
                return OS_ERR_IO;
            }
            s->buf_len = (size_t)n;
            s->buf_pos = 0;
            continue;
        }
        if (os_transport_now_ms() >= deadline) return 0;
    }
}

static void serial_close(os_transport *t) {
    if (t != NULL) os_transport_free_fd(t, ((serial_transport *)t)->fd);
}

static int open_socket(serial_transport *s, const char *path, char *errmsg, size_t cap) {
    char hint[160];
    snprintf(hint, sizeof hint, "is QEMU running with -serial unix:%s,server=on?", path);
    int rc = os_transport_unix_connect(path, SOCK_STREAM | SOCK_NONBLOCK, "serial", hint, &s->fd, errmsg, cap);
    if (rc == OS_OK) s->is_socket = 1;
    return rc;
}

static int open_tty(serial_transport *s, const char *path, char *errmsg, size_t cap) {
    struct termios tio;
    s->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (s->fd < 0) {
        os_errf(errmsg, cap, "open(%s): %s", path, strerror(errno));
        return OS_ERR_IO;
    }
    if (tcgetattr(s->fd, &tio) != 0) {
        os_errf(errmsg, cap, "%s is not a serial line or pty: %s", path, strerror(errno));
        return OS_ERR_IO;
    }
    cfmakeraw(&tio);
    cfsetispeed(&tio, B115200);
    cfsetospeed(&tio, B115200);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(s->fd, TCSANOW, &tio) != 0) {
        os_errf(errmsg, cap, "tcsetattr(%s): %s", path, strerror(errno));
        return OS_ERR_IO;
    }
    tcflush(s->fd, TCIOFLUSH);
    return OS_OK;
}

int os_transport_open_serial(const char *path, os_transport **out, char *errmsg, size_t errmsg_cap) {
    struct stat st;
    if (out == NULL || path == NULL || path[0] == '\0') return OS_ERR_ARG;
    *out = NULL;
    serial_transport *s = calloc(1, sizeof *s);
    if (s == NULL) {
        os_errf(errmsg, errmsg_cap, "out of memory");
        return OS_ERR_IO;
    }
    s->fd = -1;
    os_serial_rx_init(&s->rx);
    int rc;
    if (stat(path, &st) != 0) {
        os_errf(errmsg, errmsg_cap, "serial:%s: %s", path, strerror(errno));
        rc = OS_ERR_IO;
    } else if (S_ISSOCK(st.st_mode)) {
        rc = open_socket(s, path, errmsg, errmsg_cap);
    } else if (S_ISCHR(st.st_mode)) {
        rc = open_tty(s, path, errmsg, errmsg_cap);
    } else {
        os_errf(errmsg, errmsg_cap, "serial:%s: neither a Unix socket nor a character device", path);
        rc = OS_ERR_ARG;
    }
    if (rc != OS_OK) {
        serial_close(&s->base);
        return rc;
    }
    /* A lone 0x00 closes whatever half frame an earlier host left in the device's receiver, so
     * the first real frame is not merged with it. */
    static const uint8_t flush = 0x00;
    if (write_all(s, &flush, 1) != OS_OK) {
        os_errf(errmsg, errmsg_cap, "serial:%s: write failed", path);
        serial_close(&s->base);
        return OS_ERR_IO;
    }
    return os_transport_ready(&s->base, out, serial_send, serial_recv, serial_close, "serial:%s", path);
}
