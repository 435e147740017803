#!/bin/bash
# End-to-end runner: runs every tests/e2e/*.sh except run.sh and demo.sh with bash, from the
# repository root, with ONCESIGN_BUILD set; a script passes when it exits 0 (within E2E_TIMEOUT
# seconds). Ends with exactly one line `N passed, M failed`; exits non-zero when M > 0.
set -uo pipefail
cd "$(dirname "$0")/../.."
export ONCESIGN_BUILD=${ONCESIGN_BUILD:-$PWD/build}
timeout_s=${E2E_TIMEOUT:-600}
passed=0 failed=0 failures=()
for script in tests/e2e/*.sh; do
  case "$(basename "$script")" in run.sh|demo.sh) continue ;; esac
  [ -f "$script" ] || continue
  echo "==> e2e $script"
  start=$SECONDS
  timeout --kill-after=10 "$timeout_s" bash "$script" </dev/null
  rc=$?
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); echo "e2e PASS $script ($((SECONDS - start))s)"
  else
    failed=$((failed + 1)); failures+=("$script")
    if [ $rc -eq 124 ]; then why="timed out after ${timeout_s}s"; else why="exit status $rc"; fi
    echo "e2e FAIL $script ($why)"
  fi
done
[ ${#failures[@]} -eq 0 ] || echo "e2e failures: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
