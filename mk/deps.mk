# `make deps`: install the Debian packages in DEB_PACKAGES that dpkg-query does not list as installed.
# Re-checked whenever the Makefile or a fragment changes (a fragment may have appended a package).
.PHONY: deps
deps: $(DEPS_STAMP)

$(BUILD)/.deps.stamp: Makefile $(wildcard mk/*.mk) mk/install-deps.sh
	@mkdir -p $(@D)
	@bash mk/install-deps.sh $(sort $(DEB_PACKAGES))
	@printf '%s\n' $(sort $(DEB_PACKAGES)) > $@

# `make host` / `make install`: the host's build packages only (HOST_DEB_PACKAGES, Makefile).
$(HOST_DEPS_STAMP): Makefile $(wildcard mk/*.mk) mk/install-deps.sh
	@mkdir -p $(@D)
	@bash mk/install-deps.sh $(sort $(HOST_DEB_PACKAGES))
	@printf '%s\n' $(sort $(HOST_DEB_PACKAGES)) > $@
