#!/bin/bash
# End-to-end on the real firmware image: build/mps2-an386/oncesign.elf under qemu-system-arm
# (Cortex-M4, headless, semihosting on, -icount shift=0), driven over its UART by build/oncesign and
# build/oncesign-scenario with --device serial:<socket>, buttons pressed over the second UART with
# build/mps2-an386/oncesign-qemu-ctl. Steps: device info on a blank device, device init (approve
# every mnemonic page and the confirmation), xpub, scenario phase1 (a payout signed for a fresh
# nonce and verified on the host; a second, non-conflicting transaction for that nonce refused),
# QEMU killed and restarted from the persisted flash file, scenario phase2 (the same refusal after
# the reboot, the committed payout re-signed).
#
# Also records the budgets `make firmware-report` prints (stack high-water, instructions of the
# phase-1 payout) in $ONCESIGN_BUILD/mps2-an386/qemu-report.txt. Run by tests/e2e/run.sh in
# `make check` and by `make qemu-check`. Needs $ONCESIGN_BUILD. Every wait is bounded; the trap
# stops QEMU and every background job on any exit.
set -uo pipefail
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
ELF=$B/mps2-an386/oncesign.elf
CLI=$B/oncesign
SCENARIO=$B/oncesign-scenario
CTL=$B/mps2-an386/oncesign-qemu-ctl
REPORT=$B/mps2-an386/qemu-report.txt
QEMU=${QEMU:-qemu-system-arm}

for f in "$ELF" "$CLI" "$SCENARIO" "$CTL"; do
  [ -e "$f" ] || { echo "FAIL: $f not built (make firmware $CLI $SCENARIO $CTL)" >&2; exit 1; }
done
command -v "$QEMU" >/dev/null || { echo "FAIL: $QEMU not installed (make deps)" >&2; exit 1; }

dir=$(mktemp -d /tmp/oncesign-qemu.XXXXXX)   # short: Unix socket paths are limited to 107 bytes
qemu_pid=
bg_pids=()
cleanup() {
  for p in "${bg_pids[@]}" $qemu_pid; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "FAIL: $*" >&2
  for f in "$dir"/*.out "$dir"/*.err "$dir"/qemu*.log; do
    [ -s "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}
pass() { echo "ok - $*"; }

DEV=serial:$dir/u0.sock
ctl() { "$CTL" "$dir/u1.sock" "$1" 5000; }
cli() { timeout 60 "$CLI" --device "$DEV" --timeout 10000 "$@"; }

# start_qemu N: boots the image; QEMU's working directory holds the semihosting files
# (oncesign-flash.img, oncesign-rng-seed.bin). UART0 and UART1 are Unix sockets QEMU listens on.
start_qemu() {
  rm -f "$dir/u0.sock" "$dir/u1.sock"
  (cd "$dir" && exec "$QEMU" -M mps2-an386 -nographic -monitor none -icount shift=0 \
     -semihosting-config enable=on,target=native -kernel "$ELF" \
     -serial "unix:$dir/u0.sock,server=on,wait=off" -serial "unix:$dir/u1.sock,server=on,wait=off" \
     </dev/null >"$dir/qemu$1.log" 2>&1) &
  qemu_pid=$!
  for _ in $(seq 100); do [ -S "$dir/u0.sock" ] && [ -S "$dir/u1.sock" ] && break; sleep 0.05; done
  for _ in $(seq 50); do [ "$(ctl ping 2>/dev/null)" = pong ] && return 0; sleep 0.1; done
  fail "QEMU boot $1: the button UART does not answer ping"
}

stop_qemu() {
  kill "$qemu_pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$qemu_pid" 2>/dev/null
  wait "$qemu_pid" 2>/dev/null
  qemu_pid=
}

# approve_setup_screens PID: while PID (a `device init`) runs, approves each new mnemonic page and
# setup page (every field it sets, the last one the confirmation) once: 5 presses for 12 words.
approve_setup_screens() {
  local pid=$1 last= screen deadline=$((SECONDS + 90)) presses=0
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "device init did not finish within 90 s"
    screen=$(ctl screen 2>/dev/null) || { sleep 0.05; continue; }
    if [ "$screen" != "$last" ] && grep -Eq '^(Write down|Setup [0-9])' <<<"$screen"; then
      ctl approve >/dev/null || fail "approve not acknowledged"
      presses=$((presses + 1))
      last=$screen
    fi
    sleep 0.05
  done
  [ $presses -eq 5 ] || fail "expected 5 approvals for a 12-word setup, pressed $presses"
}

# ---- the seed of the test-only DRBG: fixed, so runs are reproducible (it is no secret: TEST ONLY)
printf 'oncesign qemu-check test-only seed, never for real keys\n' >"$dir/oncesign-rng-seed.bin"
start=$SECONDS

start_qemu 1
grep -q "TEST-ONLY RNG" "$dir/qemu1.log" || fail "the board did not announce its test-only RNG"
[ -s "$dir/oncesign-flash.img" ] || fail "no flash file created through semihosting"
pass "QEMU booted the image; blank 256 KiB flash file created; button UART answers"

cli --json device info >"$dir/info0.out" 2>"$dir/info0.err" || fail "device info failed"
grep -q '"initialized":false' "$dir/info0.out" || fail "blank device does not say initialized false"
grep -q '"test_only_rng":true' "$dir/info0.out" || fail "the device does not report its test-only RNG"
pass "device info over serial: blank, test_only_rng true"

cli device init --network test --words 12 >"$dir/init.out" 2>"$dir/init.err" &
init_pid=$!
bg_pids+=($init_pid)
approve_setup_screens $init_pid
wait $init_pid || fail "device init exited with $?"
pass "device init: 5 approvals over the button UART"

cli device xpub >"$dir/xpub.out" 2>"$dir/xpub.err" || fail "device xpub failed"
grep -Eq '^tpub[1-9A-HJ-NP-Za-km-z]{107}$' "$dir/xpub.out" || fail "xpub is not a tpub: $(cat "$dir/xpub.out")"
pass "device xpub: $(cut -c1-24 "$dir/xpub.out")..."

# Line noise and a half frame left in the device's UART0 receiver by a host that went away: the next
# host's leading 0x00 must resynchronise it (PROTOCOL.md section 9).
"$CTL" "$dir/u0.sock" "garbage $(printf '\x01\x45\xff') and a half frame" 200 >/dev/null 2>&1
cli --json device info >"$dir/info1.out" 2>"$dir/info1.err" || fail "device info after line noise failed"
grep -q '"initialized":true' "$dir/info1.out" || fail "device info after line noise: not initialised?"
ctl stats | awk '$1 == "serial_rx" { exit !($7 + $9 >= 1) }' || fail "the board did not count the damaged frame"
pass "line noise on UART0 is dropped; the next host is understood at once"

ctl stats-reset >/dev/null || fail "stats-reset"
timeout 120 "$SCENARIO" --device "$DEV" phase1 >"$dir/phase1.out" 2>"$dir/phase1.err" || fail "scenario phase1 exited with $?"
ctl stats >"$dir/stats1.txt" || fail "stats after phase 1"
pass "scenario phase1: payout signed for a fresh nonce and verified on the host; second tx refused"

stop_qemu
cp "$dir/oncesign-flash.img" "$dir/flash-after-phase1.img"
start_qemu 2
cmp -s "$dir/oncesign-flash.img" "$dir/flash-after-phase1.img" || true   # the BOOT entry may change it
grep -q "new blank flash" "$dir/qemu2.log" && fail "the reboot did not find the persisted flash file"
cli --json device info >"$dir/info2.out" 2>"$dir/info2.err" || fail "device info after the reboot failed"
grep -q '"initialized":true' "$dir/info2.out" || fail "the rebooted device forgot its setup"
pass "QEMU killed and restarted from the persisted flash file: still initialised"

timeout 120 "$SCENARIO" --device "$DEV" phase2 >"$dir/phase2.out" 2>"$dir/phase2.err" || fail "scenario phase2 exited with $?"
ctl stats >"$dir/stats2.txt" || fail "stats after phase 2"
pass "scenario phase2 after the reboot: refused again, committed payout re-signed"
ctl stats-reset >/dev/null || fail "stats-reset"
timeout 120 "$SCENARIO" --device "$DEV" phase3 >"$dir/phase3.out" 2>"$dir/phase3.err" || fail "scenario phase3 exited with $?"
ctl stats >"$dir/stats3.txt" || fail "stats after phase 3"
pass "scenario phase3: a payout for a second code (key caches warm) signed and verified on the host"
"$CTL" "$dir/u1.sock" bench 30000 >"$dir/prims.txt" || fail "bench of the crypto primitives"
grep -q failed "$dir/prims.txt" && fail "a crypto primitive failed on the board: $(cat "$dir/prims.txt")"
stop_qemu

# ---- measurements for make firmware-report
# The instruction count of a payout: from the first SIGN_BEGIN (0x10) in a stats file to the message
# before the next one, counting the signing messages (SIGN_* 0x10..0x15) and POLLs (0x06) between.
# Phase 1's is the first payout after setup (the key caches cold: account and chain nodes derived on
# the way); phase 3's the steady state of a device that has signed before (docs/QEMU.md).
awk -v report="$REPORT" '
  function payout(prefix, m,    i, first, total, top, top_type, msgs, ins) {
    for (i = 1; i <= n[m]; i++) if (cmd[m, i] == 131 && type[m, i] == 16) { first = i; break }
    if (!first) { print "no SIGN_BEGIN in the " m " records" > "/dev/stderr"; exit 1 }
    total = 0; top = 0; msgs = ""
    for (i = first; i <= n[m]; i++) {
      if (i > first && cmd[m, i] == 131 && type[m, i] == 16) break
      if (cmd[m, i] != 131 || !(type[m, i] == 6 || (type[m, i] >= 16 && type[m, i] <= 21))) continue
      ins = int(ticks[m, i] * per_tick + 0.5); total += ins
      msgs = msgs sprintf("%s0x%02x:%d", msgs == "" ? "" : ",", type[m, i], ins)
      if (ins > top) { top = ins; top_type = type[m, i] }
    }
    printf "%s_insns=%d\n%s_messages=\"%s\"\n%s_top=\"0x%02x (%d insns)\"\n", prefix, total, prefix, msgs, \
      prefix, top_type, top > report
  }
  FILENAME ~ /stats1/ && $1 == "calib_insns" { per_tick = $2 / $4 }
  $1 == "stack_used" && $2 > stack { stack = $2 }
  FILENAME ~ /stats[13]/ && $1 == "msg" { m = FILENAME ~ /stats1/ ? "phase1" : "phase3"; k = ++n[m]; cmd[m, k] = $3; type[m, k] = $4; ticks[m, k] = $5 }
  FILENAME ~ /prims/ && $1 == "prim" { np++; pname[np] = $2; pticks[np] = $3 }
  END {
    if (per_tick < 30 || per_tick > 50) { print "calibration off: " per_tick " instructions a tick" > "/dev/stderr"; exit 1 }
    printf "stack_used=%d\n", stack > report
    payout("payout", "phase3")
    payout("first_payout", "phase1")
    printf "insns_per_tick=%.3f\n", per_tick > report
    for (i = 1; i <= np; i++) printf "prim_%s=%d\n", pname[i], int(pticks[i] * per_tick + 0.5) > report
  }' "$dir/stats1.txt" "$dir/stats2.txt" "$dir/stats3.txt" "$dir/prims.txt" || fail "could not derive the measurements from the board's stats"
cat "$REPORT"
pass "measurements written to $REPORT ($((SECONDS - start)) s in all)"
