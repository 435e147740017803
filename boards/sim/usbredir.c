/* oncesign — the simulator's usbredir link (usbredir.h). Plays the part a hardware USB driver plays
 * on the board: moves packets between QEMU's usb-redir and firmware/usb_device.c and decides
 * nothing itself. One QEMU at a time; when it goes away the device is "unplugged" (reset) and the
 * socket listens for the next. */
#define _GNU_SOURCE 1   /* accept4 */
#include "usbredir.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <usbredirparser.h>

#include "oncesign/status.h"
#include "usb_device.h"

/* The guest's usbhid writes one report at a time; a few deferred OUT packets cover a host that
 * queues more while the core is busy signing. Beyond that the packet fails (the host sees EIO). */
#define DEFERRED_OUT_MAX  8
/* How long a report for the host may wait for the guest to poll the IN endpoint. */
#define SEND_TIMEOUT_MS   2000

typedef struct {
    uint64_t id;
    uint8_t len;
    uint8_t data[OS_REPORT_SIZE];
} deferred_out;

typedef struct {
    sim_link base;              /* first member */
    int listen_fd, conn_fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct usbredirparser *parser;
    int dead;                   /* the connection failed; close it after the parser call returns */
    int in_streaming;           /* QEMU started interrupt receiving on USB_EP_IN */
    usb_device dev;
    deferred_out out_queue[DEFERRED_OUT_MAX];
    unsigned out_count;
} usbredir_link;

/* level: "error" (the link or a request failed), "warning" (a packet was dropped), "info". */
static void link_log(const char *level, const char *fmt, ...) {
    struct timespec ts;
    char when[32] = "";
    va_list ap;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    if (gmtime_r(&ts.tv_sec, &tm) != NULL) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "oncesign-sim: %s %s usb: ", when, level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---------------------------------------------------------------- parser I/O */

static void cb_log(void *priv, int level, const char *msg) {
    (void)priv;
    if (level <= usbredirparser_warning) link_log(level == usbredirparser_error ? "error" : "warning", "usbredir: %s", msg);
}

static int cb_read(void *priv, uint8_t *data, int count) {
    usbredir_link *l = priv;
    ssize_t n = recv(l->conn_fd, data, (size_t)count, MSG_DONTWAIT);
    if (n > 0) return (int)n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    l->dead = 1;
    return -1;
}

/* Blocking: QEMU reads its socket all the time, and the signer has nothing else to do meanwhile. */
static int cb_write(void *priv, uint8_t *data, int count) {
    usbredir_link *l = priv;
    for (;;) {
        ssize_t n = send(l->conn_fd, data, (size_t)count, MSG_NOSIGNAL);
        if (n >= 0) return (int)n;
        if (errno == EINTR) continue;
        l->dead = 1;
        return -1;
    }
}

static void flush(usbredir_link *l) {
    if (l->parser != NULL && !l->dead && usbredirparser_has_data_to_write(l->parser) > 0) {
        if (usbredirparser_do_write(l->parser) != 0) l->dead = 1;
    }
}

/* ---------------------------------------------------------------- the device's side */

/* Hands the pending IN report to QEMU once it polls the endpoint (it buffers what we push). */
static void push_in(usbredir_link *l) {
    uint8_t report[OS_REPORT_SIZE];
    if (l->parser == NULL || !l->in_streaming) return;
    while (usb_device_take_in(&l->dev, report) == 1) {
        struct usb_redir_interrupt_packet_header h = { .endpoint = USB_EP_IN, .status = usb_redir_success,
                                                       .length = OS_REPORT_SIZE };
        usbredirparser_send_interrupt_packet(l->parser, 0, &h, report, OS_REPORT_SIZE);
    }
    flush(l);
}

static void complete_out(usbredir_link *l, uint64_t id, uint8_t status, uint16_t len) {
    struct usb_redir_interrupt_packet_header h = { .endpoint = USB_EP_OUT, .status = status, .length = len };
    usbredirparser_send_interrupt_packet(l->parser, id, &h, NULL, 0);
}

static uint8_t out_status(int rc, size_t len) {
    if (rc == OS_OK) return usb_redir_success;
    if (rc == OS_ERR_MSG_MALFORMED) {
        /* The bus delivered it; the device drops a report that is not 64 bytes. */
        link_log("warning", "dropped a %zu-byte OUT report (reports are %d bytes)", len, OS_REPORT_SIZE);
        return usb_redir_success;
    }
    return usb_redir_stall;
}

/* Feeds deferred OUT packets, oldest first, while the device takes them (NAK ends the loop). */
static void retry_deferred(usbredir_link *l) {
    while (l->out_count > 0 && l->parser != NULL) {
        deferred_out *d = &l->out_queue[0];
        int rc = usb_device_receive(&l->dev, d->data, d->len);
        if (rc == OS_ERR_BUSY) return;
        complete_out(l, d->id, out_status(rc, d->len), d->len);
        memmove(&l->out_queue[0], &l->out_queue[1], (l->out_count - 1) * sizeof l->out_queue[0]);
        l->out_count--;
    }
    flush(l);
}

static void announce_device(usbredir_link *l) {
    struct usb_redir_interface_info_header ifaces;
    struct usb_redir_ep_info_header eps;
    struct usb_redir_device_connect_header conn = {
        .speed = usb_redir_speed_full, .device_class = 0, .device_subclass = 0, .device_protocol = 0,
        .vendor_id = OS_USB_VENDOR_ID, .product_id = OS_USB_PRODUCT_ID, .device_version_bcd = 0x0100,
    };
    memset(&ifaces, 0, sizeof ifaces);
    ifaces.interface_count = 1;
    ifaces.interface_class[0] = 0x03;   /* HID, as the interface descriptor says */
    memset(&eps, 0, sizeof eps);
    /* usbredir indexes endpoints as (address & 0x0f) | (IN ? 16 : 0). */
    for (int i = 0; i < 32; i++) eps.type[i] = usb_redir_type_invalid;
    eps.type[0] = eps.type[16] = usb_redir_type_control;
    eps.max_packet_size[0] = eps.max_packet_size[16] = USB_EP0_SIZE;
    eps.type[USB_EP_OUT & 0x0f] = usb_redir_type_interrupt;
    eps.type[16 | (USB_EP_IN & 0x0f)] = usb_redir_type_interrupt;
    eps.interval[USB_EP_OUT & 0x0f] = eps.interval[16 | (USB_EP_IN & 0x0f)] = USB_REPORT_INTERVAL;
    eps.max_packet_size[USB_EP_OUT & 0x0f] = eps.max_packet_size[16 | (USB_EP_IN & 0x0f)] = OS_REPORT_SIZE;
    usbredirparser_send_interface_info(l->parser, &ifaces);
    usbredirparser_send_ep_info(l->parser, &eps);
    usbredirparser_send_device_connect(l->parser, &conn);
    flush(l);
}

static void cb_hello(void *priv, struct usb_redir_hello_header *hello) {
    usbredir_link *l = priv;
    link_log("info", "QEMU said hello (%.64s); attaching %04x:%04x serial %.*s", hello->version, OS_USB_VENDOR_ID,
             OS_USB_PRODUCT_ID, (int)l->dev.serial_len, l->dev.serial);
    announce_device(l);
}

static void cb_reset(void *priv) {
    usbredir_link *l = priv;
    usb_device_reset(&l->dev);
    l->out_count = 0;
}

/* Runs a standard request the way a hardware driver would have received it on EP0. */
static int run_setup(usbredir_link *l, uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint16_t length,
                     uint8_t *in, size_t in_cap, size_t *in_len) {
    usb_setup s = { .request_type = type, .request = req, .value = value, .index = index, .length = length };
    return usb_device_control(&l->dev, &s, NULL, 0, in, in_cap, in_len);
}

static void cb_set_configuration(void *priv, uint64_t id, struct usb_redir_set_configuration_header *h) {
    usbredir_link *l = priv;
    uint8_t in[USB_EP0_SIZE];
    size_t n;
    int rc = run_setup(l, 0x00, 9, h->configuration, 0, 0, in, sizeof in, &n);
    struct usb_redir_configuration_status_header st = {
        .status = rc == OS_OK ? usb_redir_success : usb_redir_stall, .configuration = l->dev.configuration };
    l->out_count = 0;
    usbredirparser_send_configuration_status(l->parser, id, &st);
    flush(l);
}

static void cb_get_configuration(void *priv, uint64_t id) {
    usbredir_link *l = priv;
    uint8_t in[USB_EP0_SIZE] = { 0 };
    size_t n = 0;
    int rc = run_setup(l, 0x80, 8, 0, 0, 1, in, sizeof in, &n);
    struct usb_redir_configuration_status_header st = {
        .status = rc == OS_OK && n == 1 ? usb_redir_success : usb_redir_stall, .configuration = in[0] };
    usbredirparser_send_configuration_status(l->parser, id, &st);
    flush(l);
}

static void cb_set_alt_setting(void *priv, uint64_t id, struct usb_redir_set_alt_setting_header *h) {
    usbredir_link *l = priv;
    uint8_t in[USB_EP0_SIZE];
    size_t n;
    int rc = run_setup(l, 0x01, 11, h->alt, h->interface, 0, in, sizeof in, &n);
    struct usb_redir_alt_setting_status_header st = {
        .status = rc == OS_OK ? usb_redir_success : usb_redir_stall, .interface = h->interface, .alt = 0 };
    usbredirparser_send_alt_setting_status(l->parser, id, &st);
    flush(l);
}

static void cb_get_alt_setting(void *priv, uint64_t id, struct usb_redir_get_alt_setting_header *h) {
    usbredir_link *l = priv;
    uint8_t in[USB_EP0_SIZE] = { 0 };
    size_t n = 0;
    int rc = run_setup(l, 0x81, 10, 0, h->interface, 1, in, sizeof in, &n);
    struct usb_redir_alt_setting_status_header st = {
        .status = rc == OS_OK && n == 1 ? usb_redir_success : usb_redir_stall, .interface = h->interface,
        .alt = in[0] };
    usbredirparser_send_alt_setting_status(l->parser, id, &st);
    flush(l);
}

static void cb_start_interrupt(void *priv, uint64_t id, struct usb_redir_start_interrupt_receiving_header *h) {
    usbredir_link *l = priv;
    struct usb_redir_interrupt_receiving_status_header st = { .status = usb_redir_inval, .endpoint = h->endpoint };
    if (h->endpoint == USB_EP_IN) {
        l->in_streaming = 1;
        st.status = usb_redir_success;
    }
    usbredirparser_send_interrupt_receiving_status(l->parser, id, &st);
    push_in(l);
}

static void cb_stop_interrupt(void *priv, uint64_t id, struct usb_redir_stop_interrupt_receiving_header *h) {
    usbredir_link *l = priv;
    struct usb_redir_interrupt_receiving_status_header st = { .status = usb_redir_inval, .endpoint = h->endpoint };
    if (h->endpoint == USB_EP_IN) {
        l->in_streaming = 0;
        st.status = usb_redir_success;
    }
    usbredirparser_send_interrupt_receiving_status(l->parser, id, &st);
    flush(l);
}

static void cb_control_packet(void *priv, uint64_t id, struct usb_redir_control_packet_header *h, uint8_t *data,
                              int data_len) {
    usbredir_link *l = priv;
    uint8_t in[256];
    size_t in_len = 0;
    usb_setup s = { .request_type = h->requesttype, .request = h->request, .value = h->value, .index = h->index,
                    .length = h->length };
    int rc;
    if ((h->endpoint & 0x7F) != 0) {   /* usbredir marks an IN control transfer as endpoint 0x80 */
        rc = OS_ERR_UNSUPPORTED;
    } else if (h->requesttype & 0x80) {
        rc = usb_device_control(&l->dev, &s, NULL, 0, in, sizeof in, &in_len);
    } else if (data_len >= 0 && (size_t)data_len == h->length) {
        rc = usb_device_control(&l->dev, &s, data, (size_t)data_len, in, sizeof in, &in_len);
    } else {
        rc = OS_ERR_UNSUPPORTED;   /* a data stage that does not match wLength */
    }
    if (rc != OS_OK && rc != OS_ERR_UNSUPPORTED) {
        link_log("error", "control request %02x/%02x: %s", h->requesttype, h->request, os_status_name(rc));
    }
    struct usb_redir_control_packet_header reply = *h;
    reply.status = rc == OS_OK ? usb_redir_success : usb_redir_stall;
    if (h->requesttype & 0x80) {
        reply.length = (uint16_t)in_len;
        usbredirparser_send_control_packet(l->parser, id, &reply, rc == OS_OK ? in : NULL,
                                           rc == OS_OK ? (int)in_len : 0);
    } else {
        reply.length = rc == OS_OK ? h->length : 0;
        usbredirparser_send_control_packet(l->parser, id, &reply, NULL, 0);
    }
    if (data != NULL) usbredirparser_free_packet_data(l->parser, data);
    flush(l);
}

static void cb_interrupt_packet(void *priv, uint64_t id, struct usb_redir_interrupt_packet_header *h,
                                uint8_t *data, int data_len) {
    usbredir_link *l = priv;
    if (h->endpoint != USB_EP_OUT || data_len < 0 || data_len > OS_REPORT_SIZE) {
        complete_out(l, id, usb_redir_inval, 0);
    } else if (l->out_count > 0) {
        /* Keep the host's order: behind packets that are already waiting. */
        goto defer;
    } else {
        int rc = usb_device_receive(&l->dev, data, (size_t)data_len);
        if (rc == OS_ERR_BUSY) goto defer;
        complete_out(l, id, out_status(rc, (size_t)data_len), (uint16_t)data_len);
    }
    goto done;
defer:
    if (l->out_count == DEFERRED_OUT_MAX) {
        link_log("error", "more than %d OUT reports waiting: failing one", DEFERRED_OUT_MAX);
        complete_out(l, id, usb_redir_ioerror, 0);
    } else {
        deferred_out *d = &l->out_queue[l->out_count++];
        d->id = id;
        d->len = (uint8_t)data_len;
        memcpy(d->data, data, (size_t)data_len);
    }
done:
    if (data != NULL) usbredirparser_free_packet_data(l->parser, data);
    flush(l);
}

static void cb_cancel(void *priv, uint64_t id) {
    usbredir_link *l = priv;
    for (unsigned i = 0; i < l->out_count; i++) {
        if (l->out_queue[i].id != id) continue;
        memmove(&l->out_queue[i], &l->out_queue[i + 1], (l->out_count - i - 1) * sizeof l->out_queue[0]);
        l->out_count--;
        return;
    }
}

/* This device has no bulk or isochronous endpoints: every such request is invalid. */
static void cb_iso_start(void *priv, uint64_t id, struct usb_redir_start_iso_stream_header *h) {
    usbredir_link *l = priv;
    struct usb_redir_iso_stream_status_header st = { .status = usb_redir_inval, .endpoint = h->endpoint };
    usbredirparser_send_iso_stream_status(l->parser, id, &st);
    flush(l);
}
static void cb_iso_stop(void *priv, uint64_t id, struct usb_redir_stop_iso_stream_header *h) {
    usbredir_link *l = priv;
    struct usb_redir_iso_stream_status_header st = { .status = usb_redir_inval, .endpoint = h->endpoint };
    usbredirparser_send_iso_stream_status(l->parser, id, &st);
    flush(l);
}
static void cb_bulk_packet(void *priv, uint64_t id, struct usb_redir_bulk_packet_header *h, uint8_t *data,
                           int data_len) {
    usbredir_link *l = priv;
    struct usb_redir_bulk_packet_header reply = *h;
    (void)data_len;
    reply.status = usb_redir_inval;
    reply.length = 0;
    usbredirparser_send_bulk_packet(l->parser, id, &reply, NULL, 0);
    if (data != NULL) usbredirparser_free_packet_data(l->parser, data);
    flush(l);
}
static void cb_iso_packet(void *priv, uint64_t id, struct usb_redir_iso_packet_header *h, uint8_t *data,
                          int data_len) {
    usbredir_link *l = priv;
    (void)id; (void)h; (void)data_len;
    if (data != NULL) usbredirparser_free_packet_data(l->parser, data);
}

/* ---------------------------------------------------------------- connection */

static void disconnect(usbredir_link *l, const char *why) {
    if (l->parser != NULL) {
        usbredirparser_destroy(l->parser);
        l->parser = NULL;
    }
    if (l->conn_fd >= 0) {
        close(l->conn_fd);
        l->conn_fd = -1;
        link_log("info", "QEMU disconnected (%s); device unplugged", why);
    }
    usb_device_reset(&l->dev);
    l->in_streaming = 0;
    l->out_count = 0;
    l->dead = 0;
    l->base.fd = l->listen_fd;
}

static int connect_parser(usbredir_link *l) {
    uint32_t caps[USB_REDIR_CAPS_SIZE] = { 0 };
    struct usbredirparser *p = usbredirparser_create();
    if (p == NULL) return OS_ERR_IO;
    p->priv = l;
    p->log_func = cb_log;
    p->read_func = cb_read;
    p->write_func = cb_write;
    p->hello_func = cb_hello;
    p->reset_func = cb_reset;
    p->set_configuration_func = cb_set_configuration;
    p->get_configuration_func = cb_get_configuration;
    p->set_alt_setting_func = cb_set_alt_setting;
    p->get_alt_setting_func = cb_get_alt_setting;
    p->start_interrupt_receiving_func = cb_start_interrupt;
    p->stop_interrupt_receiving_func = cb_stop_interrupt;
    p->start_iso_stream_func = cb_iso_start;
    p->stop_iso_stream_func = cb_iso_stop;
    p->cancel_data_packet_func = cb_cancel;
    p->control_packet_func = cb_control_packet;
    p->bulk_packet_func = cb_bulk_packet;
    p->iso_packet_func = cb_iso_packet;
    p->interrupt_packet_func = cb_interrupt_packet;
    usbredirparser_caps_set_cap(caps, usb_redir_cap_connect_device_version);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_ep_info_max_packet_size);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_64bits_ids);
    /* QEMU refuses a device for its xHCI without these three (hw/usb/redirect.c). */
    usbredirparser_caps_set_cap(caps, usb_redir_cap_32bits_bulk_length);
    l->parser = p;
    usbredirparser_init(p, "oncesign-sim", caps, USB_REDIR_CAPS_SIZE, usbredirparser_fl_usb_host);
    flush(l);
    return OS_OK;
}

static int link_serve(sim_link *base) {
    usbredir_link *l = (usbredir_link *)base;
    if (l->conn_fd < 0) {
        int fd = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) return OS_OK;
        l->conn_fd = fd;
        l->base.fd = fd;
        link_log("info", "QEMU connected");
        if (connect_parser(l) != OS_OK) {
            disconnect(l, "cannot create the usbredir parser");
            return OS_ERR_IO;
        }
        return OS_OK;
    }
    int rc = usbredirparser_do_read(l->parser);
    if (rc == usbredirparser_read_parse_error) link_log("warning", "usbredir: a malformed packet was skipped");
    flush(l);
    if (l->dead || rc == usbredirparser_read_io_error) {
        disconnect(l, "connection closed");
        return OS_ERR_IO;
    }
    return OS_OK;
}

static int link_take(sim_link *base, uint8_t report[64]) {
    usbredir_link *l = (usbredir_link *)base;
    int got = usb_device_take_report(&l->dev, report);
    if (got) retry_deferred(l);
    return got;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int link_send(sim_link *base, const uint8_t report[64]) {
    usbredir_link *l = (usbredir_link *)base;
    int64_t deadline = now_ms() + SEND_TIMEOUT_MS;
    for (;;) {
        int rc = usb_device_send_report(&l->dev, report);
        if (rc == OS_OK) {
            push_in(l);
            return OS_OK;
        }
        if (rc != OS_ERR_BUSY) return OS_ERR_IO;   /* not configured: no host to send to */
        /* The previous report still waits for the guest to poll; serve QEMU meanwhile. */
        push_in(l);
        int64_t left = deadline - now_ms();
        if (left <= 0 || l->conn_fd < 0) {
            link_log("error", "the host did not read a report within %d ms", SEND_TIMEOUT_MS);
            return OS_ERR_IO;
        }
        struct pollfd p = { .fd = l->conn_fd, .events = POLLIN };
        if (poll(&p, 1, (int)left) > 0 && link_serve(base) != OS_OK) return OS_ERR_IO;
    }
}

int sim_usbredir_open(const char *path, const char *serial, sim_link **out, char *errmsg, size_t errmsg_cap) {
    struct sockaddr_un addr;
    struct stat st;
    if (out == NULL || path == NULL || serial == NULL) return OS_ERR_ARG;
    *out = NULL;
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(errmsg, errmsg_cap, "usbredir socket path longer than %zu bytes", sizeof addr.sun_path - 1);
        return OS_ERR_ARG;
    }
    usbredir_link *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(errmsg, errmsg_cap, "out of memory");
        return OS_ERR_IO;
    }
    if (usb_device_init(&l->dev, serial) != OS_OK) {
        snprintf(errmsg, errmsg_cap, "USB serial '%s': 1 to %d characters from 0-9 A-Z", serial, USB_SERIAL_MAX);
        free(l);
        return OS_ERR_ARG;
    }
    l->conn_fd = -1;
    strcpy(l->path, path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(errmsg, errmsg_cap, "usbredir path %s exists and is not a socket", path);
            free(l);
            return OS_ERR_IO;
        }
        unlink(path);
    }
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    l->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->listen_fd < 0 || bind(l->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(l->listen_fd, 1) != 0) {
        snprintf(errmsg, errmsg_cap, "usbredir socket %s: %s", path, strerror(errno));
        if (l->listen_fd >= 0) close(l->listen_fd);
        free(l);
        return OS_ERR_IO;
    }
    l->base.fd = l->listen_fd;
    l->base.serve = link_serve;
    l->base.take = link_take;
    l->base.send = link_send;
    *out = &l->base;
    return OS_OK;
}

void sim_usbredir_close(sim_link *base) {
    usbredir_link *l = (usbredir_link *)base;
    if (l == NULL) return;
    disconnect(l, "simulator stopping");
    close(l->listen_fd);
    unlink(l->path);
    free(l);
}
