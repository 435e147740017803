# The test node (tests/node/): build/oncesign-testnode, a monacoind stand-in, and its tests.
#
# Works inside the top-level Makefile (which defines BUILD, HOST_CC, HOST_CFLAGS, SAN_CFLAGS, DEPS_STAMP)
# and standalone: make -f mk/testnode.mk BUILD=build check-testnode
# Objects go to their own trees ($(BUILD)/testnode/...) because the node needs -D_GNU_SOURCE and links
# none of the project archives: it must stay independent of firmware/ and proto/ (its sighash code
# checks theirs).

BUILD       ?= build
HOST_CC     ?= gcc
HOST_CFLAGS ?= -std=c11 -Wall -Wextra -Werror -O2 -g
SAN_CFLAGS  ?= -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
DEB_PACKAGES += libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsecp256k1-dev libmbedtls-dev libcmocka-dev

TESTNODE_BIN      := $(BUILD)/oncesign-testnode
TESTNODE_ASAN_BIN := $(BUILD)/testnode/oncesign-testnode-asan
TESTNODE_TEST_BIN := $(BUILD)/testnode/test_testnode
TESTNODE_OBJ      := $(BUILD)/testnode/obj
TESTNODE_ASAN_OBJ := $(BUILD)/testnode/asan
TESTNODE_CPPFLAGS := -Itests/node -Iinclude -D_GNU_SOURCE
TESTNODE_LIBS     := -lmicrohttpd -ljansson -lsecp256k1 -lmbedcrypto -lpthread -lm
TESTNODE_TIMEOUT  ?= 120

# tx.c, node.c, accept.c, rpc.c: the node without main(); server.c: main(); test_*.c: the tests
TESTNODE_CORE_SRCS := $(filter-out tests/node/server.c tests/node/test_%.c,$(sort $(wildcard tests/node/*.c)))
TESTNODE_TEST_SRCS := $(sort $(wildcard tests/node/test_*.c))

.PHONY: testnode check-testnode
all: $(TESTNODE_BIN)
CHECK_STEPS += check-testnode
testnode: $(TESTNODE_BIN)

$(TESTNODE_OBJ)/%.o: tests/node/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(TESTNODE_CPPFLAGS) $(HOST_CFLAGS) -MMD -MP -c $< -o $@

$(TESTNODE_ASAN_OBJ)/%.o: tests/node/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(TESTNODE_CPPFLAGS) $(HOST_CFLAGS) $(SAN_CFLAGS) -MMD -MP -c $< -o $@

$(TESTNODE_BIN): $(patsubst tests/node/%.c,$(TESTNODE_OBJ)/%.o,$(TESTNODE_CORE_SRCS) tests/node/server.c)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) -o $@ $^ $(TESTNODE_LIBS)

$(TESTNODE_ASAN_BIN): $(patsubst tests/node/%.c,$(TESTNODE_ASAN_OBJ)/%.o,$(TESTNODE_CORE_SRCS) tests/node/server.c)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(TESTNODE_LIBS)

$(TESTNODE_TEST_BIN): $(patsubst tests/node/%.c,$(TESTNODE_ASAN_OBJ)/%.o,$(TESTNODE_CORE_SRCS) $(TESTNODE_TEST_SRCS))
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(TESTNODE_LIBS) -lcurl -lcmocka

# The tests start the sanitized node as a subprocess and talk to it over HTTP with libcurl.
check-testnode: $(TESTNODE_TEST_BIN) $(TESTNODE_ASAN_BIN) $(TESTNODE_BIN)
	@echo "==> $(TESTNODE_TEST_BIN)"
	@TESTNODE_BIN=$(TESTNODE_ASAN_BIN) TESTNODE_VECTORS=tests/vectors \
	  timeout $(TESTNODE_TIMEOUT) $(TESTNODE_TEST_BIN)

-include $(wildcard $(TESTNODE_OBJ)/*.d $(TESTNODE_ASAN_OBJ)/*.d)
