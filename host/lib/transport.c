/* oncesign host — os_transport_open and the simulator socket backend (contract in transport.h). */
#include "transport.h"

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

static void set_err(char *errmsg, size_t cap, const char *fmt, ...) {
    va_list ap;
    if (errmsg == NULL || cap == 0) return;
    va_start(ap, fmt);
    vsnprintf(errmsg, cap, fmt, ap);
    va_end(ap);
}

int os_transport_open(const char *spec, os_transport **out, char *errmsg, size_t errmsg_cap) {
    set_err(errmsg, errmsg_cap, "%s", "");
    if (out == NULL || spec == NULL) {
        set_err(errmsg, errmsg_cap, "no device given");
        return OS_ERR_ARG;
    }
    *out = NULL;
    if (strncmp(spec, "sim:", 4) == 0 && spec[4] != '\0') return os_transport_open_sim(spec + 4, out, errmsg, errmsg_cap);
    if (strcmp(spec, "hid") == 0) return os_transport_open_hid(NULL, out, errmsg, errmsg_cap);
    if (strncmp(spec, "hid:", 4) == 0 && spec[4] != '\0') return os_transport_open_hid(spec + 4, out, errmsg, errmsg_cap);
    if (strncmp(spec, "serial:", 7) == 0 && spec[7] != '\0') return os_transport_open_serial(spec + 7, out, errmsg, errmsg_cap);
    set_err(errmsg, errmsg_cap, "unknown device '%s' (expected sim:PATH, hid, hid:PATH or serial:PATH)", spec);
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

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sim_recv(os_transport *t, uint8_t report[OS_REPORT_SIZE], int timeout_ms) {
    sim_transport *s = (sim_transport *)t;
    int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    if (s->fd < 0 || report == NULL) return OS_ERR_IO;
    for (;;) {
        struct pollfd p = { .fd = s->fd, .events = POLLIN };
        int64_t left = deadline - mono_ms();
        int ready = poll(&p, 1, left > 0 ? (int)left : 0);
        if (ready < 0 && errno != EINTR) return OS_ERR_IO;
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
        if (mono_ms() >= deadline) return 0;
    }
}

static void sim_close(os_transport *t) {
    sim_transport *s = (sim_transport *)t;
    if (s == NULL) return;
    if (s->fd >= 0) close(s->fd);
    free(s);
}

int os_transport_open_sim(const char *path, os_transport **out, char *errmsg, size_t errmsg_cap) {
    struct sockaddr_un addr;
    if (out == NULL || path == NULL) return OS_ERR_ARG;
    *out = NULL;
    if (strlen(path) >= sizeof addr.sun_path) {
        set_err(errmsg, errmsg_cap, "sim:%s: path longer than %zu bytes", path, sizeof addr.sun_path - 1);
        return OS_ERR_ARG;
    }
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    sim_transport *s = calloc(1, sizeof *s);
    if (s == NULL) {
        set_err(errmsg, errmsg_cap, "out of memory");
        return OS_ERR_IO;
    }
    s->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        set_err(errmsg, errmsg_cap, "connect(%s): %s (is oncesign-sim running with --socket %s?)", path,
                strerror(errno), path);
        sim_close(&s->base);
        return OS_ERR_IO;
    }
    s->base.send = sim_send;
    s->base.recv = sim_recv;
    s->base.close = sim_close;
    snprintf(s->base.description, sizeof s->base.description, "sim:%s", path);
    *out = &s->base;
    return OS_OK;
}
