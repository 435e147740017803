# Cortex-M4 build of the portable core and its crypto: build/arm/lib{core,secp256k1,mbedcrypto}.a.
# `make firmware-core` builds them, prints their flash/RAM size and fails if heap functions appear.

ARM_TP  := $(BUILD)/arm/tp

# libsecp256k1 for a microcontroller: ECMULT_GEN_PREC_BITS 2, the smallest signing table 0.2.0
# supports (32 KiB; 4 would add 32 KiB more, which 128 KiB of flash cannot hold); ECMULT_WINDOW_SIZE
# 4 for verification (precomputed_ecmult.c holds the tables for 2..15: 4 costs 384 bytes over 2 and
# takes a verification from 1.45 M to about 1.2 M instructions); the package's ARM assembly for the
# 10x26 field's multiply and square (src/asm/field_10x26_arm.s: Thumb-2 as assembled with -mthumb,
# 15-20 % fewer instructions for every curve operation); BIP340 Schnorr + x-only keys; our own
# default callbacks instead of stdio/abort. docs/QEMU.md has the measurements.
SECP256K1_ARM_DEFS := -DECMULT_WINDOW_SIZE=4 -DECMULT_GEN_PREC_BITS=2 -DUSE_EXTERNAL_ASM=1 \
  -DENABLE_MODULE_EXTRAKEYS=1 -DENABLE_MODULE_SCHNORRSIG=1 -DUSE_EXTERNAL_DEFAULT_CALLBACKS=1
# Third-party code is compiled with the same CPU flags but without -Werror: its warnings are not ours.
ARM_TP_CFLAGS := $(ARM_ARCH_FLAGS) -Os -ffunction-sections -fdata-sections -Wall -Wno-unused-function

ARM_CORE_OBJS := $(patsubst %.c,$(ARM_OBJ)/%.o,$(CORE_SRCS_ALL))
ARM_SECP_C_OBJS := $(patsubst %.c,$(ARM_TP)/secp256k1/%.o,$(filter %.c,$(SECP256K1_ARM_SRCS)))
ARM_SECP_ASM_OBJS := $(patsubst %.s,$(ARM_TP)/secp256k1/%.o,$(filter %.s,$(SECP256K1_ARM_SRCS)))
ARM_SECP_OBJS := $(ARM_SECP_C_OBJS) $(ARM_SECP_ASM_OBJS)
ARM_MBED_OBJS := $(patsubst %.c,$(ARM_TP)/mbedtls/%.o,$(MBEDTLS_ARM_SRCS))

$(ARM_OBJ)/%.o: %.c $(THIRD_PARTY_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CPPFLAGS) $(ARM_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(ARM_SECP_C_OBJS): $(ARM_TP)/secp256k1/%.o: $(SECP256K1_SRC)/%.c mk/arm.mk $(THIRD_PARTY_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_TP_CFLAGS) $(SECP256K1_ARM_DEFS) -I$(SECP256K1_SRC) -I$(SECP256K1_SRC)/src \
	  $(DEPFLAGS) -c $< -o $@

$(ARM_SECP_ASM_OBJS): $(ARM_TP)/secp256k1/%.o: $(SECP256K1_SRC)/%.s $(THIRD_PARTY_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_ARCH_FLAGS) -c $< -o $@

$(ARM_MBED_OBJS): $(ARM_TP)/mbedtls/%.o: $(MBEDTLS_SRC)/%.c firmware/mbedtls_config.h $(THIRD_PARTY_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_TP_CFLAGS) -Ifirmware -I$(MBEDTLS_SRC)/include '-DMBEDTLS_CONFIG_FILE="mbedtls_config.h"' \
	  $(DEPFLAGS) -c $< -o $@

$(ARM_LIBCORE): $(ARM_CORE_OBJS)
$(ARM_LIBSECP256K1): $(ARM_SECP_OBJS)
$(ARM_LIBMBEDCRYPTO): $(ARM_MBED_OBJS)
$(eval $(call track_members,$(ARM_LIBCORE),$(ARM_CORE_OBJS)))
$(ARM_ARCHIVES):
	@mkdir -p $(@D)
	@rm -f $@
	$(ARM_AR) rcs $@ $(filter %.o,$^)

# Heap functions must not be referenced by the core or mbedtls objects at all. libsecp256k1's
# secp256k1.o does reference malloc/free (secp256k1_context_create and the scratch space, which the
# firmware does not call; it uses secp256k1_context_preallocated_create): for it, the check is what
# a --gc-sections link rooted at every global function of the core actually pulls in.
HEAP_SYMBOLS := malloc free calloc realloc _sbrk _sbrk_r _malloc_r _free_r _calloc_r _realloc_r
ARM_REACH_ELF := $(BUILD)/arm/core-reach.elf
ARM_SIZE_FILE := $(BUILD)/arm/core-size.txt

.PHONY: firmware-core
firmware-core: $(ARM_ARCHIVES)
	@set -euo pipefail; heap='^($(subst $() ,|,$(strip $(HEAP_SYMBOLS))))$$'; bad=0; \
	for lib in $(ARM_LIBCORE) $(ARM_LIBMBEDCRYPTO); do \
	  refs=$$($(ARM_NM) -A -u $$lib 2>/dev/null | awk '{print $$1, $$NF}' | grep -E " ($(subst $() ,|,$(strip $(HEAP_SYMBOLS))))$$" || true); \
	  if [ -n "$$refs" ]; then echo "firmware-core: heap function referenced:"; echo "$$refs"; bad=1; fi; \
	done; \
	roots=$$($(ARM_NM) -g --defined-only $(ARM_LIBCORE) 2>/dev/null | awk '$$2 == "T" {print "-Wl,-u," $$3}' | sort -u); \
	$(ARM_CC) $(ARM_ARCH_FLAGS) -nostartfiles -Wl,-e,0 --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections \
	  -Wl,--unresolved-symbols=ignore-all $$roots \
	  -Wl,--start-group $(ARM_ARCHIVES) -Wl,--end-group -o $(ARM_REACH_ELF); \
	reached=$$($(ARM_NM) $(ARM_REACH_ELF) | awk '{print $$NF}' | grep -E "$$heap" || true); \
	if [ -n "$$reached" ]; then echo "firmware-core: the core reaches heap functions:" $$reached; bad=1; fi; \
	[ $$bad -eq 0 ] || exit 1; \
	$(ARM_SIZE) -t $(ARM_ARCHIVES) | tail -n1 | { read text data bss rest; \
	  echo "firmware-core: flash=$$((text + data)) bytes ram=$$((data + bss)) bytes"; \
	  printf 'flash=%s\nram=%s\n' $$((text + data)) $$((data + bss)) > $(ARM_SIZE_FILE); }; \
	echo "firmware-core: no malloc/free/_sbrk in core or mbedtls objects, none reachable from the core"

-include $(ARM_CORE_OBJS:.o=.d) $(ARM_SECP_C_OBJS:.o=.d) $(ARM_MBED_OBJS:.o=.d)
