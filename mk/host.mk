# Host builds: the native archives and binaries (build/host/, build/oncesign-sim, build/oncesign),
# their ASan+UBSan twins for the unit tests (build/asan/) and the benchmarks (build/bench/).


host_objs = $(patsubst %.c,$(HOST_OBJ)/%.o,$(1))
asan_objs = $(patsubst %.c,$(ASAN_OBJ)/%.o,$(1))

$(HOST_OBJ)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CPPFLAGS) $(HOST_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(ASAN_OBJ)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CPPFLAGS) $(HOST_CFLAGS) $(SAN_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(HOST_LIBCORE): $(call host_objs,$(CORE_SRCS))
$(HOST_LIBSIM):  $(call host_objs,$(SIM_SRCS))
$(HOST_LIBHOST): $(call host_objs,$(HOSTLIB_SRCS))
$(ASAN_LIBCORE): $(call asan_objs,$(CORE_SRCS))
$(ASAN_LIBSIM):  $(call asan_objs,$(SIM_SRCS))
$(ASAN_LIBHOST): $(call asan_objs,$(HOSTLIB_SRCS))
$(foreach a,HOST_LIBCORE:CORE HOST_LIBSIM:SIM HOST_LIBHOST:HOSTLIB,$(eval $(call track_members,\
  $($(word 1,$(subst :, ,$(a)))),$(call host_objs,$($(word 2,$(subst :, ,$(a)))_SRCS)))))
$(foreach a,ASAN_LIBCORE:CORE ASAN_LIBSIM:SIM ASAN_LIBHOST:HOSTLIB,$(eval $(call track_members,\
  $($(word 1,$(subst :, ,$(a)))),$(call asan_objs,$($(word 2,$(subst :, ,$(a)))_SRCS)))))
$(if $(CLI_BIN),$(eval $(call track_members,$(CLI_BIN),$(CLI_SRCS))))
# An archive with no members is still a valid (empty) archive, so links work while a directory
# is still empty.
$(HOST_ARCHIVES) $(ASAN_ARCHIVES) $(ASAN_LIBTESTSUPPORT): | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $(filter %.o,$^)

# Binaries: every archive inside one link group, so the order of archives does not matter
# (the core calls the board, the board calls the core).
link_group = -Wl,--start-group $(1) -Wl,--end-group

$(BUILD)/oncesign-sim: $(call host_objs,$(SIM_MAIN)) $(HOST_LIBSIM) $(HOST_LIBCORE)
	$(HOST_CC) $(HOST_CFLAGS) -o $@ $(filter %.o,$^) $(call link_group,$(filter %.a,$^)) \
	  $(SIM_LDLIBS)

$(BUILD)/oncesign: $(call host_objs,$(CLI_SRCS)) $(HOST_LIBHOST) $(HOST_LIBCORE)
	$(HOST_CC) $(HOST_CFLAGS) -o $@ $(filter %.o,$^) $(call link_group,$(filter %.a,$^)) $(HOST_LDLIBS)

# ---- unit tests: one cmocka binary per tests/unit/test_*.c, ASan+UBSan ----

$(ASAN_LIBTESTSUPPORT): $(call asan_objs,$(UNIT_SUPPORT_SRCS))
$(eval $(call track_members,$(ASAN_LIBTESTSUPPORT),$(call asan_objs,$(UNIT_SUPPORT_SRCS))))

$(UNIT_BINS): $(BUILD)/unit/%: $(ASAN_OBJ)/tests/unit/%.o $(ASAN_LIBTESTSUPPORT) $(ASAN_ARCHIVES)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $(SAN_CFLAGS) -o $@ $< $(call link_group,$(ASAN_LIBTESTSUPPORT) $(ASAN_ARCHIVES)) \
	  $(HOST_LDLIBS) $(CMOCKA_LDLIBS)

.PHONY: unit-tests
unit-tests: $(UNIT_BINS)

# ---- benchmarks: optimized, no sanitizers, the native archives ----

$(BENCH_BINS): $(BUILD)/bench/%: $(HOST_OBJ)/tests/bench/%.o $(HOST_ARCHIVES)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) -o $@ $< $(call link_group,$(HOST_ARCHIVES)) $(HOST_LDLIBS)

-include $(patsubst %.c,$(HOST_OBJ)/%.d,$(CORE_SRCS) $(SIM_SRCS) $(SIM_MAIN) $(HOSTLIB_SRCS) $(CLI_SRCS) $(BENCH_SRCS))
-include $(patsubst %.c,$(ASAN_OBJ)/%.d,$(CORE_SRCS) $(SIM_SRCS) $(HOSTLIB_SRCS) $(UNIT_SRCS) $(UNIT_SUPPORT_SRCS))
