#!/bin/bash
# I2 on the real simulator process: a payout with the power cut (the process dies mid-write, the
# flash file keeps what a real flash would) at each flash operation in turn. After every restart
# the signer holds the old state or the new one; if the host got a signature, the new one; and the
# payout then completes exactly once while a second, non-conflicting transaction stays refused.
# Twice: with free slots in the newest state record's sector (the commits append), and with that
# sector full (the first commit of the round erases the other one; firmware/storage.h).
set -uo pipefail
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
SIM=$B/oncesign-sim CLI=$B/oncesign SCEN=$B/oncesign-scenario
for x in "$SIM" "$CLI" "$SCEN"; do [ -x "$x" ] || { echo "FAIL: $x not built" >&2; exit 1; }; done
dir=$(mktemp -d /tmp/oncesign-cut.XXXXXX)
sim_pid=
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 5 "$dir/sim.log" >&2 2>/dev/null; exit 1; }
export ONCESIGN_DEVICE=sim:$dir/s.sock

start_sim() {   # start_sim FLASH [extra args]
  local flash=$1; shift
  rm -f "$dir/s.sock" "$dir/c.sock"
  "$SIM" --socket "$dir/s.sock" --flash "$flash" --control "$dir/c.sock" --no-tty "$@" </dev/null \
    2>>"$dir/sim.log" &
  sim_pid=$!
  for _ in $(seq 200); do
    [ -S "$dir/c.sock" ] && [ "$("$SIM" --control "$dir/c.sock" --send ping 2>/dev/null)" = pong ] && return 0
    sleep 0.05
  done
  fail "simulator did not start"
}
stop_sim() { [ -n "$sim_pid" ] && { kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null; }; sim_pid=; }
root() { timeout 20 "$CLI" --json device info | sed -n 's/.*"nonce_root":"\([0-9a-f]*\)".*/\1/p'; }

# A set-up signer, its flash saved as the starting point of every round.
start_sim "$dir/base.bin"
timeout 30 "$CLI" device init --network regtest --restore \
  "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" \
  >"$dir/init.out" 2>&1 &
init_pid=$!
for _ in $(seq 100); do "$SIM" --control "$dir/c.sock" --send approve >/dev/null 2>&1; kill -0 $init_pid 2>/dev/null || break; sleep 0.1; done
wait $init_pid || fail "device init: $(cat "$dir/init.out")"
stop_sim

# The state records of a flash file: "seq sector slot" of every slot starting with the magic
# (4 KiB sectors of the simulator, STORAGE_SLOT_BYTES = 768: 5 slots).
records() {
  local sector slot off
  for sector in 0 1; do for slot in 0 1 2 3 4; do
    off=$((sector * 4096 + slot * 768))
    [ "$(od -An -tx1 -j $off -N4 "$1" | tr -d ' \n')" = 4f535354 ] || continue
    echo "$(od -An -tu8 -j $((off + 6)) -N8 "$1" | tr -d ' ') $sector $slot"
  done; done
}

sweep() {   # sweep BASE LABEL
local base=$1 label=$2
cp "$base" "$dir/measure.bin"
start_sim "$dir/measure.bin"
old_root=$(root)
ops_before=$("$SIM" --control "$dir/c.sock" --send flash-ops)
"$SCEN" --device "$ONCESIGN_DEVICE" phase1 >"$dir/clean.out" 2>&1 || fail "clean payout: $(cat "$dir/clean.out")"
ops=$(( $("$SIM" --control "$dir/c.sock" --send flash-ops) - ops_before ))
new_root=$(root)
stop_sim
[ "$ops" -ge 2 ] || fail "a payout took $ops flash operations"
[ "$old_root" != "$new_root" ] || fail "the payout did not change the root"
echo "ok - $label: a payout takes $ops flash operations (sign, then the refused second transaction)"

cuts=0 olds=0 news=0
for n in $(seq 1 "$ops"); do
  cp "$base" "$dir/round.bin"
  start_sim "$dir/round.bin"
  "$SIM" --control "$dir/c.sock" --send "cut-at-write $n" >/dev/null
  "$SCEN" --device "$ONCESIGN_DEVICE" phase1 >"$dir/p1.out" 2>&1
  signed=$(grep -c "payout signed" "$dir/p1.out")
  # the simulator dies at the cut (exit 99); if the cut comes after everything, stop it
  for _ in $(seq 50); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.05; done
  kill "$sim_pid" 2>/dev/null
  wait "$sim_pid" 2>/dev/null; status=$?; sim_pid=
  [ "$status" -eq 99 ] && cuts=$((cuts + 1))
  start_sim "$dir/round.bin"
  r=$(root)
  if [ "$r" = "$old_root" ]; then
    [ "$signed" -eq 0 ] || fail "cut at op $n: a signature left the device but the root is the old one"
    olds=$((olds + 1))
    "$SCEN" --device "$ONCESIGN_DEVICE" phase1 >"$dir/re.out" 2>&1 || fail "cut at op $n: payout after restart: $(cat "$dir/re.out")"
  elif [ "$r" = "$new_root" ]; then
    news=$((news + 1))
    "$SCEN" --device "$ONCESIGN_DEVICE" phase2 >"$dir/re.out" 2>&1 || fail "cut at op $n: committed payout after restart: $(cat "$dir/re.out")"
  else
    fail "cut at op $n: the root is neither the old nor the new one ($r)"
  fi
  stop_sim
done
echo "ok - $label: power cut at each of $ops flash operations ($cuts cuts): old state $olds times, new state $news times, never a mix"
[ "$cuts" -ge 1 ] && [ "$olds" -ge 1 ] && [ "$news" -ge 1 ] || fail "$label: expected cuts leaving both old and new states"
}

sweep "$dir/base.bin" "free slots"

# Boot until the newest record is in its sector's last slot but one while the other sector holds
# records: the round's boot takes the last slot, so the payout's commit must erase the other sector.
cp "$dir/base.bin" "$dir/full.bin"
for _ in $(seq 30); do
  all=$(records "$dir/full.bin")
  newest=$(echo "$all" | sort -n | tail -n 1)
  other=$(( 1 - $(echo "$newest" | cut -d' ' -f2) ))
  [ "$(echo "$newest" | cut -d' ' -f3)" = 3 ] && [ "$(echo "$all" | grep -c " $other [0-9]*$")" -gt 0 ] && break
  start_sim "$dir/full.bin"; stop_sim
done
[ "$(echo "$newest" | cut -d' ' -f3)" = 3 ] || fail "no boot filled a state sector: $(records "$dir/full.bin" | tr '\n' ,)"
sweep "$dir/full.bin" "full sector"
