/* oncesign — the USB device's descriptors and requests (usb_device.h; docs/USB.md explains each
 * field). USB 2.0 chapter 9 and HID 1.11 are the references; where a request's behaviour is left
 * open by the specification in the state it arrives in, this device stalls rather than guesses. */
#include "usb_device.h"

#include <string.h>

#include "oncesign/check.h"

/* bmRequestType: direction, type, recipient (USB 2.0 table 9-2). */
#define RT_IN          0x80u
#define RT_TYPE_MASK   0x60u
#define RT_STANDARD    0x00u
#define RT_CLASS       0x20u
#define RT_RECIP_MASK  0x1Fu
#define RT_DEVICE      0x00u
#define RT_INTERFACE   0x01u
#define RT_ENDPOINT    0x02u

enum {
    REQ_GET_STATUS = 0, REQ_CLEAR_FEATURE = 1, REQ_SET_FEATURE = 3, REQ_SET_ADDRESS = 5,
    REQ_GET_DESCRIPTOR = 6, REQ_SET_DESCRIPTOR = 7, REQ_GET_CONFIGURATION = 8,
    REQ_SET_CONFIGURATION = 9, REQ_GET_INTERFACE = 10, REQ_SET_INTERFACE = 11,
};
enum { HID_GET_REPORT = 1, HID_GET_IDLE = 2, HID_GET_PROTOCOL = 3, HID_SET_REPORT = 9,
       HID_SET_IDLE = 10, HID_SET_PROTOCOL = 11 };
enum { DESC_DEVICE = 1, DESC_CONFIGURATION = 2, DESC_STRING = 3, DESC_INTERFACE = 4,
       DESC_ENDPOINT = 5, DESC_HID = 0x21, DESC_HID_REPORT = 0x22 };
enum { HID_REPORT_INPUT = 1, HID_REPORT_OUTPUT = 2 };
#define FEATURE_ENDPOINT_HALT 0
#define STRING_LANGID_EN_US   0x0409
#define STRING_MANUFACTURER   1
#define STRING_PRODUCT        2
#define STRING_SERIAL         3

#define LO(x) ((uint8_t)((x) & 0xFF))
#define HI(x) ((uint8_t)(((x) >> 8) & 0xFF))

/* One interface, no report ids: every report is the 64 bytes of a frame, both ways. The usage page
 * is vendor-defined so no operating system binds a keyboard/mouse driver or reads it as input. */
static const uint8_t report_descriptor[] = {
    0x06, 0x00, 0xFF,   /* Usage Page (vendor-defined 0xFF00) */
    0x09, 0x01,         /* Usage (1) */
    0xA1, 0x01,         /* Collection (Application) */
    0x09, 0x20,         /*   Usage (0x20: data in) */
    0x15, 0x00,         /*   Logical Minimum (0) */
    0x26, 0xFF, 0x00,   /*   Logical Maximum (255) */
    0x75, 0x08,         /*   Report Size (8 bits) */
    0x95, OS_REPORT_SIZE, /* Report Count (64) */
    0x81, 0x02,         /*   Input (Data, Variable, Absolute) */
    0x09, 0x21,         /*   Usage (0x21: data out) */
    0x15, 0x00,
    0x26, 0xFF, 0x00,
    0x75, 0x08,
    0x95, OS_REPORT_SIZE,
    0x91, 0x02,         /*   Output (Data, Variable, Absolute) */
    0xC0,               /* End Collection */
};

static const uint8_t device_descriptor[18] = {
    18, DESC_DEVICE,
    0x00, 0x02,                         /* bcdUSB 2.00 */
    0x00, 0x00, 0x00,                   /* class per interface */
    USB_EP0_SIZE,
    LO(OS_USB_VENDOR_ID), HI(OS_USB_VENDOR_ID),
    LO(OS_USB_PRODUCT_ID), HI(OS_USB_PRODUCT_ID),
    0x00, 0x01,                         /* bcdDevice 1.00 */
    STRING_MANUFACTURER, STRING_PRODUCT, STRING_SERIAL,
    1,                                  /* one configuration */
};

#define HID_DESCRIPTOR_OFFSET 18   /* of the HID descriptor inside the configuration descriptor */
#define CONFIG_TOTAL_LENGTH   (9 + 9 + 9 + 7 + 7)

static const uint8_t config_descriptor[CONFIG_TOTAL_LENGTH] = {
    9, DESC_CONFIGURATION, LO(CONFIG_TOTAL_LENGTH), HI(CONFIG_TOTAL_LENGTH),
    1,          /* one interface */
    1,          /* bConfigurationValue */
    0,          /* no string */
    0x80,       /* bus-powered, no remote wakeup */
    50,         /* 100 mA */
    /* interface 0: HID, no boot subclass, no protocol, two endpoints */
    9, DESC_INTERFACE, 0, 0, 2, 0x03, 0x00, 0x00, 0,
    /* HID 1.11, no country, one report descriptor */
    9, DESC_HID, 0x11, 0x01, 0x00, 1, DESC_HID_REPORT,
    LO(sizeof report_descriptor), HI(sizeof report_descriptor),
    7, DESC_ENDPOINT, USB_EP_IN, 0x03, LO(OS_REPORT_SIZE), HI(OS_REPORT_SIZE), USB_REPORT_INTERVAL,
    7, DESC_ENDPOINT, USB_EP_OUT, 0x03, LO(OS_REPORT_SIZE), HI(OS_REPORT_SIZE), USB_REPORT_INTERVAL,
};

static const char manufacturer_string[] = "oncesign";
static const char product_string[] = "oncesign signer";

int usb_device_init(usb_device *dev, const char *serial) {
    size_t len = 0;
    ARG_CHECK(dev != NULL && serial != NULL);
    while (len <= USB_SERIAL_MAX && serial[len] != '\0') {
        char c = serial[len];
        ARG_CHECK((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'));
        len++;
    }
    ARG_CHECK(len >= 1 && len <= USB_SERIAL_MAX);
    memset(dev, 0, sizeof *dev);
    memcpy(dev->serial, serial, len);
    dev->serial_len = (uint8_t)len;
    return OS_OK;
}

void usb_device_reset(usb_device *dev) {
    if (dev == NULL) return;
    dev->address = 0;
    dev->configuration = 0;
    dev->idle_rate = 0;
    dev->halted_in = dev->halted_out = 0;
    dev->out_full = dev->in_full = 0;
}

int usb_setup_decode(const uint8_t raw[8], usb_setup *out) {
    ARG_CHECK(raw != NULL && out != NULL);
    out->request_type = raw[0];
    out->request = raw[1];
    out->value = (uint16_t)(raw[2] | raw[3] << 8);
    out->index = (uint16_t)(raw[4] | raw[5] << 8);
    out->length = (uint16_t)(raw[6] | raw[7] << 8);
    return OS_OK;
}

uint8_t usb_device_address(const usb_device *dev) { return dev != NULL ? dev->address : 0; }

int usb_device_configured(const usb_device *dev) { return dev != NULL && dev->configuration == 1; }

/* Copies an answer, cut to what the host asked for (wLength) as USB 2.0 §9.3.5 requires. */
static size_t answer(uint8_t *in, size_t cap, uint16_t wlength, const uint8_t *src, size_t len) {
    size_t n = len;
    if (n > wlength) n = wlength;
    if (n > cap) n = cap;
    memcpy(in, src, n);
    return n;
}

/* A string descriptor in UTF-16LE from ASCII: the only characters this device's strings use. */
static size_t string_descriptor(const char *ascii, size_t len, uint8_t *out, size_t cap) {
    size_t total = 2 + 2 * len;
    if (total > cap || total > 255) return 0;
    out[0] = (uint8_t)total;
    out[1] = DESC_STRING;
    for (size_t i = 0; i < len; i++) {
        out[2 + 2 * i] = (uint8_t)ascii[i];
        out[3 + 2 * i] = 0;
    }
    return total;
}

static int get_descriptor(const usb_device *dev, const usb_setup *s, uint8_t *in, size_t cap, size_t *in_len) {
    uint8_t type = HI(s->value), index = LO(s->value);
    uint8_t recipient = s->request_type & RT_RECIP_MASK;
    uint8_t buf[2 + 2 * USB_SERIAL_MAX];
    if (recipient == RT_INTERFACE) {
        /* HID 1.11 §7.1: the class descriptors are asked of the interface. */
        if (s->index != 0 || index != 0) return OS_ERR_UNSUPPORTED;
        if (type == DESC_HID_REPORT) {
            *in_len = answer(in, cap, s->length, report_descriptor, sizeof report_descriptor);
            return OS_OK;
        }
        if (type == DESC_HID) {
            *in_len = answer(in, cap, s->length, config_descriptor + HID_DESCRIPTOR_OFFSET, 9);
            return OS_OK;
        }
        return OS_ERR_UNSUPPORTED;
    }
    if (recipient != RT_DEVICE) return OS_ERR_UNSUPPORTED;
    switch (type) {
    case DESC_DEVICE:
        if (index != 0 || s->index != 0) return OS_ERR_UNSUPPORTED;
        *in_len = answer(in, cap, s->length, device_descriptor, sizeof device_descriptor);
        return OS_OK;
    case DESC_CONFIGURATION:
        if (index != 0 || s->index != 0) return OS_ERR_UNSUPPORTED;
        *in_len = answer(in, cap, s->length, config_descriptor, sizeof config_descriptor);
        return OS_OK;
    case DESC_STRING: {
        size_t n;
        if (index == 0) {
            static const uint8_t langids[4] = { 4, DESC_STRING, LO(STRING_LANGID_EN_US), HI(STRING_LANGID_EN_US) };
            *in_len = answer(in, cap, s->length, langids, sizeof langids);
            return OS_OK;
        }
        if (s->index != STRING_LANGID_EN_US) return OS_ERR_UNSUPPORTED;
        if (index == STRING_MANUFACTURER) {
            n = string_descriptor(manufacturer_string, sizeof manufacturer_string - 1, buf, sizeof buf);
        } else if (index == STRING_PRODUCT) {
            n = string_descriptor(product_string, sizeof product_string - 1, buf, sizeof buf);
        } else if (index == STRING_SERIAL) {
            n = string_descriptor(dev->serial, dev->serial_len, buf, sizeof buf);
        } else {
            return OS_ERR_UNSUPPORTED;
        }
        VERIFY_CHECK(n > 0);
        *in_len = answer(in, cap, s->length, buf, n);
        return OS_OK;
    }
    default:
        /* Among others DEVICE_QUALIFIER: a full-speed-only device stalls it (USB 2.0 §9.6.2). */
        return OS_ERR_UNSUPPORTED;
    }
}

/* The endpoint a wIndex names, as a pointer to its halt flag; NULL for EP0 or one that is not ours. */
static uint8_t *halt_flag(usb_device *dev, uint16_t windex) {
    if (windex == USB_EP_IN) return &dev->halted_in;
    if (windex == USB_EP_OUT) return &dev->halted_out;
    return NULL;
}

static int standard_request(usb_device *dev, const usb_setup *s, uint8_t *in, size_t cap, size_t *in_len) {
    uint8_t recipient = s->request_type & RT_RECIP_MASK;
    int device_to_host = (s->request_type & RT_IN) != 0;
    switch (s->request) {
    case REQ_GET_DESCRIPTOR:
        if (!device_to_host) return OS_ERR_UNSUPPORTED;
        return get_descriptor(dev, s, in, cap, in_len);
    case REQ_GET_STATUS: {
        uint8_t status[2] = { 0, 0 };   /* bus-powered, no remote wakeup, interface bits reserved */
        if (!device_to_host || s->value != 0 || s->length != 2) return OS_ERR_UNSUPPORTED;
        if (recipient == RT_DEVICE) {
            if (s->index != 0) return OS_ERR_UNSUPPORTED;
        } else if (recipient == RT_INTERFACE) {
            if (s->index != 0 || !usb_device_configured(dev)) return OS_ERR_UNSUPPORTED;
        } else if (recipient == RT_ENDPOINT) {
            if ((s->index & 0x7F) != 0) {
                uint8_t *halt = halt_flag(dev, s->index);
                if (halt == NULL || !usb_device_configured(dev)) return OS_ERR_UNSUPPORTED;
                status[0] = *halt;
            }
        } else {
            return OS_ERR_UNSUPPORTED;
        }
        *in_len = answer(in, cap, s->length, status, sizeof status);
        return OS_OK;
    }
    case REQ_CLEAR_FEATURE:
    case REQ_SET_FEATURE: {
        /* Only ENDPOINT_HALT exists here: no remote wakeup, and test modes are high-speed only. */
        uint8_t *halt;
        if (device_to_host || recipient != RT_ENDPOINT || s->value != FEATURE_ENDPOINT_HALT || s->length != 0) {
            return OS_ERR_UNSUPPORTED;
        }
        if ((s->index & 0x7F) == 0) return OS_OK;   /* EP0 cannot stay halted; nothing to do */
        halt = halt_flag(dev, s->index);
        if (halt == NULL || !usb_device_configured(dev)) return OS_ERR_UNSUPPORTED;
        *halt = s->request == REQ_SET_FEATURE ? 1 : 0;
        return OS_OK;
    }
    case REQ_SET_ADDRESS:
        if (device_to_host || recipient != RT_DEVICE || s->value > 127 || s->index != 0 || s->length != 0 ||
            usb_device_configured(dev)) {
            return OS_ERR_UNSUPPORTED;
        }
        dev->address = (uint8_t)s->value;
        return OS_OK;
    case REQ_GET_CONFIGURATION:
        if (!device_to_host || recipient != RT_DEVICE || s->value != 0 || s->index != 0 || s->length != 1) {
            return OS_ERR_UNSUPPORTED;
        }
        *in_len = answer(in, cap, s->length, &dev->configuration, 1);
        return OS_OK;
    case REQ_SET_CONFIGURATION:
        if (device_to_host || recipient != RT_DEVICE || s->value > 1 || s->index != 0 || s->length != 0) {
            return OS_ERR_UNSUPPORTED;
        }
        /* Selecting a configuration (again) resets its endpoints (USB 2.0 §9.4.7); reports in flight
         * belong to the host session that is ending. */
        dev->configuration = (uint8_t)s->value;
        dev->halted_in = dev->halted_out = 0;
        dev->out_full = dev->in_full = 0;
        return OS_OK;
    case REQ_GET_INTERFACE: {
        static const uint8_t alternate = 0;
        if (!device_to_host || recipient != RT_INTERFACE || s->value != 0 || s->index != 0 || s->length != 1 ||
            !usb_device_configured(dev)) {
            return OS_ERR_UNSUPPORTED;
        }
        *in_len = answer(in, cap, s->length, &alternate, 1);
        return OS_OK;
    }
    case REQ_SET_INTERFACE:
        if (device_to_host || recipient != RT_INTERFACE || s->value != 0 || s->index != 0 || s->length != 0 ||
            !usb_device_configured(dev)) {
            return OS_ERR_UNSUPPORTED;
        }
        dev->halted_in = dev->halted_out = 0;
        return OS_OK;
    default:
        return OS_ERR_UNSUPPORTED;   /* SET_DESCRIPTOR, SYNCH_FRAME (no isochronous endpoint), unknown */
    }
}

static int hid_request(usb_device *dev, const usb_setup *s, const uint8_t *data, size_t data_len, uint8_t *in,
                       size_t cap, size_t *in_len) {
    int device_to_host = (s->request_type & RT_IN) != 0;
    if ((s->request_type & RT_RECIP_MASK) != RT_INTERFACE || s->index != 0 || !usb_device_configured(dev)) {
        return OS_ERR_UNSUPPORTED;
    }
    switch (s->request) {
    case HID_GET_REPORT: {
        /* HID 1.11 makes GET_REPORT mandatory, but reports travel on the interrupt pipe only: the
         * answer is an all-zero report (channel 0 is no channel, so a host's framing ignores it)
         * and never the pending IN report, which would then arrive twice. */
        static const uint8_t zero_report[OS_REPORT_SIZE] = { 0 };
        if (!device_to_host || HI(s->value) != HID_REPORT_INPUT || LO(s->value) != 0) return OS_ERR_UNSUPPORTED;
        *in_len = answer(in, cap, s->length, zero_report, sizeof zero_report);
        return OS_OK;
    }
    case HID_SET_REPORT:
        /* A host without an interrupt OUT pipe sends its reports here; same path, same rules. */
        if (device_to_host || HI(s->value) != HID_REPORT_OUTPUT || LO(s->value) != 0) return OS_ERR_UNSUPPORTED;
        if (data_len != OS_REPORT_SIZE) return OS_ERR_UNSUPPORTED;
        return usb_device_receive(dev, data, data_len);
    case HID_GET_IDLE:
        if (!device_to_host || s->length != 1 || LO(s->value) != 0) return OS_ERR_UNSUPPORTED;
        *in_len = answer(in, cap, s->length, &dev->idle_rate, 1);
        return OS_OK;
    case HID_SET_IDLE:
        /* Accepted and remembered; it changes nothing: the device only sends when it has a report. */
        if (device_to_host || s->length != 0 || LO(s->value) != 0) return OS_ERR_UNSUPPORTED;
        dev->idle_rate = HI(s->value);
        return OS_OK;
    default:
        return OS_ERR_UNSUPPORTED;   /* GET/SET_PROTOCOL: the interface is not a boot device */
    }
}

int usb_device_control(usb_device *dev, const usb_setup *setup, const uint8_t *data, size_t data_len,
                       uint8_t *in, size_t in_cap, size_t *in_len) {
    ARG_CHECK(dev != NULL && setup != NULL && in_len != NULL);
    *in_len = 0;
    if (setup->request_type & RT_IN) {
        ARG_CHECK(in != NULL && in_cap >= USB_EP0_SIZE && data_len == 0);
    } else {
        ARG_CHECK(data_len == setup->length && (data != NULL || data_len == 0));
    }
    switch (setup->request_type & RT_TYPE_MASK) {
    case RT_STANDARD:
        return standard_request(dev, setup, in, in_cap, in_len);
    case RT_CLASS:
        return hid_request(dev, setup, data, data_len, in, in_cap, in_len);
    default:
        return OS_ERR_UNSUPPORTED;   /* vendor requests: none */
    }
}

int usb_device_receive(usb_device *dev, const uint8_t *data, size_t len) {
    ARG_CHECK(dev != NULL && (data != NULL || len == 0));
    if (!usb_device_configured(dev) || dev->halted_out) return OS_ERR_UNSUPPORTED;
    if (len != OS_REPORT_SIZE) return OS_ERR_MSG_MALFORMED;
    if (dev->out_full) return OS_ERR_BUSY;
    memcpy(dev->out_report, data, OS_REPORT_SIZE);
    dev->out_full = 1;
    return OS_OK;
}

int usb_device_take_report(usb_device *dev, uint8_t report[OS_REPORT_SIZE]) {
    if (dev == NULL || report == NULL || !dev->out_full) return 0;
    memcpy(report, dev->out_report, OS_REPORT_SIZE);
    dev->out_full = 0;
    return 1;
}

int usb_device_send_report(usb_device *dev, const uint8_t report[OS_REPORT_SIZE]) {
    ARG_CHECK(dev != NULL && report != NULL);
    if (!usb_device_configured(dev)) return OS_ERR_IO;
    if (dev->in_full) return OS_ERR_BUSY;
    memcpy(dev->in_report, report, OS_REPORT_SIZE);
    dev->in_full = 1;
    return OS_OK;
}

int usb_device_take_in(usb_device *dev, uint8_t report[OS_REPORT_SIZE]) {
    if (dev == NULL || report == NULL || !dev->in_full || dev->halted_in || !usb_device_configured(dev)) return 0;
    memcpy(report, dev->in_report, OS_REPORT_SIZE);
    dev->in_full = 0;
    return 1;
}
