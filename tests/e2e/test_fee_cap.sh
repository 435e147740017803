#!/bin/bash
# Issue 9, defect 3: with default settings (oncesignd --fee-cap 100000 sat/kB, the signer's fee-rate
# cap 100000 sat/kB) a node fee estimate of 0.001 MONA/kB must not send any transaction to the
# operator: host and signer size a transaction with the same function (proto/tx_size.c), so the host
# pays at most the signer's cap. Above the cap the host pays the cap, and says so once in its log and
# in health (fee_capped), instead of queueing prompts.
STACK_TAG=feecap
. "$(dirname "$0")/lib/stack.bash"

start_stack 3
pass "signer initialised (default policy), hot wallet funded"

pay() { # pay AMOUNT: redeems a new code; returns when confirmed and fails on an operator prompt
  local dest code id s deadline=$((SECONDS + 20))
  dest=$(rpc getnewaddress | jq -r .)
  code=$(api POST /v1/codes "{\"amount\":$1}" | jq -r .code)
  id=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}" | jq -r .id)
  while [ $SECONDS -lt $deadline ]; do
    s=$(payout_status "$id")
    [ "$s" = awaiting_approval ] && fail "payout of $1 sat waits for the operator (fee estimate $(rpc estimatesmartfee '[6]'))"
    [ "$s" = confirmed ] && { mine 1; exactly_once "$dest" "$1"; return 0; }
    mine 1
    sleep 0.2
  done
  fail "payout of $1 sat stayed $s"
}

rpc testnode_setfeerate '[0.001]' >/dev/null
for a in 150000 2500000 33000; do pay $a; done
grep -q 'waits for the operator' "$dir/d.main.err" && fail "a transaction went to the operator"
[ "$(health | jq -r .fee_capped)" = false ] || fail "health says the fee is capped at the cap itself: $(health)"
pass "fee estimate 0.001 MONA/kB (= both caps): three payouts signed without the operator"

rpc testnode_setfeerate '[0.002]' >/dev/null
pay 120000
pay 130000
[ "$(grep -c 'fee estimate .* above' "$dir/d.main.err")" = 1 ] || fail "the capped estimate is not logged exactly once"
[ "$(health | jq -r .fee_capped)" = true ] || fail "health does not say the fee is capped: $(health)"
grep -q 'waits for the operator' "$dir/d.main.err" && fail "a transaction went to the operator"
pass "fee estimate 0.002 MONA/kB: paid at the cap without the operator, logged once, health fee_capped"

rpc testnode_setfeerate '[0.0005]' >/dev/null
pay 140000
[ "$(health | jq -r .fee_capped)" = false ] || fail "health still says capped: $(health)"
stop_daemon
pass "fee estimate back below the cap: health fee_capped false"
echo "test_fee_cap: all passed"
