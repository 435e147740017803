# oncesign — the one entry point of the build (GNU make 4.3).
#
# Everything is built under $(BUILD); nothing generated lands in the source tree. The rules live in
# fragments: mk/*.mk are all included (sorted) at the end of this file, so an area adds a fragment
# without editing this file. A fragment can use every variable below (they are all defined before
# any fragment is read) and can hook in with:
#
#   DEB_PACKAGES += foo-dev             a Debian package `make deps` installs when missing
#   all: build/oncesign-testnode        built by `make all` (and so by `make demo` / `make check`)
#   check: check-testnode               run before the steps of `make check` (as a prerequisite), or
#   CHECK_STEPS += check-qemu           run serially after the built-in steps of `make check`
#   BENCH_STEPS += bench-m4             run by `make bench` after the built-in benches
#
# Shared variables
#   BUILD            build directory (relative, default build); BUILD_ABS is its absolute path
#   DEPS_STAMP       file target of `make deps`; make it an order-only prerequisite (| $(DEPS_STAMP))
#                    of anything that compiles or runs a tool from DEB_PACKAGES (for the goals host,
#                    install, uninstall alone it is HOST_DEPS_STAMP: HOST_DEB_PACKAGES only)
#   DEB_PACKAGES     Debian packages `make deps` installs when dpkg-query says they are missing
#   HOST_CC          host C compiler (gcc)
#   HOST_CPPFLAGS    include dirs include/ boards/ firmware/ proto/ host/lib/ and -D_DEFAULT_SOURCE
#   HOST_CFLAGS      -std=c11 -Wall -Wextra -Werror -O2 -g
#   CORE_LDLIBS      what the core needs on the host: Debian's libsecp256k1 and libmbedcrypto
#   SIM_LDLIBS       what build/oncesign-sim links: CORE_LDLIBS -lpthread
#   HOST_LDLIBS      CORE_LDLIBS plus hidapi, sqlite3, curl, jansson, microhttpd, pthread
#   SAN_CFLAGS       ASan+UBSan flags for compiling and linking (the unit tests, build/asan/)
#   CLANG            clang, for the libFuzzer build (build/fuzz/)
#   ARM_CC           arm-none-eabi-gcc
#   ARM_CFLAGS       -std=c11 -mcpu=cortex-m4 -mthumb -Os -ffunction-sections -fdata-sections -W... -Werror
#   ARM_ARCH_FLAGS   just the CPU flags (-mcpu=cortex-m4 -mthumb), for linking images
#   ARM_CPPFLAGS     include dirs (ours + third-party) and -DMBEDTLS_CONFIG_FILE for the ARM build
#   THIRD_PARTY_STAMP  file target: Debian source packages unpacked under $(BUILD)/third_party/
#   SECP256K1_SRC, MBEDTLS_SRC   those unpacked source trees
#
# Library archives (all built from the directories named, discovered by wildcard)
#   HOST_LIBCORE  build/host/libcore.a   firmware/*.c proto/*.c (host-native; not secp256k1_callbacks.c)
#   HOST_LIBSIM   build/host/libsim.a    boards/sim/*.c except main.c
#   HOST_LIBHOST  build/host/libhost.a   host/lib/*.c
#   ASAN_LIBCORE, ASAN_LIBSIM, ASAN_LIBHOST   the same three, built with SAN_CFLAGS (build/asan/)
#   ASAN_LIBTESTSUPPORT build/asan/libtestsupport.a  tests/unit/support/*.c (test helpers, e.g. an
#                 in-memory board); first in every unit test's link group, so its board_* functions
#                 win over boards/sim's when a test pulls it in
#   FUZZ_LIBCORE, FUZZ_LIBHOST, FUZZ_LIBSIM   firmware+proto, host/lib, boards/sim built by clang for libFuzzer
#   ARM_LIBCORE   build/arm/libcore.a    firmware/*.c proto/*.c for Cortex-M4
#   ARM_LIBSECP256K1  build/arm/libsecp256k1.a   from Debian's libsecp256k1 source, small tables
#   ARM_LIBMBEDCRYPTO build/arm/libmbedcrypto.a  from Debian's mbedtls source, firmware/mbedtls_config.h
#   HOST_ARCHIVES  "libsim libhost libcore" (link inside -Wl,--start-group/--end-group: any order works);
#   ASAN_ARCHIVES, FUZZ_ARCHIVES, ARM_ARCHIVES (core, secp256k1, mbedcrypto) likewise
#   $(eval $(call track_members,TARGET,FILES))  relink/re-archive TARGET when the list FILES changes
#
# Object trees: HOST_OBJ (build/host/obj), ASAN_OBJ, FUZZ_OBJ, ARM_OBJ: $(HOST_OBJ)/dir/x.o is built
# from dir/x.c with that tree's compiler and flags, for any dir (tests/node/ included).
# Test binaries: UNIT_BINS (build/unit/test_*), FUZZ_BINS (build/fuzz/fuzz_*), BENCH_BINS (build/bench/).
# Binaries: build/oncesign-sim (boards/sim/main.c) and build/oncesign (host/cli/*.c), each only when
# its main.c exists.

SHELL := /bin/bash
.DEFAULT_GOAL := all
MAKEFLAGS += --no-builtin-rules
.SUFFIXES:
.DELETE_ON_ERROR:

BUILD     ?= build
BUILD_ABS := $(abspath $(BUILD))
DEPS_STAMP := $(BUILD)/.deps.stamp

# HOST_DEB_PACKAGES: all that `make host` and `make install` need (mk/install.mk): no ARM toolchain,
# no QEMU, no test tools. For those goals alone DEPS_STAMP is the host-only stamp, so every rule's
# `| $(DEPS_STAMP)` installs just these.
HOST_DEB_PACKAGES := gcc make pkg-config libsecp256k1-dev libmbedtls-dev libsqlite3-dev libhidapi-dev \
  libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev
DEB_PACKAGES := $(HOST_DEB_PACKAGES) dpkg-dev sqlite3 libcmocka-dev clang \
  libclang-rt-14-dev gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
HOST_ONLY_GOALS := host install uninstall
HOST_DEPS_STAMP := $(BUILD)/.deps-host.stamp
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out $(HOST_ONLY_GOALS),$(MAKECMDGOALS)),)
DEPS_STAMP := $(HOST_DEPS_STAMP)
endif
endif

# ---- host ----
HOST_CC       := gcc
HOST_INCLUDES := -Iinclude -Iboards -Ifirmware -Iproto -Ihost/lib
HOST_CPPFLAGS := $(HOST_INCLUDES) -D_DEFAULT_SOURCE
HOST_CFLAGS   := -std=c11 -Wall -Wextra -Werror -O2 -g
DEPFLAGS      := -MMD -MP
# Evaluated when a link runs (after `make deps` installed pkg-config), not when the Makefile is read.
HOST_PKGS   := libsecp256k1 hidapi-hidraw sqlite3 libcurl jansson libmicrohttpd
CORE_LDLIBS  = $(or $(shell pkg-config --libs libsecp256k1 2>/dev/null),-lsecp256k1) -lmbedcrypto
HOST_LDLIBS  = $(or $(shell pkg-config --libs $(HOST_PKGS) 2>/dev/null),-lsecp256k1 -lhidapi-hidraw \
  -lsqlite3 -lcurl -ljansson -lmicrohttpd) -lmbedcrypto -lpthread
SAN_CFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CLANG       := clang
FUZZ_CFLAGS := -std=c11 -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all
CMOCKA_LDLIBS = $(or $(shell pkg-config --libs cmocka 2>/dev/null),-lcmocka)

# ---- ARM Cortex-M4 ----
ARM_CC     := arm-none-eabi-gcc
ARM_AR     := arm-none-eabi-ar
ARM_NM     := arm-none-eabi-nm
ARM_SIZE   := arm-none-eabi-size
ARM_ARCH_FLAGS := -mcpu=cortex-m4 -mthumb
ARM_CFLAGS := -std=c11 $(ARM_ARCH_FLAGS) -Os -ffunction-sections -fdata-sections -Wall -Wextra -Werror
THIRD_PARTY       := $(BUILD)/third_party
THIRD_PARTY_STAMP := $(THIRD_PARTY)/.stamp
SECP256K1_SRC     := $(THIRD_PARTY)/secp256k1
MBEDTLS_SRC       := $(THIRD_PARTY)/mbedtls
# The files of the source packages that the firmware needs (nothing else of them is compiled).
SECP256K1_ARM_SRCS := src/secp256k1.c src/precomputed_ecmult.c src/precomputed_ecmult_gen.c \
  src/asm/field_10x26_arm.s
MBEDTLS_ARM_SRCS   := library/sha256.c library/sha512.c library/ripemd160.c library/md.c \
  library/pkcs5.c library/hmac_drbg.c library/platform.c library/platform_util.c \
  library/memory_buffer_alloc.c
ARM_CPPFLAGS := -Iinclude -Iboards -Ifirmware -Iproto -I$(SECP256K1_SRC)/include -I$(MBEDTLS_SRC)/include \
  '-DMBEDTLS_CONFIG_FILE="mbedtls_config.h"'

# ---- object trees (pattern rules in mk/host.mk, mk/fuzz.mk, mk/arm.mk build any %.c into them,
# e.g. $(HOST_OBJ)/tests/node/main.o from tests/node/main.c) ----
HOST_OBJ := $(BUILD)/host/obj
ASAN_OBJ := $(BUILD)/asan/obj
FUZZ_OBJ := $(BUILD)/fuzz/obj
ARM_OBJ  := $(BUILD)/arm/obj
SIM_LDLIBS = $(CORE_LDLIBS) -lpthread

# ---- archives ----
HOST_LIBCORE := $(BUILD)/host/libcore.a
HOST_LIBSIM  := $(BUILD)/host/libsim.a
HOST_LIBHOST := $(BUILD)/host/libhost.a
ASAN_LIBCORE := $(BUILD)/asan/libcore.a
ASAN_LIBSIM  := $(BUILD)/asan/libsim.a
ASAN_LIBHOST := $(BUILD)/asan/libhost.a
ASAN_LIBTESTSUPPORT := $(BUILD)/asan/libtestsupport.a
FUZZ_LIBCORE := $(BUILD)/fuzz/libcore.a
FUZZ_LIBHOST := $(BUILD)/fuzz/libhost.a
FUZZ_LIBSIM  := $(BUILD)/fuzz/libsim.a
ARM_LIBCORE       := $(BUILD)/arm/libcore.a
ARM_LIBSECP256K1  := $(BUILD)/arm/libsecp256k1.a
ARM_LIBMBEDCRYPTO := $(BUILD)/arm/libmbedcrypto.a
HOST_ARCHIVES := $(HOST_LIBSIM) $(HOST_LIBHOST) $(HOST_LIBCORE)
ASAN_ARCHIVES := $(ASAN_LIBSIM) $(ASAN_LIBHOST) $(ASAN_LIBCORE)
FUZZ_ARCHIVES := $(FUZZ_LIBSIM) $(FUZZ_LIBHOST) $(FUZZ_LIBCORE)
ARM_ARCHIVES  := $(ARM_LIBCORE) $(ARM_LIBSECP256K1) $(ARM_LIBMBEDCRYPTO)

# ---- sources, discovered by directory ----
# secp256k1_callbacks.c replaces secp256k1's default callbacks in the ARM link only: on the host the
# system library has its own, and two definitions must not meet.
ARM_ONLY_SRCS := firmware/secp256k1_callbacks.c
CORE_SRCS_ALL := $(sort $(wildcard firmware/*.c proto/*.c))
CORE_SRCS     := $(filter-out $(ARM_ONLY_SRCS),$(CORE_SRCS_ALL))
SIM_MAIN      := $(wildcard boards/sim/main.c)
SIM_SRCS      := $(filter-out boards/sim/main.c,$(sort $(wildcard boards/sim/*.c)))
HOSTLIB_SRCS  := $(sort $(wildcard host/lib/*.c))
CLI_SRCS      := $(sort $(wildcard host/cli/*.c))
CLI_MAIN      := $(wildcard host/cli/main.c)
UNIT_SRCS     := $(sort $(wildcard tests/unit/test_*.c))
UNIT_SUPPORT_SRCS := $(sort $(wildcard tests/unit/support/*.c))
FUZZ_SRCS     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRCS    := $(sort $(wildcard tests/bench/bench_*.c))

UNIT_BINS     := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
FUZZ_BINS     := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
BENCH_BINS    := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

SIM_BIN := $(if $(SIM_MAIN),$(BUILD)/oncesign-sim)
CLI_BIN := $(if $(CLI_MAIN),$(BUILD)/oncesign)

# Steps of `make check` run one after another (so test phases do not compete for the 2 cores);
# fragments append theirs.
CHECK_STEPS := check-unit fuzz-smoke firmware-core check-e2e
BENCH_STEPS :=

# $(eval $(call track_members,TARGET,FILES)): TARGET is rebuilt when the list FILES changes, not only
# when a file in it is newer (a deleted source must leave its archive or binary too). The list is
# kept in TARGET.members, rewritten only when it differs.
# The lists are compared word by word (a set difference both ways), not as one string through ifneq:
# the string comparison came out unequal for an unchanged list under some make runs, which rewrote
# the list every time and left its target always out of date (check-unit then found no fresh test).
members_differ = $(strip $(filter-out $(file <$(1)),members: $(2))$(filter-out members: $(2),$(file <$(1))))
define track_members
$$(if $$(call members_differ,$(1).members,$(strip $(2))),$$(shell mkdir -p $(dir $(1)))$$(file >$(1).members,members: $(strip $(2))))
$(1): $(1).members
endef

.PHONY: all check clean help
all: $(DEPS_STAMP) $(HOST_ARCHIVES) $(SIM_BIN) $(CLI_BIN) $(ARM_ARCHIVES)

help:
	@sed -n '/^# Shared variables/,/^$$/p' Makefile; echo "targets: see README.md"

-include $(sort $(wildcard mk/*.mk))

# Defined after the fragments so CHECK_STEPS holds what they appended. Every step runs even when an
# earlier one failed; the exit status says whether all passed.
check: deps all
	@failed=; for step in $(CHECK_STEPS); do \
	  echo "==> make $$step"; \
	  $(MAKE) --no-print-directory $$step || failed="$$failed $$step"; \
	done; \
	if [ -n "$$failed" ]; then echo "make check: FAILED:$$failed"; exit 1; fi; \
	echo "make check: all steps passed ($(strip $(CHECK_STEPS)))"

clean:
	rm -rf $(BUILD)
