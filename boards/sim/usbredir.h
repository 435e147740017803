/* oncesign — the simulator's USB link: firmware/usb_device.c, the device stack the real board runs,
 * presented to QEMU's `-device usb-redir` as a USB device (docs/USB.md, "The test route").
 *
 * The simulator plays the usbredir protocol's "usb host" role (the side usbredirhost plays for a
 * real device) with libusbredirparser: QEMU connects to a Unix socket, is told a full-speed device
 * 1209:4F53 with one HID interface is attached, and forwards the guest's control transfers and
 * interrupt packets, which this file hands to usb_device_control / usb_device_receive /
 * usb_device_take_in exactly as a hardware driver does.
 */
#ifndef ONCESIGN_SIM_USBREDIR_H
#define ONCESIGN_SIM_USBREDIR_H

#include <stddef.h>

#include "sim.h"

/* Listens on the Unix stream socket path (replacing a stale socket) for one QEMU at a time.
 * Returns: OS_OK; OS_ERR_ARG (path too long, serial not accepted by usb_device_init);
 *          OS_ERR_IO (socket, bind, listen failed; errmsg says why).
 * Out:     *out: the link for sim_config.link, released with sim_usbredir_close. */
int sim_usbredir_open(const char *path, const char *serial, sim_link **out, char *errmsg, size_t errmsg_cap);

/* Disconnects QEMU, removes the socket path and frees the link. NULL is ignored. */
void sim_usbredir_close(sim_link *link);

#endif /* ONCESIGN_SIM_USBREDIR_H */
