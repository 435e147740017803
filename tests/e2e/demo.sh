#!/bin/bash
# make demo — what oncesign does today, on the embedded defaults: the simulated signer
# (build/oncesign-sim) set up through the operator CLI, a gift-code payout signed, the Monappy
# mistake (paying the same code again from another coin) refused, the signer power-cycled, and the
# refusal holding after the reboot from its flash.
set -uo pipefail
B=${ONCESIGN_BUILD:-$(pwd)/build}
SIM=$B/oncesign-sim CLI=$B/oncesign SCEN=$B/oncesign-scenario
for x in "$SIM" "$CLI" "$SCEN"; do [ -x "$x" ] || { echo "demo: $x is not built (run make)" >&2; exit 1; }; done

dir=$(mktemp -d /tmp/oncesign-demo.XXXXXX)
sim_pid=
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
ctl() { "$SIM" --control "$dir/c.sock" --send "$1"; }

start_sim() {
  "$SIM" --socket "$dir/s.sock" --flash "$dir/flash.bin" --control "$dir/c.sock" --no-tty </dev/null \
    2>>"$dir/sim.log" &
  sim_pid=$!
  for _ in $(seq 200); do [ -S "$dir/c.sock" ] && [ "$(ctl ping 2>/dev/null)" = pong ] && return 0; sleep 0.05; done
  echo "demo: the simulator did not start" >&2; cat "$dir/sim.log" >&2; exit 1
}
export ONCESIGN_DEVICE=sim:$dir/s.sock

say "starting the simulated signer (flash in $dir/flash.bin)"
start_sim
"$CLI" device info

say "setting the signer up: the words appear only on the device; the operator approves each page"
"$CLI" device init --network regtest --words 12 &
init_pid=$!
deadline=$((SECONDS + 60)) last=
while kill -0 $init_pid 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || { echo "demo: init did not finish" >&2; exit 1; }
  screen=$(ctl screen 2>/dev/null) || { sleep 0.1; continue; }
  if [ "$screen" != "$last" ] && grep -Eq '^(Write down|Words written down)' <<<"$screen"; then
    printf '   device screen:\n%s\n' "$(sed -e '/^\.$/d' -e 's/^/   | /' <<<"$screen")"
    last=$screen
    ctl approve >/dev/null
  fi
  sleep 0.1
done
wait $init_pid || { echo "demo: device init failed" >&2; exit 1; }
"$CLI" device xpub

say "a gift code is redeemed: the signer signs its payout, then the host 'forgets' and tries again"
"$SCEN" --device "$ONCESIGN_DEVICE" phase1 || exit 1

say "power-cycling the signer"
kill "$sim_pid"; wait "$sim_pid" 2>/dev/null; sim_pid=
start_sim
"$SCEN" --device "$ONCESIGN_DEVICE" phase2 || exit 1

say "the signer's audit state"
"$CLI" device info
echo
echo "demo: one code, one payout: the second, non-conflicting transaction was refused before and after a reboot"
