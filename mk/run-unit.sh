#!/bin/bash
# Runs each cmocka test binary from the repository root, sums the test cases of all of them from
# cmocka's `[  PASSED  ] N test(s).` / `[  FAILED  ] N test(s)` lines and ends with exactly one line
# `N passed, M failed`. A binary that dies without cmocka's summary (a sanitizer report, a signal,
# a timeout) counts as one failure, and so does each binary named in UNIT_NOT_BUILT (it did not
# compile or link). Exits non-zero when M > 0.
# Usage: ONCESIGN_BUILD=... run-unit.sh BINARY...
set -uo pipefail
: "${ONCESIGN_BUILD:?}"
export ONCESIGN_BUILD CMOCKA_MESSAGE_OUTPUT=stdout
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
timeout_s=${UNIT_TIMEOUT:-600}
passed=0 failed=0
log_dir=$ONCESIGN_BUILD/unit/logs
mkdir -p "$log_dir"
for bin in "$@"; do
  name=$(basename "$bin")
  log=$log_dir/$name.log
  timeout --kill-after=10 "$timeout_s" "$bin" </dev/null 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p)) failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    failed=$((failed + 1))
    if [ "$rc" -eq 124 ]; then why="timed out after ${timeout_s}s"; else why="exit status $rc"; fi
    echo "unit: $name crashed ($why) without a cmocka failure report; counted as 1 failure"
  fi
done
for bin in ${UNIT_NOT_BUILT:-}; do
  failed=$((failed + 1))
  echo "unit: $(basename "$bin") could not be built (see the compiler/linker errors above); counted as 1 failure"
done
[ $# -gt 0 ] || [ -n "${UNIT_NOT_BUILT:-}" ] || echo "unit: no tests (tests/unit/test_*.c)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
