#!/bin/bash
# Issue 9, defect 1: the signer's power cut at EVERY flash operation of a payout's signing session
# (SIGN commit and the log acknowledgement after it; the simulator's cut-at-write), with oncesignd
# driving it. After each cut the signer and the daemon are restarted: the daemon must start without a
# signer mismatch (the start-up replay of the signer's log settles the draft either way: committed
# ones are re-signed as the identical transaction, uncommitted ones signed anew) and the code must be
# paid exactly once, with no manual step. Runs in well under a minute.
STACK_TAG=powercut
. "$(dirname "$0")/lib/stack.bash"

start_node_and_signer
start_daemon fund
fund_wallet 3
pass "signer initialised, hot wallet funded"

# One clean payout tells how many flash operations a payout takes (SIGN commit + LOG_ACK).
dest=$(rpc getnewaddress | jq -r .)
before=$(ctl flash-ops)
code=$(api POST /v1/codes '{"amount":100000}' | jq -r .code)
id=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}" | jq -r .id)
wait_status "$id" confirmed 20 mine
ops=$(( $(ctl flash-ops) - before ))
exactly_once "$dest" 100000
[ "$ops" -ge 4 ] || fail "a payout took $ops flash operations"
pass "a payout takes $ops flash operations"

cuts=0
for n in $(seq 1 "$ops"); do
  amount=$((100000 + n * 1000))
  dest=$(rpc getnewaddress | jq -r .)
  ctl "cut-at-write $n" >/dev/null
  code=$(api POST /v1/codes "{\"amount\":$amount}" | jq -r .code)
  first=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}")
  id=$(jq -r .id <<<"$first")
  [ -n "$id" ] && [ "$id" != null ] || fail "cut $n: redeem: $first"
  for _ in $(seq 200); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.05; done
  wait "$sim_pid" 2>/dev/null; status=$?; sim_pid=
  [ "$status" -eq 99 ] || fail "cut $n: the simulator did not die at the cut (exit $status)"
  cuts=$((cuts + 1))
  stop_daemon
  start_sim
  start_daemon "cut$n"
  grep -qi 'mismatch' "$dir/d.cut$n.err" && fail "cut $n: the restarted daemon reports a mismatch"
  again=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}")
  [ "$(jq -r .id <<<"$again")" = "$id" ] || fail "cut $n: a second payout for one code ($first / $again)"
  wait_status "$id" confirmed 30 mine
  mine 1
  exactly_once "$dest" "$amount"
  [ "$(health | jq -r .signer)" = true ] || fail "cut $n: health: $(health)"
done
stop_daemon
[ "$cuts" -eq "$ops" ] || fail "only $cuts of $ops flash operations were cut"
pass "power cut at each of $ops flash operations: every code paid exactly once after restarting signer and daemon"
echo "test_power_cut_daemon: all passed"
