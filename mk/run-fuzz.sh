#!/bin/bash
# Runs each libFuzzer binary for SECONDS and prints `fuzz <name> execs=N` per target and the total.
# The seed corpus tests/fuzz/corpus/<name>/ is read, never written: new inputs go to
# BUILD/fuzz/corpus/<name>/, crash reproducers to BUILD/fuzz/artifacts/.
# Usage: run-fuzz.sh SECONDS BUILD BINARY...
set -uo pipefail
seconds=$1 build=$2; shift 2
total=0 failed=()
if [ $# -eq 0 ] && [ -z "${FUZZ_NOT_BUILT:-}" ]; then echo "fuzz: no targets (tests/fuzz/fuzz_*.c)"; fi
for bin in "$@"; do
  name=$(basename "$bin")
  work=$build/fuzz/corpus/$name artifacts=$build/fuzz/artifacts
  log=$build/fuzz/$name.log
  mkdir -p "$work" "$artifacts"
  seeds=()
  [ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=25 \
    -artifact_prefix="$artifacts/$name-" "$work" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n1)
  execs=${execs:-0}
  total=$((total + execs))
  echo "fuzz $name execs=$execs"
  if [ $rc -ne 0 ]; then
    failed+=("$name")
    echo "fuzz $name FAILED (exit $rc); last lines of $log:"
    tail -n 30 "$log" | sed 's/^/    /'
  fi
done
for bin in ${FUZZ_NOT_BUILT:-}; do
  failed+=("$(basename "$bin")")
  echo "fuzz $(basename "$bin") could not be built (see the compiler/linker errors above)"
done
echo "fuzz total execs=$total"
if [ ${#failed[@]} -gt 0 ]; then echo "fuzz: failed: ${failed[*]}"; exit 1; fi
