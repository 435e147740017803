/* oncesign host — the hidapi backend: one 64-byte report in or out, nothing more (transport.h).
 * Everything above reports is shared with the simulator transport in client.c and tested there. */
#include "transport.h"
#include "transport_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <hidapi/hidapi.h>

#include "oncesign/status.h"

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

/* hidapi's wide strings hold what the USB string descriptors said; oncesign's are ASCII. */
static void ascii_from_wide(char *out, size_t cap, const wchar_t *w) {
    size_t n = 0;
    if (cap == 0) return;
    for (; w != NULL && w[n] != 0 && n + 1 < cap; n++) out[n] = (w[n] >= 0x20 && w[n] < 0x7F) ? (char)w[n] : '?';
    out[n] = '\0';
}

int os_hid_list(os_hid_device *devices, size_t cap, size_t *count, char *errmsg, size_t errmsg_cap) {
    if (count == NULL || (devices == NULL && cap > 0)) return OS_ERR_ARG;
    *count = 0;
    if (hid_init() != 0) {
        os_errf(errmsg, errmsg_cap, "hidapi: hid_init failed");
        return OS_ERR_IO;
    }
    struct hid_device_info *list = hid_enumerate(OS_HID_VENDOR_ID, OS_HID_PRODUCT_ID);
    for (struct hid_device_info *d = list; d != NULL; d = d->next) {
        if (d->path == NULL) continue;
        if (*count < cap) {
            os_hid_device *o = &devices[*count];
            memset(o, 0, sizeof *o);
            snprintf(o->path, sizeof o->path, "%s", d->path);
            ascii_from_wide(o->serial, sizeof o->serial, d->serial_number);
            ascii_from_wide(o->product, sizeof o->product, d->product_string);
            o->vendor_id = d->vendor_id;
            o->product_id = d->product_id;
        }
        (*count)++;
    }
    hid_free_enumeration(list);
    return OS_OK;
}

#define HID_LIST_MAX 16

/* Resolves "no path" (the only device) or a serial number to a hidraw path. */
static int find_device(const char *serial, char *path, size_t path_cap, char *errmsg, size_t errmsg_cap) {
    os_hid_device devs[HID_LIST_MAX];
    size_t n = 0, matches = 0;
    int rc = os_hid_list(devs, HID_LIST_MAX, &n, errmsg, errmsg_cap);
    if (rc != OS_OK) return rc;
    if (n == 0) {
        os_errf(errmsg, errmsg_cap, "hid: no oncesign device (USB %04x:%04x) found; is it plugged in and "
                "readable (udev rule, packaging/udev/)?", OS_HID_VENDOR_ID, OS_HID_PRODUCT_ID);
        return OS_ERR_IO;
    }
    if (serial == NULL && n > 1) {
        /* Signing with the wrong device would spend another device's nonce set: the operator names it. */
        os_errf(errmsg, errmsg_cap, "hid: %zu oncesign devices attached; choose one with --device hid:SERIAL "
                "(oncesign device list)", n);
        return OS_ERR_IO;
    }
    size_t pick = 0;
    for (size_t i = 0; i < n && i < HID_LIST_MAX; i++) {
        if (serial != NULL && strcmp(devs[i].serial, serial) != 0) continue;
        if (matches++ == 0) pick = i;
    }
    if (matches == 0) {
        os_errf(errmsg, errmsg_cap, "hid: no oncesign device with serial %s among the %zu attached (oncesign "
                "device list)", serial, n);
        return OS_ERR_IO;
    }
    if (matches > 1) {
        os_errf(errmsg, errmsg_cap, "hid: %zu devices report serial %s; name one by its hidraw path", matches, serial);
        return OS_ERR_IO;
    }
    size_t len = strnlen(devs[pick].path, sizeof devs[pick].path);
    if (len >= path_cap) {
        os_errf(errmsg, errmsg_cap, "hid: device path too long");
        return OS_ERR_IO;
    }
    memcpy(path, devs[pick].path, len + 1);
    return OS_OK;
}

int os_transport_open_hid(const char *path, os_transport **out, char *errmsg, size_t errmsg_cap) {
    if (out == NULL) return OS_ERR_ARG;
    *out = NULL;
    if (hid_init() != 0) {
        os_errf(errmsg, errmsg_cap, "hidapi: hid_init failed");
        return OS_ERR_IO;
    }
    hid_transport *h = calloc(1, sizeof *h);
    if (h == NULL) {
        os_errf(errmsg, errmsg_cap, "out of memory");
        return OS_ERR_IO;
    }
    char found_path[sizeof h->base.description - 8] = "";
    if (path != NULL && path[0] == '/') {
        snprintf(found_path, sizeof found_path, "%s", path);
    } else {
        int rc = find_device(path, found_path, sizeof found_path, errmsg, errmsg_cap);
        if (rc != OS_OK) {
            free(h);
            return rc;
        }
    }
    h->dev = hid_open_path(found_path);
    if (h->dev == NULL) {
        const wchar_t *why = hid_error(NULL);
        os_errf(errmsg, errmsg_cap, "hid:%s: cannot open: %ls", found_path, why != NULL ? why : L"unknown error");
        free(h);
        return OS_ERR_IO;
    }
    return os_transport_ready(&h->base, out, hid_send, hid_recv, hid_close_transport, "hid:%s", found_path);
}
