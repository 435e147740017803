/* oncesign host — the hidapi backend: one 64-byte report in or out, nothing more (transport.h).
 * Everything above reports is shared with the simulator transport in client.c and tested there. */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <hidapi/hidapi.h>

#include "oncesign/status.h"

#define set_err(buf, cap, ...) do { if ((buf) != NULL && (cap) > 0) snprintf((buf), (cap), __VA_ARGS__); } while (0)

typedef struct {
    os_transport base;          /* first member */
    hid_device *dev;
} hid_transport;

static int hid_send(os_transport *t, const uint8_t report[OS_REPORT_SIZE]) {
    hid_transport *h = (hid_transport *)t;
    uint8_t buf[OS_REPORT_SIZE + 1];
    if (h->dev == NULL || report == NULL) return OS_ERR_IO;
    buf[0] = 0;                 /* report id: the device uses unnumbered reports */
    memcpy(buf + 1, report, OS_REPORT_SIZE);
    return hid_write(h->dev, buf, sizeof buf) == (int)sizeof buf ? OS_OK : OS_ERR_IO;
}

static int hid_recv(os_transport *t, uint8_t report[OS_REPORT_SIZE], int timeout_ms) {
    hid_transport *h = (hid_transport *)t;
    uint8_t buf[OS_REPORT_SIZE];
    if (h->dev == NULL || report == NULL) return OS_ERR_IO;
    int n = hid_read_timeout(h->dev, buf, sizeof buf, timeout_ms > 0 ? timeout_ms : 0);
    if (n < 0) return OS_ERR_IO;
    if (n == 0) return 0;
    /* Short reads happen only with a mis-described device; pad as the framing expects. */
    memset(report, 0, OS_REPORT_SIZE);
    memcpy(report, buf, (size_t)n);
    return 1;
}

static void hid_close_transport(os_transport *t) {
    hid_transport *h = (hid_transport *)t;
    if (h == NULL) return;
    if (h->dev != NULL) hid_close(h->dev);
    free(h);
}

int os_transport_open_hid(const char *path, os_transport **out, char *errmsg, size_t errmsg_cap) {
    if (out == NULL) return OS_ERR_ARG;
    *out = NULL;
    if (hid_init() != 0) {
        set_err(errmsg, errmsg_cap, "hidapi: hid_init failed");
        return OS_ERR_IO;
    }
    hid_transport *h = calloc(1, sizeof *h);
    if (h == NULL) {
        set_err(errmsg, errmsg_cap, "out of memory");
        return OS_ERR_IO;
    }
    char found_path[sizeof h->base.description - 8] = "";
    if (path != NULL) {
        h->dev = hid_open_path(path);
        snprintf(found_path, sizeof found_path, "%s", path);
    } else {
        struct hid_device_info *list = hid_enumerate(OS_HID_VENDOR_ID, OS_HID_PRODUCT_ID);
        if (list != NULL && list->path != NULL) {
            snprintf(found_path, sizeof found_path, "%s", list->path);
            h->dev = hid_open_path(list->path);
        }
        hid_free_enumeration(list);
        if (found_path[0] == '\0') {
            set_err(errmsg, errmsg_cap, "hid: no oncesign device (USB %04x:%04x) found; is it plugged in and "
                     "readable (udev rule)?", OS_HID_VENDOR_ID, OS_HID_PRODUCT_ID);
            free(h);
            return OS_ERR_IO;
        }
    }
    if (h->dev == NULL) {
        const wchar_t *why = hid_error(NULL);
        set_err(errmsg, errmsg_cap, "hid:%s: cannot open: %ls", found_path, why != NULL ? why : L"unknown error");
        free(h);
        return OS_ERR_IO;
    }
    h->base.send = hid_send;
    h->base.recv = hid_recv;
    h->base.close = hid_close_transport;
    snprintf(h->base.description, sizeof h->base.description, "hid:%s", found_path);
    *out = &h->base;
    return OS_OK;
}
