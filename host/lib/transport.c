/* oncesign host — os_transport_open and the simulator socket backend (contract in transport.h). */
#include "transport.h"
#include "transport_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "oncesign/status.h"

int64_t os_transport_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int os_transport_wait_readable(int fd, int64_t deadline_ms) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int64_t left = deadline_ms - os_transport_now_ms();
    int ready = poll(&p, 1, left > 0 ? (int)left : 0);
    if (ready < 0) return errno == EINTR ? 0 : OS_ERR_IO;
    return ready > 0;
}

int os_transport_unix_connect(const char *path, int type, const char *scheme, const char *hint, int *fd,
                              char *errmsg, size_t cap) {
    struct sockaddr_un addr;
    *fd = -1;
    if (strlen(path) >= sizeof addr.sun_path) {
        os_errf(errmsg, cap, "%s:%s: path longer than %zu bytes", scheme, path, sizeof addr.sun_path - 1);
        return OS_ERR_ARG;
    }
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (s < 0) {
        os_errf(errmsg, cap, "socket: %s", strerror(errno));
        return OS_ERR_IO;
    }
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
        os_errf(errmsg, cap, "connect(%s): %s (%s)", path, strerror(errno), hint);
        close(s);
        return OS_ERR_IO;
    }
    *fd = s;
    return OS_OK;
}

void os_transport_free_fd(os_transport *t, int fd) {
    if (fd >= 0) close(fd);
    free(t);
}

int os_transport_ready(os_transport *t, os_transport **out, int (*send)(os_transport *, const uint8_t *),
                       int (*recv)(os_transport *, uint8_t *, int), void (*close_fn)(os_transport *), const char *fmt,
                       ...) {
    va_list ap;
    va_start(ap, fmt);
    os_verrf(t->description, sizeof t->description, fmt, ap);
    va_end(ap);
    t->send = send;
    t->recv = recv;
    t->close = close_fn;
    *out = t;
    return OS_OK;
}

int os_transport_open(const char *spec, os_transport **out, char *errmsg, size_t errmsg_cap) {
    os_errf(errmsg, errmsg_cap, "%s", "");
    if (out == NULL || spec == NULL) {
        os_errf(errmsg, errmsg_cap, "no device given");
        return OS_ERR_ARG;
    }
    *out = NULL;
    if (strncmp(spec, "sim:", 4) == 0 && spec[4] != '\0') return os_transport_open_sim(spec + 4, out, errmsg, errmsg_cap);
    if (strcmp(spec, "hid") == 0) return os_transport_open_hid(NULL, out, errmsg, errmsg_cap);
    if (strncmp(spec, "hid:", 4) == 0 && spec[4] != '\0') return os_transport_open_hid(spec + 4, out, errmsg, errmsg_cap);
    if (strncmp(spec, "serial:", 7) == 0 && spec[7] != '\0') return os_transport_open_serial(spec + 7, out, errmsg, errmsg_cap);
    os_errf(errmsg, errmsg_cap, "unknown device '%s' (expected sim:PATH, hid, hid:PATH or serial:PATH)", spec);
    return OS_ERR_ARG;
}

/* ---------------------------------------------------------------- sim: Unix SOCK_SEQPACKET */

typedef struct {
    os_transport base;          /* first: the os_transport pointer is the sim_transport pointer */
    int fd;
} sim_transport;

static int sim_send(os_transport *t, const uint8_t report[OS_REPORT_SIZE]) {
    sim_transport *s = (sim_transport *)t;
    if (s->fd < 0 || report == NULL) return OS_ERR_IO;
    for (;;) {
        ssize_t n = send(s->fd, report, OS_REPORT_SIZE, MSG_NOSIGNAL);
        if (n == OS_REPORT_SIZE) return OS_OK;
        if (n < 0 && errno == EINTR) continue;
        return OS_ERR_IO;
    }
}

static int sim_recv(os_transport *t, uint8_t report[OS_REPORT_SIZE], int timeout_ms) {
    sim_transport *s = (sim_transport *)t;
    int64_t deadline = os_transport_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    if (s->fd < 0 || report == NULL) return OS_ERR_IO;
    for (;;) {
        int ready = os_transport_wait_readable(s->fd, deadline);
        if (ready < 0) return ready;
        if (ready > 0) {
            uint8_t buf[OS_REPORT_SIZE + 1];
            ssize_t n = recv(s->fd, buf, sizeof buf, 0);
            if (n == 0) return OS_ERR_IO;            /* the simulator closed the connection */
            if (n < 0 && errno != EINTR && errno != EAGAIN) return OS_ERR_IO;
            if (n == OS_REPORT_SIZE) {
                memcpy(report, buf, OS_REPORT_SIZE);
                return 1;
            }
            /* A packet of another size is not a report: dropped, as a USB stack would. */
        }
        if (os_transport_now_ms() >= deadline) return 0;
    }
}

static void sim_close(os_transport *t) {
    if (t != NULL) os_transport_free_fd(t, ((sim_transport *)t)->fd);
}

int os_transport_open_sim(const char *path, os_transport **out, char *errmsg, size_t errmsg_cap) {
    if (out == NULL || path == NULL) return OS_ERR_ARG;
    *out = NULL;
    char hint[160];
    snprintf(hint, sizeof hint, "is oncesign-sim running with --socket %s?", path);
    int fd = -1;
    int rc = os_transport_unix_connect(path, SOCK_SEQPACKET, "sim", hint, &fd, errmsg, errmsg_cap);
    if (rc != OS_OK) return rc;
    sim_transport *s = calloc(1, sizeof *s);
    if (s == NULL) {
        close(fd);
        os_errf(errmsg, errmsg_cap, "out of memory");
        return OS_ERR_IO;
    }
    s->fd = fd;
    return os_transport_ready(&s->base, out, sim_send, sim_recv, sim_close, "sim:%s", path);
}
