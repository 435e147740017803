# End-to-end benchmarks and the long flood (issue 5), run by `make bench` after the built-in ones.
# The signer-side figures (signer_us_per_payout, wire_bytes_per_payout) come from
# tests/bench/bench_signer_payout.c, which `make bench` runs with the other bench_* binaries.
BENCH_STEPS += bench-e2e

.PHONY: bench-e2e
bench-e2e: all
	@ONCESIGN_BUILD=$(BUILD_ABS) bash tests/bench/e2e.sh
