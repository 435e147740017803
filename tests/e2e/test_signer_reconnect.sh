#!/bin/bash
# Issue 9, defect 2: the signer goes away and comes back (a replug, a reboot: here the simulator
# killed and restarted on its flash). Idle: health says signer:false within seconds of it going and
# true again once it is back. Under load: codes redeemed while the signer is restarted are all paid
# exactly once, the daemon reconnecting by itself (logged) with no restart of its own.
STACK_TAG=reconnect
. "$(dirname "$0")/lib/stack.bash"

start_stack 3
pass "signer initialised, hot wallet funded"

signer_health_is() { # signer_health_is true|false SECONDS
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(health | jq -r .signer)" = "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# ---- idle: the signer goes away and comes back
kill -KILL "$sim_pid"; wait "$sim_pid" 2>/dev/null; sim_pid=
signer_health_is false 5 || fail "idle, signer gone: health still says $(health)"
pass "idle daemon, signer gone: health says signer:false"
t0=$SECONDS
start_sim
signer_health_is true 10 || fail "signer back: health still says $(health)"
grep -q 'reconnected' "$dir/d.main.err" || fail "the reconnection is not logged"
pass "signer back: the daemon reconnected by itself in $((SECONDS - t0)) s and re-ran the start-up check"

# ---- under load: redeems keep coming while the signer restarts
n=16
declare -a ids dests amounts
for i in $(seq 1 $n); do
  amounts[$i]=$((200000 + i * 1000))
  dests[$i]=$(rpc getnewaddress | jq -r .)
  code=$(api POST /v1/codes "{\"amount\":${amounts[$i]}}" | jq -r .code)
  ids[$i]=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"${dests[$i]}\"}" | jq -r .id)
  [ -n "${ids[$i]}" ] && [ "${ids[$i]}" != null ] || fail "redeem $i failed"
  if [ $i -eq 5 ]; then kill -KILL "$sim_pid"; wait "$sim_pid" 2>/dev/null; sim_pid=; fi
  if [ $i -eq 10 ]; then start_sim; fi
  sleep 0.1
done
for i in $(seq 1 $n); do wait_status "${ids[$i]}" confirmed 30 mine; done
mine 1
for i in $(seq 1 $n); do exactly_once "${dests[$i]}" "${amounts[$i]}"; done
[ "$(grep -c 'reconnected' "$dir/d.main.err")" -ge 2 ] || fail "the second reconnection is not logged"
grep -qi 'mismatch' "$dir/d.main.err" && fail "a mismatch was reported"
stop_daemon
pass "$n codes redeemed across a signer restart: each paid exactly once, the daemon never restarted"
echo "test_signer_reconnect: all passed"
