# libFuzzer targets: tests/fuzz/fuzz_*.c -> build/fuzz/fuzz_*, clang with ASan+UBSan, linked against
# clang-built objects of firmware/, proto/ and host/lib/ (build/fuzz/obj/); boards/sim/ too, in case a
# target reaches core code that calls the board seam (archive members are pulled only when needed).
# `make fuzz` runs each for FUZZ_SECONDS, `make fuzz-smoke` (in `make check`) for FUZZ_SMOKE_SECONDS.
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_SAN  := -fsanitize=address,undefined

fuzz_objs = $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(1))

$(FUZZ_OBJ)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CLANG) $(HOST_CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(DEPFLAGS) -c $< -o $@

$(FUZZ_LIBCORE): $(call fuzz_objs,$(CORE_SRCS))
$(FUZZ_LIBHOST): $(call fuzz_objs,$(HOSTLIB_SRCS))
$(eval $(call track_members,$(FUZZ_LIBCORE),$(call fuzz_objs,$(CORE_SRCS))))
$(FUZZ_LIBSIM):  $(call fuzz_objs,$(SIM_SRCS))
$(eval $(call track_members,$(FUZZ_LIBHOST),$(call fuzz_objs,$(HOSTLIB_SRCS))))
$(eval $(call track_members,$(FUZZ_LIBSIM),$(call fuzz_objs,$(SIM_SRCS))))
$(FUZZ_ARCHIVES): | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $(filter %.o,$^)

$(FUZZ_BINS): $(BUILD)/fuzz/%: $(FUZZ_OBJ)/tests/fuzz/%.o $(FUZZ_ARCHIVES)
	$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< \
	  -Wl,--start-group $(FUZZ_ARCHIVES) -Wl,--end-group $(HOST_LDLIBS)

.PHONY: fuzz fuzz-smoke fuzz-targets
fuzz-targets: $(FUZZ_BINS)
# As check-unit: a target that does not build is reported and counted, the others still run.
define run_fuzz
	@$(MAKE) --no-print-directory -k $(FUZZ_BINS) || true
	@fresh=; not_built=; \
	for b in $(FUZZ_BINS); do \
	  if $(MAKE) --no-print-directory -q $$b >/dev/null 2>&1; then fresh="$$fresh $$b"; \
	  else not_built="$$not_built $$b"; fi; \
	done; \
	FUZZ_NOT_BUILT="$$not_built" bash mk/run-fuzz.sh $(1) $(BUILD) $$fresh
endef
fuzz:
	$(call run_fuzz,$(FUZZ_SECONDS))
fuzz-smoke:
	$(call run_fuzz,$(FUZZ_SMOKE_SECONDS))

-include $(patsubst %.c,$(FUZZ_OBJ)/%.d,$(CORE_SRCS) $(HOSTLIB_SRCS) $(SIM_SRCS) $(FUZZ_SRCS))
