# The firmware image for a board, and the QEMU board's end-to-end check and budgets (issue 3).
#
#   make firmware [BOARD=mps2-an386]  build/<board>/oncesign.elf and .bin; prints text/data/bss and
#                                     fails when malloc/free/_sbrk (any heap function) is linked
#   make qemu-check                   tests/e2e/qemu_check.sh: the image under qemu-system-arm, driven
#                                     by build/oncesign and build/oncesign-scenario over serial:
#                                     (`make check` runs the same script once, through tests/e2e/run.sh)
#   make firmware-report              the four budget lines (flash, static RAM, stack, instructions
#                                     per payout); runs the QEMU check first when its measurements
#                                     are missing or older than the image. Hooked into `make bench`.
#                                     Fails when flash or static RAM is over budget; the instruction
#                                     target (2.5 M) is reported, not enforced.
# docs/QEMU.md explains each figure.

BOARD ?= mps2-an386
BOARD_DIR  := boards/$(BOARD)
BOARD_OUT  := $(BUILD)/$(BOARD)
BOARD_OBJ  := $(BOARD_OUT)/obj
BOARD_SRCS := $(sort $(wildcard $(BOARD_DIR)/*.c))
BOARD_OBJS := $(patsubst %.c,$(BOARD_OBJ)/%.o,$(BOARD_SRCS))
BOARD_LD   := $(BOARD_DIR)/linker.ld
FW_ELF     := $(BOARD_OUT)/oncesign.elf
FW_BIN     := $(BOARD_OUT)/oncesign.bin
FW_MAP     := $(BOARD_OUT)/oncesign.map
FW_SIZES   := $(BOARD_OUT)/sizes.txt
# Written by tests/e2e/qemu_check.sh: stack high-water and per-message busy time from the board.
QEMU_REPORT := $(BUILD)/mps2-an386/qemu-report.txt
QEMU_CTL    := $(BUILD)/mps2-an386/oncesign-qemu-ctl
SCENARIO_BIN := $(BUILD)/oncesign-scenario

# Only the QEMU board may be built with the test-only DRBG (its board.c refuses to compile without).
BOARD_DEFS_mps2-an386 := -DONCESIGN_QEMU_TEST_RNG=1
FW_LDFLAGS := $(ARM_ARCH_FLAGS) -nostartfiles --specs=nano.specs -Wl,--gc-sections -Wl,--fatal-warnings \
  -Wl,--no-warn-rwx-segments -T $(BOARD_LD) -Wl,-Map=$(FW_MAP)

$(BOARD_OBJ)/%.o: %.c $(THIRD_PARTY_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CPPFLAGS) -I$(BOARD_DIR) $(BOARD_DEFS_$(BOARD)) $(ARM_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(eval $(call track_members,$(FW_ELF),$(BOARD_OBJS)))
# No nosys.specs: a libc function that needs a system call (and so a heap or file) fails the link.
$(FW_ELF): $(BOARD_OBJS) $(ARM_ARCHIVES) $(BOARD_LD)
	@mkdir -p $(@D)
	$(ARM_CC) $(FW_LDFLAGS) -o $@ $(BOARD_OBJS) -Wl,--start-group $(ARM_ARCHIVES) -lc_nano -lgcc -Wl,--end-group

$(FW_BIN): $(FW_ELF)
	arm-none-eabi-objcopy -O binary $< $@

# Sizes from the section table (Berkeley `size` would count the .stack reservation as bss):
# flash = code + read-only data + the initial values of .data; static RAM = .data + .bss.
$(FW_SIZES): $(FW_ELF)
	@$(ARM_SIZE) -A $< | awk ' \
	  $$1 == ".text" || $$1 == ".ARM.exidx" { text += $$2 } \
	  $$1 == ".data" { data += $$2 } $$1 == ".bss" { bss += $$2 } $$1 == ".stack" { stack += $$2 } \
	  END { printf "text=%d\ndata=%d\nbss=%d\nstack_reserved=%d\nflash=%d\nram=%d\n", \
	        text, data, bss, stack, text + data, data + bss }' > $@

# The budget of issue 10: two update slots and a bootloader fit a 512 KiB Cortex-M4 part. The
# linker script's regions hold the same figures (plus the stack), so an image over them fails to link.
FW_FLASH_BUDGET := 196608
FW_RAM_BUDGET := 65536

.PHONY: firmware qemu-check firmware-report
firmware: $(FW_ELF) $(FW_BIN) $(FW_SIZES)
	@set -euo pipefail; \
	heap=$$($(ARM_NM) $(FW_ELF) | awk '{print $$NF}' | grep -Ex '$(subst $() ,|,$(strip $(HEAP_SYMBOLS)))' || true); \
	if [ -n "$$heap" ]; then echo "firmware: heap functions linked into $(FW_ELF):" $$heap; exit 1; fi; \
	. $(FW_SIZES); \
	echo "firmware: $(FW_ELF) text=$$text data=$$data bss=$$bss (stack reserved $$stack_reserved)"; \
	echo "firmware: flash $$flash bytes (budget $(FW_FLASH_BUDGET)), static RAM $$ram bytes (budget $(FW_RAM_BUDGET))"; \
	echo "firmware: no malloc/free/calloc/realloc/_sbrk in the image (nm)"

$(QEMU_CTL): boards/mps2-an386/tools/qemu_ctl.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CPPFLAGS) $(HOST_CFLAGS) -o $@ $<

# `make all` builds what tests/e2e/qemu_check.sh needs, so the e2e runner of `make check` finds it.
all: $(FW_ELF) $(FW_BIN) $(QEMU_CTL)

# build/oncesign-scenario (tests/e2e/scenario.c) is built by its own fragment's rule.
SCENARIO_PREREQ := $(if $(wildcard tests/e2e/scenario.c),$(SCENARIO_BIN))

qemu-check: firmware $(QEMU_CTL) $(CLI_BIN) $(SCENARIO_PREREQ)
	ONCESIGN_BUILD=$(BUILD_ABS) bash tests/e2e/qemu_check.sh

firmware-report: firmware $(QEMU_CTL) $(CLI_BIN) $(SCENARIO_PREREQ)
	@set -euo pipefail; \
	if [ ! -s $(QEMU_REPORT) ] || [ $(QEMU_REPORT) -ot $(FW_ELF) ]; then \
	  echo "firmware-report: measuring under QEMU (tests/e2e/qemu_check.sh)"; \
	  ONCESIGN_BUILD=$(BUILD_ABS) bash tests/e2e/qemu_check.sh >/dev/null; \
	fi; \
	. $(FW_SIZES); . $(QEMU_REPORT); \
	echo "bench m4_flash_bytes $$flash bytes"; \
	echo "bench m4_ram_bytes $$ram bytes"; \
	echo "bench m4_stack_bytes $$stack_used bytes"; \
	echo "bench m4_insns_per_payout $$payout_insns insns"; \
	echo "bench m4_insns_first_payout_after_boot $$first_payout_insns insns"; \
	echo "firmware-report: payout messages (type:insns) $$payout_messages; largest $$payout_top"; \
	echo "firmware-report: first payout after boot (key caches cold) $$first_payout_messages"; \
	echo "firmware-report: crypto primitives on the M4 (insns):" $$(sed -n 's/^prim_//p' $(QEMU_REPORT)); \
	[ $$payout_insns -lt 2500000 ] || echo "firmware-report: instructions per payout miss the 2.5 M target" \
	  "(docs/QEMU.md, 'What dominates the payout')"; \
	over=; [ $$flash -le $(FW_FLASH_BUDGET) ] || over="$$over flash"; [ $$ram -le $(FW_RAM_BUDGET) ] || over="$$over ram"; \
	if [ -n "$$over" ]; then echo "firmware-report: OVER BUDGET:$$over"; exit 1; fi

bench: firmware-report

-include $(BOARD_OBJS:.o=.d)
