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

# ---- the USB board (boards/stm32f405, docs/USB.md): its flashable image is built in `make check`
# and its sizes are printed by `make bench`. Budget (issue 13): 192 KiB flash, 64 KiB RAM with the
# stack; linker.ld fails a link above either, this step says by how much it fits.
USB_BOARD       := stm32f405
USB_BOARD_OUT   := $(BUILD)/$(USB_BOARD)
USB_BOARD_FILES := $(USB_BOARD_OUT)/oncesign.elf $(USB_BOARD_OUT)/oncesign.bin $(USB_BOARD_OUT)/sizes.txt
USB_FLASH_BUDGET := 196608
USB_RAM_BUDGET   := 65536

.PHONY: firmware-usb-board bench-usb-board
firmware-usb-board:
	@$(MAKE) --no-print-directory BOARD=$(USB_BOARD) $(USB_BOARD_FILES) >/dev/null
	@set -euo pipefail; \
	heap=$$($(ARM_NM) $(USB_BOARD_OUT)/oncesign.elf | awk '{print $$NF}' | grep -Ex '$(subst $() ,|,$(strip $(HEAP_SYMBOLS)))' || true); \
	if [ -n "$$heap" ]; then echo "firmware-usb-board: heap functions linked:" $$heap; exit 1; fi; \
	. $(USB_BOARD_OUT)/sizes.txt; ram_total=$$((ram + stack_reserved)); \
	echo "firmware-usb-board: $(USB_BOARD_OUT)/oncesign.bin: flash $$flash of $(USB_FLASH_BUDGET) bytes," \
	  "RAM $$ram_total of $(USB_RAM_BUDGET) bytes ($$ram static + $$stack_reserved stack); no heap functions"; \
	[ $$flash -le $(USB_FLASH_BUDGET) ] && [ $$ram_total -le $(USB_RAM_BUDGET) ] \
	  || { echo "firmware-usb-board: OVER BUDGET"; exit 1; }; \
	elf=$(USB_BOARD_OUT)/oncesign.elf; sym() { $(ARM_NM) $$elf | awk -v s=$$1 '$$3 == s { print $$1 }'; }; \
	le() { echo "$${1:6:2}$${1:4:2}$${1:2:2}$${1:0:2}"; }; \
	reset=$$(printf '%08x' $$((0x$$(sym Reset_Handler) | 1))); \
	words=$$(arm-none-eabi-objdump -s -j .text --start-address=0x08000000 --stop-address=0x08000008 $$elf \
	  | awk '$$1 == "8000000" { print $$2, $$3 }'); \
	[ "$$(sym g_vectors)" = 08000000 ] && [ "$$words" = "$$(le $$(sym _estack)) $$(le $$reset)" ] \
	  || { echo "firmware-usb-board: the vector table at 0x08000000 is not [_estack, Reset_Handler|1]: $$words"; exit 1; }; \
	echo "firmware-usb-board: vector table at 0x08000000: initial SP 0x$$(sym _estack), reset 0x$$reset"

bench-usb-board: firmware-usb-board
	@. $(USB_BOARD_OUT)/sizes.txt; \
	echo "bench $(USB_BOARD)_flash_bytes $$flash bytes"; \
	echo "bench $(USB_BOARD)_ram_bytes $$((ram + stack_reserved)) bytes"

CHECK_STEPS += firmware-usb-board
BENCH_STEPS += bench-usb-board
