/* oncesign host — the transport seam: send or receive one 64-byte report.
 *
 * Everything above this (framing, codec, request ids, polling) lives in host/lib/client.c and is
 * shared by every transport, so the simulator transport tests the same code the USB path runs.
 * Backends: "sim:PATH" (the simulator's Unix socket), "hid[:PATH|:SERIAL]" (hidapi: the oncesign
 * device by vendor/product id, the given hidraw path, or the device with that USB serial number),
 * "serial:PATH" (the QEMU board's UART, with the
 * byte-stream resynchronisation of proto/PROTOCOL.md).
 */
#ifndef ONCESIGN_HOST_TRANSPORT_H
#define ONCESIGN_HOST_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"

typedef struct os_transport os_transport;

struct os_transport {
    /* Sends one report. Returns OS_OK or OS_ERR_IO. */
    int (*send)(os_transport *t, const uint8_t report[OS_REPORT_SIZE]);
    /* Waits up to timeout_ms. Returns 1 (report filled), 0 (timeout) or OS_ERR_IO. */
    int (*recv)(os_transport *t, uint8_t report[OS_REPORT_SIZE], int timeout_ms);
    void (*close)(os_transport *t);   /* frees t */
    char description[128];            /* for messages: "sim:/tmp/x.sock" */
};

/* Opens a transport from a device spec ("sim:PATH", "hid", "hid:PATH", "hid:SERIAL", "serial:PATH").
 * Returns: OS_OK; OS_ERR_ARG for an unknown spec; OS_ERR_IO when the device cannot be opened
 *          (errmsg then says why, e.g. "connect(/tmp/x.sock): No such file or directory").
 * Out:     *out: owned by the caller, released with (*out)->close(*out). */
int os_transport_open(const char *spec, os_transport **out, char *errmsg, size_t errmsg_cap);

/* The backends os_transport_open dispatches to (same contract; path as in the spec).
 * os_transport_open_hid: path NULL opens the only device with OS_HID_VENDOR_ID/OS_HID_PRODUCT_ID
 * (OS_ERR_IO when there are several: the operator names one); a path starting with '/' opens that
 * hidraw node; anything else is a USB serial number (`oncesign device list`) and opens the device
 * that has it. */
int os_transport_open_sim(const char *path, os_transport **out, char *errmsg, size_t errmsg_cap);
int os_transport_open_hid(const char *path, os_transport **out, char *errmsg, size_t errmsg_cap);
/* One oncesign device as the operating system lists it (os_hid_list). */
typedef struct {
    char path[128];             /* hidapi's path: /dev/hidrawN with the hidraw backend */
    char serial[64];            /* the USB serial number string, ASCII; "" when the device has none */
    char product[64];
    uint16_t vendor_id, product_id;
} os_hid_device;

/* Lists the attached devices with OS_HID_VENDOR_ID/OS_HID_PRODUCT_ID, in hidapi's order.
 * Returns: OS_OK (*count may be 0); OS_ERR_IO when hidapi cannot start (errmsg says why).
 * Out:     devices[0..min(*count, cap)): the first cap devices; *count: how many are attached. */
int os_hid_list(os_hid_device *devices, size_t cap, size_t *count, char *errmsg, size_t errmsg_cap);

/* os_transport_open_serial: path is a Unix stream socket (QEMU's -serial unix:PATH,server=on) or a
 * character device (pty, UART) put in raw mode; reports travel as proto/serial_frame.h frames. */
int os_transport_open_serial(const char *path, os_transport **out, char *errmsg, size_t errmsg_cap);

/* USB ids of oncesign devices: the firmware's, from oncesign/protocol.h. */
#define OS_HID_VENDOR_ID  OS_USB_VENDOR_ID
#define OS_HID_PRODUCT_ID OS_USB_PRODUCT_ID

#endif /* ONCESIGN_HOST_TRANSPORT_H */
