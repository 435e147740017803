# USB-HID (issue 13, docs/USB.md): the simulator's usbredir link and the end-to-end check through a
# Linux guest's USB stack.
#
#   make usb-guest   build/usb-guest/{vmlinuz,initrd.gz}: Debian's kernel (apt-get download) and a
#                    busybox-static initramfs holding build/oncesign and the libraries it links
#   make usb-check   tests/usb/usb_check.sh: oncesign-sim --usbredir as the USB device of a QEMU x86
#                    guest (xHCI, usbhid, hidraw); build/oncesign inside the guest finds it by
#                    vendor/product id through hidapi and runs device info, an address with --show,
#                    and a signed payout against the test node outside the guest. In `make check`.

DEB_PACKAGES += libusbredirparser-dev qemu-system-x86 busybox-static cpio
SIM_LDLIBS += -lusbredirparser

USB_GUEST := $(BUILD)/usb-guest
USB_GUEST_INITRD := $(USB_GUEST)/initrd.gz

# The guest holds build/oncesign (and its libraries): rebuilt when the CLI or the scripts change.
# The kernel package is downloaded once into $(USB_GUEST)/debs.
$(USB_GUEST_INITRD): tests/usb/build-guest.sh tests/usb/guest-init.sh $(CLI_BIN) | $(DEPS_STAMP)
	bash tests/usb/build-guest.sh $(USB_GUEST) $(CLI_BIN)

.PHONY: usb-guest usb-check
usb-guest: $(USB_GUEST_INITRD)

usb-check: $(USB_GUEST_INITRD) $(SIM_BIN) $(CLI_BIN) $(TESTNODE_BIN)
	@ONCESIGN_BUILD=$(BUILD_ABS) bash tests/usb/usb_check.sh

CHECK_STEPS += usb-check
