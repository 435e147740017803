# Test support shared by unit tests, benchmarks and the scenario tool, and the host-side tools under
# tests/e2e/ (each tests/e2e/<name>.c with its own main() becomes build/oncesign-<name>).

# Test code sees the test helpers' headers (tests/unit/support/).
$(ASAN_OBJ)/tests/%.o $(HOST_OBJ)/tests/%.o: HOST_CPPFLAGS += -Itests/unit/support

# The test helpers, natively compiled, for benchmarks (the ASan twin is ASAN_LIBTESTSUPPORT).
HOST_LIBTESTSUPPORT := $(BUILD)/host/libtestsupport.a
$(HOST_LIBTESTSUPPORT): $(call host_objs,$(UNIT_SUPPORT_SRCS)) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $(filter %.o,$^)
$(eval $(call track_members,$(HOST_LIBTESTSUPPORT),$(call host_objs,$(UNIT_SUPPORT_SRCS))))
$(BENCH_BINS): $(HOST_LIBTESTSUPPORT)
$(BENCH_BINS): HOST_ARCHIVES := $(HOST_LIBTESTSUPPORT) $(HOST_ARCHIVES)

E2E_TOOL_SRCS := $(sort $(wildcard tests/e2e/*.c))
E2E_TOOLS := $(patsubst tests/e2e/%.c,$(BUILD)/oncesign-%,$(E2E_TOOL_SRCS))

$(E2E_TOOLS): $(BUILD)/oncesign-%: $(HOST_OBJ)/tests/e2e/%.o $(HOST_LIBHOST) $(HOST_LIBCORE)
	$(HOST_CC) $(HOST_CFLAGS) -o $@ $< $(call link_group,$(HOST_LIBHOST) $(HOST_LIBCORE)) $(HOST_LDLIBS)

all: $(E2E_TOOLS)
-include $(patsubst %.c,$(HOST_OBJ)/%.d,$(E2E_TOOL_SRCS) $(UNIT_SUPPORT_SRCS))

# The end-to-end scripts use jq to read --json output and curl to talk to the HTTP API.
DEB_PACKAGES += jq curl
# tests/e2e/test_webhooks.sh and docs/API.md's webhook recipe check signatures with openssl (not the
# daemon's own code); tests/e2e/lib/install_check.bash runs systemd-sysusers --root and
# systemd-analyze verify on the installed tree (no systemd needs to run).
DEB_PACKAGES += openssl systemd
