/* libFuzzer target: firmware/usb_device.c driven as a host (or a broken one) drives it. The input is a
 * sequence of steps: a selector byte, then an 8-byte setup packet (and for host-to-device requests
 * min(wLength, 64) data bytes), or a 64-byte interrupt OUT report, or a bus reset, or the core
 * taking/sending a report. Invariants: an answer is never longer than wLength nor than the buffer;
 * a stalled or host-to-device request answers nothing; the address stays <= 127 and the
 * configuration 0 or 1; a report the device accepted comes back unchanged, once, in order. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usb_device.h"

static void require(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static usb_device dev;
    uint8_t in[USB_EP0_SIZE + 8];
    uint8_t pending[OS_REPORT_SIZE], got[OS_REPORT_SIZE];
    int have_pending = 0;
    size_t off = 0;

    require(usb_device_init(&dev, "FUZZ01") == OS_OK);
    while (off < size) {
        uint8_t op = data[off++] % 5;
        if (op == 0) {
            usb_setup s;
            size_t in_len = 99, n = 0;
            if (size - off < 8) break;
            require(usb_setup_decode(data + off, &s) == OS_OK);
            off += 8;
            if (!(s.request_type & 0x80)) {
                n = s.length;
                if (n > size - off) break;
            }
            /* in_cap is a little above the minimum so an over-long answer would be seen. */
            memset(in, 0xA5, sizeof in);
            int rc = usb_device_control(&dev, &s, n > 0 ? data + off : NULL, n, in, sizeof in, &in_len);
            require(rc == OS_OK || rc == OS_ERR_UNSUPPORTED || rc == OS_ERR_BUSY);
            require(in_len <= s.length && in_len <= sizeof in);
            if (rc != OS_OK || !(s.request_type & 0x80)) require(in_len == 0);
            if (rc == OS_OK && s.request_type == 0x00 && s.request == 9) have_pending = 0;
            if (rc == OS_OK && !(s.request_type & 0x80) && s.request_type == 0x21 && s.request == 9) {
                require(!have_pending);
                memcpy(pending, data + off, OS_REPORT_SIZE);
                have_pending = 1;
            }
            off += n;
        } else if (op == 1) {
            if (size - off < OS_REPORT_SIZE) break;
            int rc = usb_device_receive(&dev, data + off, OS_REPORT_SIZE);
            require(rc == OS_OK || rc == OS_ERR_BUSY || rc == OS_ERR_UNSUPPORTED);
            require(rc != OS_OK || !have_pending);
            if (rc == OS_OK) {
                memcpy(pending, data + off, OS_REPORT_SIZE);
                have_pending = 1;
            }
            off += OS_REPORT_SIZE;
        } else if (op == 2) {
            usb_device_reset(&dev);
            have_pending = 0;
        } else if (op == 3) {
            int took = usb_device_take_report(&dev, got);
            /* SET_CONFIGURATION drops a report in flight; otherwise what went in comes out. */
            if (took) {
                require(have_pending);
                require(memcmp(got, pending, OS_REPORT_SIZE) == 0);
            }
            have_pending = 0;
        } else {
            uint8_t report[OS_REPORT_SIZE];
            memset(report, 0x3C, sizeof report);
            int rc = usb_device_send_report(&dev, report);
            require(rc == OS_OK || rc == OS_ERR_BUSY || rc == OS_ERR_IO);
            if (usb_device_take_in(&dev, got)) require(memcmp(got, report, OS_REPORT_SIZE) == 0);
        }
        require(usb_device_address(&dev) <= 127);
        require(dev.configuration <= 1);
    }
    return 0;
}
