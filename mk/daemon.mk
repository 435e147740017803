# oncesignd: host/daemon/*.c linked against the host and core archives (docs/LIFECYCLE.md).
# (mk/host.mk is read after this fragment, so its host_objs helper is not used in prerequisites here.)
DAEMON_SRCS := $(sort $(wildcard host/daemon/*.c))
DAEMON_OBJS := $(patsubst %.c,$(HOST_OBJ)/%.o,$(DAEMON_SRCS))
DAEMON_BIN  := $(if $(DAEMON_SRCS),$(BUILD)/oncesignd)

ifneq ($(DAEMON_BIN),)
$(eval $(call track_members,$(DAEMON_BIN),$(DAEMON_SRCS)))
$(DAEMON_BIN): $(DAEMON_OBJS) $(HOST_LIBHOST) $(HOST_LIBCORE)
	$(HOST_CC) $(HOST_CFLAGS) -o $@ $(filter %.o,$^) -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(HOST_LDLIBS)
endif

all: $(DAEMON_BIN)
-include $(DAEMON_OBJS:.o=.d)

# tests/e2e/test_crash.sh drives oncesignd with curl, reads JSON with jq and the ledger with sqlite3.
DEB_PACKAGES += curl jq
