#!/bin/bash
# End-to-end: the oncesign CLI against the simulated signer (build/oncesign-sim), buttons pressed
# through the simulator's control socket. Covers device info on a blank device, init with the
# mnemonic shown only on the device, xpub, address --show approved and rejected, wipe, usage and
# transport exit codes, and a clean SIGTERM shutdown. Needs $ONCESIGN_BUILD (the build directory).
set -uo pipefail
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
SIM=$B/oncesign-sim
CLI=$B/oncesign
[ -x "$SIM" ] && [ -x "$CLI" ] || { echo "FAIL: $SIM or $CLI not built" >&2; exit 1; }

dir=$(mktemp -d /tmp/oncesign-e2e.XXXXXX)   # short: Unix socket paths are limited to 107 bytes
sim_pid=
bg_pids=()
cleanup() {
  for p in "${bg_pids[@]}" $sim_pid; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$dir"/*.out "$dir"/*.err "$dir/sim.log"; do
    [ -s "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}
pass() { echo "ok - $*"; }

export ONCESIGN_DEVICE=sim:$dir/s.sock
ctl() { "$SIM" --control "$dir/c.sock" --send "$1"; }
cli() { timeout 30 "$CLI" --timeout 5000 "$@"; }

# wait_screen PATTERN SECONDS: waits until the device screen matches the extended regex PATTERN.
wait_screen() {
  local deadline=$((SECONDS + $2)) screen
  while [ $SECONDS -lt $deadline ]; do
    screen=$(ctl screen 2>/dev/null) && grep -Eq -- "$1" <<<"$screen" && return 0
    sleep 0.05
  done
  fail "screen never showed /$1/ (last: $(ctl screen 2>&1 | tr '\n' '|'))"
}

# approve_setup_screens PID: while PID (a `device init`) runs, approves each new mnemonic page and
# setup page (every field it sets, the last one the confirmation) once, collecting the words shown into the array `words`.
approve_setup_screens() {
  local pid=$1 last= screen deadline=$((SECONDS + 60))
  words=()
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "device init did not finish"
    screen=$(ctl screen 2>/dev/null) || { sleep 0.05; continue; }
    if [ "$screen" != "$last" ] && grep -Eq '^(Write down|Setup [0-9])' <<<"$screen"; then
      if grep -q '^Write down' <<<"$screen"; then
        while read -r w; do words+=("$w"); done < <(sed -n 's/^ *[0-9][0-9]*\. \([a-z][a-z]*\)$/\1/p' <<<"$screen")
      fi
      ctl approve >/dev/null 2>&1 || true   # the simulator may die here in the power-cut test
      last=$screen
    fi
    sleep 0.05
  done
}

# start_sim FLASH [OPTION...]: starts the simulator in the background and waits for its sockets.
start_sim() {
  local flash=$1
  shift
  rm -f "$dir/s.sock" "$dir/c.sock"
  "$SIM" --socket "$dir/s.sock" --flash "$flash" --control "$dir/c.sock" --no-tty "$@" \
    </dev/null 2>>"$dir/sim.log" &
  sim_pid=$!
  for _ in $(seq 100); do [ -S "$dir/c.sock" ] && [ -S "$dir/s.sock" ] && break; sleep 0.05; done
  [ "$(ctl ping)" = pong ] || fail "control socket does not answer ping"
}

# ---- start the simulator
start_sim "$dir/flash.bin"
pass "simulator started, control socket answers"

# ---- blank device
cli --json device info >"$dir/info0.out" 2>"$dir/info0.err" || fail "device info on a blank device failed"
grep -q '"initialized":false' "$dir/info0.out" || fail "blank device does not say initialized false"
grep -Eq '"nonce_root":"[0-9a-f]{64}"' "$dir/info0.out" || fail "no nonce_root in info"
grep -Eq '"log_seq":[0-9]+' "$dir/info0.out" || fail "no log_seq in info"
pass "device info --json on a blank device: initialized false, nonce_root, log_seq"

cli device xpub >"$dir/xpub0.out" 2>"$dir/xpub0.err"
rc=$?
[ $rc -eq 3 ] || fail "xpub on a blank device: exit $rc, expected 3 (refused)"
grep -q "not been set up" "$dir/xpub0.err" || fail "xpub on a blank device: no clear message"
pass "xpub on a blank device is refused with exit 3"

# ---- init: approve every mnemonic page, then the confirmation
cli device init --network test --words 12 >"$dir/init.out" 2>"$dir/init.err" &
init_pid=$!
bg_pids+=($init_pid)
wait_screen '^Write down' 15
approve_setup_screens $init_pid
wait $init_pid || fail "device init exited with $?"
[ ${#words[@]} -eq 12 ] || fail "expected 12 mnemonic words on the device screens, saw ${#words[@]}: ${words[*]}"
grep -q "Write down the words shown on the device" "$dir/init.err" "$dir/init.out" || fail "init did not prompt"
# The CLI's own fixed prompt is not a leak: four of its words ("write", "device", "confirm", "there")
# are BIP39 words, so a random mnemonic shares one with it in about one run of 40; it is left out of
# the search.
cli_text=$(cat "$dir/init.out" "$dir/init.err" | grep -v -x 'Write down the words shown on the device and confirm there')
for w in "${words[@]}"; do
  grep -qw "$w" <<<"$cli_text" && fail "mnemonic word '$w' leaked into the CLI output"
done
pass "device init: 12 words shown on the device only, approved through the control socket"

cli device info --json >"$dir/info1.out" 2>"$dir/info1.err" || fail "device info after init failed"
grep -q '"initialized":true' "$dir/info1.out" || fail "info after init does not say initialized true"
grep -q '"network":"test"' "$dir/info1.out" || fail "info after init: network is not test"
grep -q '"script_type":"p2pkh"' "$dir/info1.out" || fail "info after init: script type is not the p2pkh default"
pass "device info after init: initialized true, network test, p2pkh"

# ---- xpub
cli device xpub >"$dir/xpub.out" 2>"$dir/xpub.err" || fail "device xpub failed"
grep -Eq '^tpub[1-9A-HJ-NP-Za-km-z]{107}$' "$dir/xpub.out" || fail "xpub is not a tpub: $(cat "$dir/xpub.out")"
cli device xpub --script-type p2wpkh --account 1 >"$dir/xpub2.out" 2>"$dir/xpub2.err" || fail "xpub p2wpkh failed"
grep -q '^tpub' "$dir/xpub2.out" && ! cmp -s "$dir/xpub.out" "$dir/xpub2.out" || fail "p2wpkh account 1 xpub wrong"
pass "device xpub prints tpubs (p2pkh account 0, p2wpkh account 1 differ)"

# ---- address without and with --show
cli device address --index 0 >"$dir/addr0.out" 2>"$dir/addr0.err" || fail "device address failed"
grep -Eq '^[mn][1-9A-HJ-NP-Za-km-z]{25,34}$' "$dir/addr0.out" || fail "not a testnet P2PKH address: $(cat "$dir/addr0.out")"

cli device address --index 0 --show >"$dir/show.out" 2>"$dir/show.err" &
show_pid=$!
bg_pids+=($show_pid)
wait_screen '^Receive address #0' 15
shown=$(ctl screen | tr -d '\n')
[ "$(ctl approve)" = ok ] || fail "approve not accepted"
wait $show_pid || fail "address --show approved exited with $?"
cmp -s "$dir/show.out" "$dir/addr0.out" || fail "address --show printed another address"
grep -qF "$(cat "$dir/addr0.out")" <<<"$shown" || fail "the device screen did not show the address ($shown)"
pass "address --show: shown on the device, approved, printed"

cli device address --index 1 --show >"$dir/rej.out" 2>"$dir/rej.err" &
rej_pid=$!
bg_pids+=($rej_pid)
wait_screen '^Receive address #1' 15
[ "$(ctl reject)" = ok ] || fail "reject not accepted"
wait $rej_pid
rc=$?
[ $rc -eq 3 ] || fail "address --show rejected: exit $rc, expected 3"
grep -q "rejected" "$dir/rej.err" || fail "rejection message missing"
[ ! -s "$dir/rej.out" ] || fail "a rejected address was printed"
pass "address --show rejected on the device: exit 3 with a clear message"

# ---- wipe
cli device wipe >"$dir/wipe.out" 2>"$dir/wipe.err" &
wipe_pid=$!
bg_pids+=($wipe_pid)
wait_screen '^WIPE' 15
[ "$(ctl approve)" = ok ] || fail "approve not accepted"
wait $wipe_pid || fail "device wipe exited with $?"
cli --json device info >"$dir/info2.out" 2>"$dir/info2.err" || fail "device info after wipe failed"
grep -q '"initialized":false' "$dir/info2.out" || fail "device still initialised after wipe"
pass "device wipe approved: uninitialised again"

# ---- exit codes for usage and transport errors
cli device frobnicate >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "unknown command: exit $rc, expected 1"
cli device init --words 13 >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "bad option: exit $rc, expected 1"
cli --device "sim:$dir/nothing.sock" device info >/dev/null 2>"$dir/nodev.err"
rc=$?
[ $rc -eq 2 ] || fail "missing device: exit $rc, expected 2"
grep -q "nothing.sock" "$dir/nodev.err" || fail "missing device: the message does not name the socket"
pass "exit codes: 1 for usage errors, 2 for an unreachable device"

[ "$(ctl flash-ops)" -gt 0 ] || fail "flash-ops did not count the setup's writes"

# ---- clean shutdown
kill -TERM $sim_pid
for _ in $(seq 100); do kill -0 $sim_pid 2>/dev/null || break; sleep 0.05; done
wait $sim_pid
rc=$?
sim_pid=
[ $rc -eq 0 ] || fail "simulator exit status $rc after SIGTERM"
[ ! -e "$dir/s.sock" ] || fail "simulator left its socket behind"
pass "simulator stops cleanly on SIGTERM"

# ---- the power-cut switch: the first flash operation of a setup kills the simulator (status 99)
# mid-write; the host sees the link die (exit 2); a restarted simulator serves the same flash file.
# (What the signer recovers after each cut is the I2 test's business, not this one's.)
start_sim "$dir/cut.bin" --cut-at-write 1
[ "$(ctl flash-ops)" = 0 ] || fail "a blank simulator already wrote flash"
cli device init --network regtest --words 12 >"$dir/cut.out" 2>"$dir/cut.err" &
init_pid=$!
bg_pids+=($init_pid)
approve_setup_screens $init_pid
wait $init_pid
rc=$?
[ $rc -eq 2 ] || fail "init across a power cut: exit $rc, expected 2 (link died)"
for _ in $(seq 100); do kill -0 $sim_pid 2>/dev/null || break; sleep 0.05; done
wait $sim_pid
rc=$?
sim_pid=
[ $rc -eq 99 ] || fail "simulator exit status $rc at the power cut, expected 99"
grep -q "POWER CUT at flash operation 1" "$dir/sim.log" || fail "the simulator did not log the cut"
start_sim "$dir/cut.bin"
cli --json device info >"$dir/cutinfo.out" 2>"$dir/cutinfo.err"
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 3 ] || fail "device info after the power cut: exit $rc (expected an answer)"
pass "power cut at flash operation 1: simulator exit 99, host exit 2, restarted simulator answers"
echo "test_sim_device: all passed"
