# Test runners. Every test runs from the repository root with ONCESIGN_BUILD=<absolute build dir>
# so it finds tests/vectors/... and can start build/oncesign-sim and build/oncesign.
UNIT_TIMEOUT ?= 600
E2E_TIMEOUT  ?= 600

.PHONY: check-unit check-e2e bench demo
# Builds what it can (-k: one test that does not compile or link must not hide the results of the
# others), then runs every test binary that is up to date; one that could not be built counts as a
# failure. The simulator and CLI are built first because a unit test may spawn them.
check-unit:
	@$(MAKE) --no-print-directory -k $(SIM_BIN) $(CLI_BIN) $(UNIT_BINS) || true
	@fresh=; not_built=; \
	for b in $(UNIT_BINS); do \
	  if $(MAKE) --no-print-directory -q $$b >/dev/null 2>&1; then fresh="$$fresh $$b"; \
	  else not_built="$$not_built $$b"; fi; \
	done; \
	ONCESIGN_BUILD=$(BUILD_ABS) UNIT_TIMEOUT=$(UNIT_TIMEOUT) UNIT_NOT_BUILT="$$not_built" \
	  bash mk/run-unit.sh $$fresh

check-e2e: all
	@ONCESIGN_BUILD=$(BUILD_ABS) E2E_TIMEOUT=$(E2E_TIMEOUT) bash tests/e2e/run.sh

bench: $(BENCH_BINS) $(SIM_BIN) $(CLI_BIN) firmware-core
	@set -e; for b in $(BENCH_BINS); do \
	  echo "==> $$b"; ONCESIGN_BUILD=$(BUILD_ABS) $$b; \
	done; \
	. $(ARM_SIZE_FILE); \
	echo "bench core_flash_bytes $$flash bytes"; \
	echo "bench core_ram_bytes $$ram bytes"
	@for step in $(BENCH_STEPS); do $(MAKE) --no-print-directory $$step || exit 1; done

demo: all
	@test -f tests/e2e/demo.sh || { echo "demo: tests/e2e/demo.sh does not exist yet" >&2; exit 1; }
	ONCESIGN_BUILD=$(BUILD_ABS) bash tests/e2e/demo.sh
