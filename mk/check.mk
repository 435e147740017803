# Test runners. Every test runs from the repository root with ONCESIGN_BUILD=<absolute build dir>
# so it finds tests/vectors/... and can start build/oncesign-sim and build/oncesign.
UNIT_TIMEOUT ?= 600
E2E_TIMEOUT  ?= 600

.PHONY: check-unit check-e2e bench demo
# The binaries are prerequisites because a unit test may spawn them.
check-unit: $(UNIT_BINS) $(SIM_BIN) $(CLI_BIN)
	@ONCESIGN_BUILD=$(BUILD_ABS) UNIT_TIMEOUT=$(UNIT_TIMEOUT) bash mk/run-unit.sh $(UNIT_BINS)

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
