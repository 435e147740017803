# `make host`: the host programs only (oncesignd, oncesign, oncesign-sim), without the ARM
# toolchain, QEMU or the test tools (DEPS_STAMP is the host-only stamp for these goals: Makefile).
# `make install [PREFIX=/usr/local] [DESTDIR=]`: those programs, the systemd unit, the sysusers.d
# account, the udev rule, the sample config (not over an existing one) and the docs.
# `make uninstall` removes what install put there except the config, which is the operator's.
PREFIX        ?= /usr/local
BINDIR        ?= $(PREFIX)/bin
SYSCONFDIR    ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
DOCDIR        ?= $(PREFIX)/share/doc/oncesign
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR   ?= $(PREFIX)/lib/sysusers.d
UDEVRULESDIR  ?= $(PREFIX)/lib/udev/rules.d
DESTDIR       ?=

INSTALL_BINS := $(DAEMON_BIN) $(CLI_BIN) $(SIM_BIN)
INSTALL_DOCS := README.md $(wildcard docs/*.md) proto/PROTOCOL.md

.PHONY: host install uninstall
host: $(INSTALL_BINS)

install: host
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	  $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
	  packaging/systemd/oncesignd.service > $(DESTDIR)$(SYSTEMDUNITDIR)/oncesignd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/oncesignd.service
	install -m 0644 packaging/sysusers/oncesign.conf $(DESTDIR)$(SYSUSERSDIR)/oncesign.conf
	install -m 0644 packaging/udev/70-oncesign.rules $(DESTDIR)$(UDEVRULESDIR)/70-oncesign.rules
	install -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 packaging/oncesignd.conf $(DESTDIR)$(DOCDIR)/oncesignd.conf.sample
	@# The config may name secrets (rpc-password): 0640, and never replaced once the operator edited it.
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/oncesign
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/oncesign/oncesignd.conf ]; then \
	  echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/oncesign/oncesignd.conf (the sample is in $(DOCDIR))"; \
	else install -m 0640 packaging/oncesignd.conf $(DESTDIR)$(SYSCONFDIR)/oncesign/oncesignd.conf; fi
	@# On the target system itself, the service's group reads the config (systemd-sysusers made it).
	@if [ -z "$(DESTDIR)" ] && getent group oncesign >/dev/null; then \
	  chgrp oncesign $(SYSCONFDIR)/oncesign $(SYSCONFDIR)/oncesign/oncesignd.conf; fi

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_BINS))) \
	  $(DESTDIR)$(SYSTEMDUNITDIR)/oncesignd.service $(DESTDIR)$(SYSUSERSDIR)/oncesign.conf \
	  $(DESTDIR)$(UDEVRULESDIR)/70-oncesign.rules
	rm -rf $(DESTDIR)$(DOCDIR)
