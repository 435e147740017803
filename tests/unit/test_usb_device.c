/* Unit tests for firmware/usb_device.c: the descriptors a host reads during enumeration (checked
 * field by field against USB 2.0 chapter 9 and HID 1.11), wLength truncation, the state rules of
 * the standard requests, the HID class requests, and the report path both ways with its NAK. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "usb_device.h"

static usb_device g_dev;
static uint8_t g_in[256];
static size_t g_in_len;

static int control(uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint16_t length) {
    usb_setup s = { type, req, value, index, length };
    memset(g_in, 0xEE, sizeof g_in);
    return usb_device_control(&g_dev, &s, NULL, 0, g_in, sizeof g_in, &g_in_len);
}

static int control_out(uint8_t type, uint8_t req, uint16_t value, uint16_t index, const uint8_t *data, uint16_t len) {
    usb_setup s = { type, req, value, index, len };
    return usb_device_control(&g_dev, &s, data, len, g_in, sizeof g_in, &g_in_len);
}

static void configure(void) {
    assert_int_equal(usb_device_init(&g_dev, "OS0001"), OS_OK);
    assert_int_equal(control(0x00, 5, 7, 0, 0), OS_OK);       /* SET_ADDRESS 7 */
    assert_int_equal(control(0x00, 9, 1, 0, 0), OS_OK);       /* SET_CONFIGURATION 1 */
    assert_true(usb_device_configured(&g_dev));
}

static void test_init_rejects_bad_serials(void **state) {
    (void)state;
    assert_int_equal(usb_device_init(&g_dev, ""), OS_ERR_ARG);
    assert_int_equal(usb_device_init(&g_dev, "os0001"), OS_ERR_ARG);          /* lowercase */
    assert_int_equal(usb_device_init(&g_dev, "OS-0001"), OS_ERR_ARG);
    assert_int_equal(usb_device_init(&g_dev, "0123456789ABCDEFGHIJKLMNO"), OS_ERR_ARG);   /* 25 */
    assert_int_equal(usb_device_init(&g_dev, "0123456789ABCDEFGHIJKLMN"), OS_OK);          /* 24 */
    assert_int_equal(usb_device_init(NULL, "A"), OS_ERR_ARG);
    assert_int_equal(usb_device_init(&g_dev, NULL), OS_ERR_ARG);
}

static void test_device_descriptor(void **state) {
    (void)state;
    assert_int_equal(usb_device_init(&g_dev, "OS0001"), OS_OK);
    assert_int_equal(control(0x80, 6, 0x0100, 0, 64), OS_OK);
    assert_int_equal(g_in_len, 18);
    const uint8_t want[18] = { 18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x09, 0x12, 0x53, 0x4F, 0x00, 0x01, 1, 2, 3, 1 };
    assert_memory_equal(g_in, want, 18);
    /* Linux first asks for 8 bytes (and Windows for 64): the answer is cut to wLength. */
    assert_int_equal(control(0x80, 6, 0x0100, 0, 8), OS_OK);
    assert_int_equal(g_in_len, 8);
    assert_int_equal(g_in[8], 0xEE);
}

static void test_configuration_descriptor(void **state) {
    (void)state;
    assert_int_equal(usb_device_init(&g_dev, "OS0001"), OS_OK);
    assert_int_equal(control(0x80, 6, 0x0200, 0, 9), OS_OK);
    assert_int_equal(g_in_len, 9);
    uint16_t total = (uint16_t)(g_in[2] | g_in[3] << 8);
    assert_int_equal(total, 41);
    assert_int_equal(control(0x80, 6, 0x0200, 0, 255), OS_OK);
    assert_int_equal(g_in_len, total);
    /* Walk the descriptors: each length byte must land exactly on the next one. */
    size_t off = 0, n_iface = 0, n_hid = 0, n_ep = 0;
    uint16_t report_len = 0;
    while (off < g_in_len) {
        uint8_t len = g_in[off], type = g_in[off + 1];
        assert_true(len >= 2 && off + len <= g_in_len);
        if (type == 4) {
            n_iface++;
            assert_int_equal(g_in[off + 4], 2);      /* two endpoints */
            assert_int_equal(g_in[off + 5], 0x03);   /* HID */
            assert_int_equal(g_in[off + 6], 0);      /* no boot subclass */
        } else if (type == 0x21) {
            n_hid++;
            assert_int_equal(g_in[off + 6], 0x22);
            report_len = (uint16_t)(g_in[off + 7] | g_in[off + 8] << 8);
        } else if (type == 5) {
            n_ep++;
            assert_true(g_in[off + 2] == USB_EP_IN || g_in[off + 2] == USB_EP_OUT);
            assert_int_equal(g_in[off + 3], 0x03);   /* interrupt */
            assert_int_equal(g_in[off + 4] | g_in[off + 5] << 8, OS_REPORT_SIZE);
            assert_int_equal(g_in[off + 6], USB_REPORT_INTERVAL);
        }
        off += len;
    }
    assert_int_equal(off, g_in_len);
    assert_int_equal(n_iface, 1);
    assert_int_equal(n_hid, 1);
    assert_int_equal(n_ep, 2);
    /* The report descriptor the HID descriptor announces, asked of the interface. */
    assert_int_equal(control(0x81, 6, 0x2200, 0, 255), OS_OK);
    assert_int_equal(g_in_len, report_len);
    assert_int_equal(g_in[0], 0x06);                 /* Usage Page ... */
    assert_int_equal(g_in[1] | g_in[2] << 8, 0xFF00);   /* ... vendor-defined */
    assert_int_equal(g_in[g_in_len - 1], 0xC0);     /* End Collection */
    /* Both 64-byte reports: Report Count (0x95) 64 appears twice. */
    int counts = 0;
    for (size_t i = 0; i + 1 < g_in_len; i++) if (g_in[i] == 0x95 && g_in[i + 1] == 64) counts++;
    assert_int_equal(counts, 2);
    assert_int_equal(control(0x81, 6, 0x2100, 0, 9), OS_OK);
    assert_int_equal(g_in_len, 9);
    assert_int_equal(g_in[1], 0x21);
}

static void test_strings(void **state) {
    (void)state;
    assert_int_equal(usb_device_init(&g_dev, "OS0001"), OS_OK);
    assert_int_equal(control(0x80, 6, 0x0300, 0, 255), OS_OK);
    const uint8_t langs[4] = { 4, 3, 0x09, 0x04 };
    assert_int_equal(g_in_len, 4);
    assert_memory_equal(g_in, langs, 4);
    assert_int_equal(control(0x80, 6, 0x0303, 0x0409, 255), OS_OK);
    const uint8_t serial[14] = { 14, 3, 'O', 0, 'S', 0, '0', 0, '0', 0, '0', 0, '1', 0 };
    assert_int_equal(g_in_len, 14);
    assert_memory_equal(g_in, serial, 14);
    assert_int_equal(control(0x80, 6, 0x0302, 0x0409, 255), OS_OK);
    assert_int_equal(g_in_len, 2 + 2 * strlen("oncesign signer"));
    assert_int_equal(control(0x80, 6, 0x0304, 0x0409, 255), OS_ERR_UNSUPPORTED);   /* no string 4 */
    assert_int_equal(control(0x80, 6, 0x0303, 0x0407, 255), OS_ERR_UNSUPPORTED);   /* German: not offered */
    assert_int_equal(control(0x80, 6, 0x0600, 0, 10), OS_ERR_UNSUPPORTED);         /* qualifier: FS only */
}

static void test_state_rules(void **state) {
    (void)state;
    assert_int_equal(usb_device_init(&g_dev, "OS0001"), OS_OK);
    assert_int_equal(control(0x00, 5, 128, 0, 0), OS_ERR_UNSUPPORTED);   /* address above 127 */
    assert_int_equal(control(0x00, 5, 9, 0, 0), OS_OK);
    assert_int_equal(usb_device_address(&g_dev), 9);
    assert_int_equal(control(0x00, 9, 2, 0, 0), OS_ERR_UNSUPPORTED);     /* no configuration 2 */
    assert_int_equal(control(0x81, 10, 0, 0, 1), OS_ERR_UNSUPPORTED);    /* GET_INTERFACE unconfigured */
    assert_int_equal(control(0x80, 8, 0, 0, 1), OS_OK);
    assert_int_equal(g_in[0], 0);
    assert_int_equal(control(0x00, 9, 1, 0, 0), OS_OK);
    assert_int_equal(control(0x80, 8, 0, 0, 1), OS_OK);
    assert_int_equal(g_in[0], 1);
    assert_int_equal(control(0x00, 5, 10, 0, 0), OS_ERR_UNSUPPORTED);    /* SET_ADDRESS when configured */
    assert_int_equal(control(0x81, 10, 0, 0, 1), OS_OK);
    assert_int_equal(g_in[0], 0);
    assert_int_equal(control(0x01, 11, 1, 0, 0), OS_ERR_UNSUPPORTED);    /* no alternate setting 1 */
    assert_int_equal(control(0x40, 1, 0, 0, 0), OS_ERR_UNSUPPORTED);     /* vendor request */
    assert_int_equal(control(0x00, 7, 0x0100, 0, 0), OS_ERR_UNSUPPORTED); /* SET_DESCRIPTOR */
    /* GET_STATUS: device bus-powered without remote wakeup; endpoint halt bits follow SET/CLEAR_FEATURE. */
    assert_int_equal(control(0x80, 0, 0, 0, 2), OS_OK);
    assert_int_equal(g_in[0] | g_in[1] << 8, 0);
    assert_int_equal(control(0x02, 3, 0, USB_EP_IN, 0), OS_OK);
    assert_int_equal(control(0x82, 0, 0, USB_EP_IN, 2), OS_OK);
    assert_int_equal(g_in[0], 1);
    assert_int_equal(control(0x02, 1, 0, USB_EP_IN, 0), OS_OK);
    assert_int_equal(control(0x82, 0, 0, USB_EP_IN, 2), OS_OK);
    assert_int_equal(g_in[0], 0);
    assert_int_equal(control(0x82, 0, 0, 0x82, 2), OS_ERR_UNSUPPORTED);  /* no endpoint 2 */
    assert_int_equal(control(0x00, 3, 1, 0, 0), OS_ERR_UNSUPPORTED);     /* remote wakeup: not offered */
    /* A bus reset forgets address and configuration. */
    usb_device_reset(&g_dev);
    assert_int_equal(usb_device_address(&g_dev), 0);
    assert_false(usb_device_configured(&g_dev));
}

static void test_hid_class_requests(void **state) {
    (void)state;
    assert_int_equal(usb_device_init(&g_dev, "OS0001"), OS_OK);
    assert_int_equal(control(0x21, 10, 0, 0, 0), OS_ERR_UNSUPPORTED);    /* SET_IDLE before configuration */
    configure();
    assert_int_equal(control(0x21, 10, 0x0400, 0, 0), OS_OK);            /* SET_IDLE 16 ms */
    assert_int_equal(control(0xA1, 2, 0, 0, 1), OS_OK);                  /* GET_IDLE */
    assert_int_equal(g_in[0], 4);
    assert_int_equal(control(0xA1, 3, 0, 0, 1), OS_ERR_UNSUPPORTED);     /* GET_PROTOCOL: no boot */
    assert_int_equal(control(0x21, 11, 0, 0, 0), OS_ERR_UNSUPPORTED);    /* SET_PROTOCOL */
    assert_int_equal(control(0xA1, 1, 0x0100, 0, 64), OS_OK);            /* GET_REPORT input */
    assert_int_equal(g_in_len, 64);
    for (size_t i = 0; i < 64; i++) assert_int_equal(g_in[i], 0);
    assert_int_equal(control(0xA1, 1, 0x0300, 0, 64), OS_ERR_UNSUPPORTED);   /* feature: none */
    /* SET_REPORT carries a report exactly as interrupt OUT does. */
    uint8_t report[64], got[64];
    for (size_t i = 0; i < 64; i++) report[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(control_out(0x21, 9, 0x0200, 0, report, 64), OS_OK);
    assert_int_equal(control_out(0x21, 9, 0x0200, 0, report, 64), OS_ERR_BUSY);
    assert_int_equal(usb_device_take_report(&g_dev, got), 1);
    assert_memory_equal(got, report, 64);
    assert_int_equal(control_out(0x21, 9, 0x0200, 0, report, 63), OS_ERR_UNSUPPORTED);
    assert_int_equal(control_out(0x21, 9, 0x0201, 0, report, 64), OS_ERR_UNSUPPORTED);   /* report id 1 */
    /* The data stage must be as long as wLength: a driver that says otherwise misuses the API. */
    usb_setup s = { 0x21, 9, 0x0200, 0, 64 };
    assert_int_equal(usb_device_control(&g_dev, &s, report, 10, g_in, sizeof g_in, &g_in_len), OS_ERR_ARG);
}

static void test_reports_both_ways(void **state) {
    (void)state;
    uint8_t report[64], got[64];
    assert_int_equal(usb_device_init(&g_dev, "OS0001"), OS_OK);
    memset(report, 0x5A, sizeof report);
    /* Nothing flows before SET_CONFIGURATION. */
    assert_int_equal(usb_device_receive(&g_dev, report, 64), OS_ERR_UNSUPPORTED);
    assert_int_equal(usb_device_send_report(&g_dev, report), OS_ERR_IO);
    configure();
    assert_int_equal(usb_device_take_report(&g_dev, got), 0);
    assert_int_equal(usb_device_receive(&g_dev, report, 64), OS_OK);
    report[0] = 0x11;
    assert_int_equal(usb_device_receive(&g_dev, report, 64), OS_ERR_BUSY);   /* NAK until taken */
    assert_int_equal(usb_device_take_report(&g_dev, got), 1);
    assert_int_equal(got[0], 0x5A);
    assert_int_equal(usb_device_take_report(&g_dev, got), 0);                /* once */
    assert_int_equal(usb_device_receive(&g_dev, report, 64), OS_OK);         /* the retry */
    assert_int_equal(usb_device_take_report(&g_dev, got), 1);
    assert_int_equal(got[0], 0x11);
    assert_int_equal(usb_device_receive(&g_dev, report, 63), OS_ERR_MSG_MALFORMED);
    assert_int_equal(usb_device_take_report(&g_dev, got), 0);
    /* IN: one report in the endpoint at a time; a halted endpoint holds it back. */
    assert_int_equal(usb_device_take_in(&g_dev, got), 0);
    report[0] = 0x22;
    assert_int_equal(usb_device_send_report(&g_dev, report), OS_OK);
    assert_int_equal(usb_device_send_report(&g_dev, report), OS_ERR_BUSY);
    assert_int_equal(control(0x02, 3, 0, USB_EP_IN, 0), OS_OK);               /* halt */
    assert_int_equal(usb_device_take_in(&g_dev, got), 0);
    assert_int_equal(control(0x02, 1, 0, USB_EP_IN, 0), OS_OK);               /* clear */
    assert_int_equal(usb_device_take_in(&g_dev, got), 1);
    assert_int_equal(got[0], 0x22);
    assert_int_equal(usb_device_take_in(&g_dev, got), 0);
    /* A halted OUT endpoint stalls. */
    assert_int_equal(control(0x02, 3, 0, USB_EP_OUT, 0), OS_OK);
    assert_int_equal(usb_device_receive(&g_dev, report, 64), OS_ERR_UNSUPPORTED);
    /* Re-selecting the configuration drops what was in flight. */
    assert_int_equal(control(0x02, 1, 0, USB_EP_OUT, 0), OS_OK);
    assert_int_equal(usb_device_receive(&g_dev, report, 64), OS_OK);
    assert_int_equal(control(0x00, 9, 1, 0, 0), OS_OK);
    assert_int_equal(usb_device_take_report(&g_dev, got), 0);
}

static void test_setup_decode(void **state) {
    (void)state;
    const uint8_t raw[8] = { 0x80, 6, 0x00, 0x01, 0x09, 0x04, 0x40, 0x00 };
    usb_setup s;
    assert_int_equal(usb_setup_decode(raw, &s), OS_OK);
    assert_int_equal(s.request_type, 0x80);
    assert_int_equal(s.request, 6);
    assert_int_equal(s.value, 0x0100);
    assert_int_equal(s.index, 0x0409);
    assert_int_equal(s.length, 64);
    assert_int_equal(usb_setup_decode(NULL, &s), OS_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_serials),
        cmocka_unit_test(test_device_descriptor),
        cmocka_unit_test(test_configuration_descriptor),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_state_rules),
        cmocka_unit_test(test_hid_class_requests),
        cmocka_unit_test(test_reports_both_ways),
        cmocka_unit_test(test_setup_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
