#!/bin/bash
# End-to-end (issue 10, defect 5): the test-only random source is a compile-time choice. The
# production simulator (build/oncesign-sim) does not contain it (nm) and refuses --seed; the test
# simulator (build/oncesign-sim-test) does, and even it refuses to set up mainnet keys from it.
# Needs $ONCESIGN_BUILD. Runs in about a second.
set -uo pipefail
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
SIM=$B/oncesign-sim CLI=$B/oncesign
for x in "$SIM" "$SIM-test" "$CLI"; do [ -x "$x" ] || { echo "FAIL: $x not built" >&2; exit 1; }; done
command -v nm >/dev/null || { echo "FAIL: nm is needed" >&2; exit 1; }
dir=$(mktemp -d /tmp/oncesign-rng.XXXXXX)
sim_pid=
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/*.out "$dir"/*.err; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }; done; exit 1; }
pass() { echo "ok - $*"; }

# nm's output is read whole into files first: `nm | grep -q` under pipefail fails whenever grep stops
# early and nm dies of SIGPIPE.
nm "$SIM-test" >"$dir/test.nm" && nm "$SIM" >"$dir/prod.nm" || fail "nm could not read the images"
grep -q ' T sim_test_rng_fill$' "$dir/test.nm" || fail "the test simulator does not name its test RNG (the check below would prove nothing)"
if grep -q sim_test_rng_fill "$dir/prod.nm"; then fail "build/oncesign-sim contains the test-only RNG"; fi
pass "nm: the test RNG is linked into oncesign-sim-test only"

"$SIM" --socket "$dir/p.sock" --flash "$dir/p.bin" --no-tty --seed 1 </dev/null >"$dir/prod.out" 2>"$dir/prod.err"
[ $? -eq 1 ] || fail "the production simulator accepted --seed"
grep -q "no test-only random source" "$dir/prod.err" || fail "no reason given for refusing --seed"
pass "oncesign-sim --seed: refused, exit 1"

"$SIM-test" --socket "$dir/s.sock" --flash "$dir/flash.bin" --no-tty --seed 1 </dev/null 2>"$dir/sim.err" &
sim_pid=$!
for _ in $(seq 100); do [ -S "$dir/s.sock" ] && break; sleep 0.05; done
"$CLI" --device "sim:$dir/s.sock" --timeout 5000 device init --network main --words 12 >"$dir/main.out" 2>"$dir/main.err"
rc=$?
[ $rc -eq 3 ] || fail "mainnet setup with the test RNG: exit $rc, expected 3 (refused)"
grep -q "test-rng" "$dir/main.err" || grep -q "test-only" "$dir/main.err" || fail "mainnet refusal does not say why"
"$CLI" --device "sim:$dir/s.sock" --json device info >"$dir/info.out" 2>"$dir/info.err" || fail "device info"
grep -q '"initialized":false' "$dir/info.out" || fail "the device was set up anyway"
pass "oncesign-sim-test --seed: mainnet setup refused (test-rng), the device stays blank"
