#!/bin/bash
# End-to-end: a payout transaction whose NON-anchor input is spent elsewhere heals.
#  - A payout needs two coins: input 0 is its anchor, input 1 an ordinary coin of the wallet.
#  - The same seed restored on a second signer (a wallet "elsewhere") spends input 1 while the payout's
#    transaction is out of the mempool; the spend is mined. The transaction can never confirm.
#  - The daemon notices (tx.input_spent_elsewhere: the transaction, the coin, the spender's txid), and
#    the payout is never failed: its nonce is committed, so a failed payout could never be paid again.
#  - Once the foreign spend is confirmations_final deep, the spent coin leaves the ledger and the worker
#    builds a replacement on the SAME anchor with other coins. The wallet holds only the anchor now:
#    the payout waits (logged once, in /v1/health), and is paid once a coin arrives: the replacement
#    spends the anchor, is signed without the operator (a REPLACE of the committed nonce), confirms;
#    the destination is paid exactly once; /metrics counts the lost input.
#  - A restart cross-checks the signer's log with the ledger (log verify --db) and the next payout is paid.
# Needs $ONCESIGN_BUILD. Runs in about 10 seconds.
STACK_TAG=inspent STACK_NODE_SEED=12 STACK_SIM_SEED=14 STACK_CONFIRMATIONS_FINAL=3
. "$(dirname "$0")/lib/stack.bash"
. "$(dirname "$0")/lib/elsewhere.bash"

start_stack 2   # two coins of 2 MONA: a payout of 3 MONA spends both
dest=$(rpc getnewaddress | jq -r .)
p=$(api POST /v1/payouts "{\"address\":\"$dest\",\"amount\":300000000,\"idempotency_key\":\"inspent-1\"}" | jq -r .id)
[[ "$p" =~ ^[0-9]+$ ]] || fail "payout not created"
wait_status "$p" broadcast 20
txid=$(api GET "/v1/payouts/$p" | jq -r .txid)
vin=$(rpc getrawtransaction "[\"$txid\", true]" | jq -c '[.vin[] | "\(.txid):\(.vout)"]')
[ "$(jq length <<<"$vin")" = 2 ] || fail "expected two inputs in $txid: $vin"
anchor=$(jq -r '.[0]' <<<"$vin")
other=$(jq -r '.[1]' <<<"$vin")
stop_daemon
pass "payout $p broadcast in $txid: anchor $anchor, other input $other"

# ---- elsewhere: the same seed on a second signer spends input 1, while the payout is not in the mempool
start_elsewhere 18
[ "$(rpc testnode_evict "[\"$txid\"]")" -ge 1 ] || fail "could not evict $txid"
spend_elsewhere "$other" 7102 9
pass "input 1 spent elsewhere (same seed, another signer) by $foreign, mined"

# ---- the daemon notices; the payout waits for depth; it is never failed
start_daemon notice
deadline=$((SECONDS + 30))
until grep -q 'tx.input_spent_elsewhere' "$dir/d.notice.err"; do
  [ $SECONDS -lt $deadline ] || fail "the spent input was not noticed (payout $p: $(payout_status "$p"))"
  sleep 0.2
done
line=$(grep 'tx.input_spent_elsewhere' "$dir/d.notice.err" | head -n 1)
grep -q "$foreign" <<<"$line" || fail "tx.input_spent_elsewhere does not name the spender $foreign: $line"
grep -q "${other%%:*}" <<<"$line" || fail "tx.input_spent_elsewhere does not name the coin $other: $line"
s=$(payout_status "$p")
[ "$s" = broadcast ] || fail "payout $p is '$s' before the foreign spend is 3 deep (expected broadcast)"
pass "noticed at 1 confirmation (coin and spender logged); the payout stays broadcast"

# ---- deep: the coin leaves the ledger; only the anchor is left, so the replacement waits for funds
deadline=$((SECONDS + 30))
until grep -q 'payout.replacement_underfunded' "$dir/d.notice.err"; do
  [ $SECONDS -lt $deadline ] || fail "no payout.replacement_underfunded (payout $p: $(payout_status "$p"))"
  s=$(payout_status "$p")
  [ "$s" = failed ] && fail "payout $p failed: $(api GET "/v1/payouts/$p")"
  mine 1
  sleep 0.3
done
mine 2
sleep 1
s=$(payout_status "$p")
[ "$s" = failed ] && fail "payout $p failed: $(api GET "/v1/payouts/$p")"
[ "$(health | jq -r .payouts_awaiting_replacement)" = 1 ] || fail "/v1/health: $(health)"
[ "$(health | jq -r .payouts_pending)" -ge 1 ] || fail "/v1/health: the payout is not pending: $(health)"
[ "$(grep -c 'payout.replacement_underfunded' "$dir/d.notice.err")" = 1 ] ||
  fail "payout.replacement_underfunded logged more than once: $(grep -c 'payout.replacement_underfunded' "$dir/d.notice.err")"
metrics=$(api GET /metrics)   # (not piped into grep -q: pipefail would see curl's SIGPIPE)
grep -q '^oncesign_inputs_spent_elsewhere_total 1$' <<<"$metrics" || fail "/metrics: no oncesign_inputs_spent_elsewhere_total 1"
r=$(rpc testnode_received "[[\"$dest\"], 0]")
[ "$(jq -r ".\"$dest\".count // 0" <<<"$r")" = 0 ] || fail "$dest was paid: $r"
pass "deep: the coin left the ledger; payout $p waits for funds (logged once, health, metrics), never failed"

# ---- a coin arrives: the replacement on the same anchor pays, once
recv=$(api GET /v1/wallet | jq -r .receive_address)
rpc sendtoaddress "[\"$recv\", 2]" >/dev/null
mine 1
wait_status "$p" confirmed 40 mine
txid2=$(api GET "/v1/payouts/$p" | jq -r .txid)
[ "$txid2" != "$txid" ] || fail "payout $p confirmed in the original $txid, which cannot confirm"
anchor2=$(rpc getrawtransaction "[\"$txid2\", true]" | jq -r '.vin[0] | "\(.txid):\(.vout)"')
[ "$anchor2" = "$anchor" ] || fail "the replacement $txid2 does not spend the anchor $anchor as input 0 ($anchor2)"
rpc getrawtransaction "[\"$txid2\", true]" | jq -r '.vin[] | "\(.txid):\(.vout)"' | grep -qx "$other" &&
  fail "the replacement spends the lost coin $other"
grep -q 'tx.input_replacement' "$dir/d.notice.err" || fail "no tx.input_replacement log line"
exactly_once "$dest" 300000000
pass "replacement $txid2 on the anchor $anchor confirmed; $dest paid exactly once"

# ---- restart, cross-check the log with the ledger, sign the next payout
restart_cross_checked
dest2=$(rpc getnewaddress | jq -r .)
p2=$(api POST /v1/payouts "{\"address\":\"$dest2\",\"amount\":20000000,\"idempotency_key\":\"inspent-2\"}" | jq -r .id)
wait_status "$p2" confirmed 30 mine
exactly_once "$dest2" 20000000
exactly_once "$dest" 300000000
[ "$(payout_status "$p")" = confirmed ] || fail "payout $p is $(payout_status "$p") after the restart"
stop_daemon
pass "restart: log cross-checked with the ledger (log verify --db), the next payout paid once"
