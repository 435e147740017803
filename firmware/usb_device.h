/* oncesign — the USB device: a full-speed HID device with one vendor-defined interface whose 64-byte
 * interrupt reports carry the frames of proto/frame.h unchanged (docs/USB.md).
 *
 * Hardware-independent: a board's USB driver (boards/stm32f405/usb_otg.c on silicon, the usbredir
 * link of boards/sim in the simulator) moves packets and calls these functions; this file decides
 * every answer. Nothing here touches a register, allocates or blocks. Single-threaded: the driver
 * calls in from the main loop only (on silicon it polls the controller's interrupt flags there).
 *
 * The driver's contract:
 *  - Control transfers are passed whole: the 8-byte setup packet and, for host-to-device requests,
 *    the whole data stage. The driver splits IN data into max-packet-size packets (ending with a
 *    short or zero-length packet when the answer is shorter than wLength and a multiple of 64).
 *    usb_device_control's OS_OK means "complete the status stage", anything else means "STALL".
 *  - After an OK SET_ADDRESS the driver applies usb_device_address() when its controller wants it:
 *    after the status stage for most, at once for the Synopsys OTG core (it defers it itself).
 *  - Interrupt OUT (USB_EP_OUT): usb_device_receive; OS_ERR_BUSY means NAK (the core has not taken
 *    the previous report yet) and the host retries. Interrupt IN (USB_EP_IN): whenever the endpoint
 *    is free the driver asks usb_device_take_in for the next report to send.
 *  - Bus reset: usb_device_reset.
 */
#ifndef ONCESIGN_USB_DEVICE_H
#define ONCESIGN_USB_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"
#include "oncesign/status.h"

#define USB_EP0_SIZE        64
#define USB_EP_OUT          0x01    /* interrupt OUT: reports from the host */
#define USB_EP_IN           0x81    /* interrupt IN: reports to the host */
#define USB_REPORT_INTERVAL 1       /* bInterval in ms (full speed): the host polls every frame */
/* The serial number string: 1..USB_SERIAL_MAX characters from [0-9A-Z]. */
#define USB_SERIAL_MAX      24

/* The setup packet of a control transfer (USB 2.0 §9.3), already decoded from little-endian. */
typedef struct {
    uint8_t request_type;       /* bmRequestType */
    uint8_t request;            /* bRequest */
    uint16_t value;             /* wValue */
    uint16_t index;             /* wIndex */
    uint16_t length;            /* wLength */
} usb_setup;

typedef struct {
    uint8_t address;            /* set by SET_ADDRESS, 0 after reset */
    uint8_t configuration;      /* 0 (addressed) or 1 (configured) */
    uint8_t idle_rate;          /* HID SET_IDLE; kept only to answer GET_IDLE */
    uint8_t halted_in, halted_out;
    uint8_t out_full, in_full;
    uint8_t out_report[OS_REPORT_SIZE];
    uint8_t in_report[OS_REPORT_SIZE];
    uint8_t serial_len;
    char serial[USB_SERIAL_MAX];
} usb_device;

/* Starts the device unaddressed and unconfigured with the given serial number.
 * Returns: OS_OK; OS_ERR_ARG (NULL, serial empty, longer than USB_SERIAL_MAX or outside [0-9A-Z]).
 * In:      serial: NUL-terminated; the board derives it from something that identifies the part
 *          (the STM32's 96-bit unique id; the simulator's command line). */
int usb_device_init(usb_device *dev, const char *serial);

/* A bus reset: back to address 0, unconfigured, endpoints un-halted, reports not yet delivered
 * dropped (the framing's channel ids make the host start over). Args: dev (not NULL). */
void usb_device_reset(usb_device *dev);

/* Decodes an 8-byte setup packet. Returns: OS_OK, OS_ERR_ARG (NULL). */
int usb_setup_decode(const uint8_t raw[8], usb_setup *out);

/* Answers one control transfer: the standard requests of USB 2.0 chapter 9 and the HID class
 * requests (GET/SET_REPORT, GET/SET_IDLE; GET/SET_PROTOCOL are stalled: no boot protocol).
 * Returns: OS_OK, the driver completes the transfer; OS_ERR_UNSUPPORTED, the driver stalls
 *          endpoint 0 (a request this device does not answer, or one out of range); OS_ERR_BUSY
 *          for a SET_REPORT while the OUT report is still full (the driver NAKs); OS_ERR_ARG.
 * In:      setup: the request. data/data_len: the OUT data stage of a host-to-device request
 *          (data_len must equal setup->length; data may be NULL when it is 0).
 * Out:     in/in_cap: for a device-to-host request, receives the answer, at most
 *          min(setup->length, in_cap) bytes; *in_len its length (0 for host-to-device requests).
 *          in_cap must be at least 64 (the longest answer is the configuration descriptor). */
int usb_device_control(usb_device *dev, const usb_setup *setup, const uint8_t *data, size_t data_len,
                       uint8_t *in, size_t in_cap, size_t *in_len);

/* The address the last SET_ADDRESS gave, for the driver to apply after its status stage. */
uint8_t usb_device_address(const usb_device *dev);

/* 1 when the host has selected configuration 1 (the interrupt endpoints are live). */
int usb_device_configured(const usb_device *dev);

/* An interrupt OUT packet on USB_EP_OUT.
 * Returns: OS_OK (taken); OS_ERR_BUSY (the previous report is not consumed: NAK);
 *          OS_ERR_UNSUPPORTED (not configured or halted: the driver stalls);
 *          OS_ERR_MSG_MALFORMED (not exactly OS_REPORT_SIZE bytes: dropped, the framing of proto/
 *          never sees a short report); OS_ERR_ARG. */
int usb_device_receive(usb_device *dev, const uint8_t *data, size_t len);

/* For the core: the report the host sent, once. Returns 1 (report filled) or 0 (none waiting). */
int usb_device_take_report(usb_device *dev, uint8_t report[OS_REPORT_SIZE]);

/* For the core: queues one report for the host.
 * Returns: OS_OK; OS_ERR_BUSY while the previous report has not been taken by the driver;
 *          OS_ERR_IO when the device is not configured (no host to send to); OS_ERR_ARG. */
int usb_device_send_report(usb_device *dev, const uint8_t report[OS_REPORT_SIZE]);

/* For the driver, when the IN endpoint is free: the next report to send, once.
 * Returns 1 (report filled, OS_REPORT_SIZE bytes) or 0 (nothing to send, or the endpoint is halted). */
int usb_device_take_in(usb_device *dev, uint8_t report[OS_REPORT_SIZE]);

#endif /* ONCESIGN_USB_DEVICE_H */
