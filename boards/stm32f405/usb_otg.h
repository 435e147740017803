/* oncesign stm32f405 — the OTG FS controller as a device-mode driver for firmware/usb_device.c.
 *
 * Polled from the main loop (no interrupt handler: board.h's functions are never reentrant): the
 * controller ACKs, NAKs and retries on the bus by itself, so a poll every few milliseconds is
 * enough; the host's interrupt polling just meets a NAK meanwhile. EP0 is the control pipe, EP1
 * IN/OUT carry the 64-byte reports (docs/USB.md).
 */
#ifndef ONCESIGN_STM32F405_USB_OTG_H
#define ONCESIGN_STM32F405_USB_OTG_H

#include "usb_device.h"

/* Clocks, pins (PA11/PA12), FIFOs, then connects (pull-up on D+).
 * Returns: OS_OK, OS_ERR_IO (the core did not come out of reset). In: dev, initialised. */
int usb_otg_init(usb_device *dev);

/* Handles every pending controller event: bus reset, enumeration, SETUP and control data stages,
 * interrupt OUT reports (held, NAKing the host, while the device's OUT report is full) and the
 * next interrupt IN report when the endpoint is free. */
void usb_otg_poll(void);

#endif /* ONCESIGN_STM32F405_USB_OTG_H */
