#!/bin/bash
# End-to-end, issue 10: a committed, unconfirmed payout whose anchor is spent elsewhere.
#  - The daemon's signer refuses to spend the anchor itself (the device knows its anchors): a PSBT
#    consolidating the anchor coin through oncesignd's own signer is refused (anchor-spent).
#  - The same seed restored on a second signer (a wallet "elsewhere", with its own empty nonce set)
#    spends the anchor while the payout's transaction is out of the mempool; it confirms.
#  - The daemon notices: the payout's transaction can never confirm. Only once the foreign spend is
#    confirmations_final deep does the payout move to awaiting_reanchor (logged, in /v1/health and
#    /metrics); it is never failed, and its destination is never paid by the old transaction.
#  - Without another coin the re-anchor waits (logged); once the wallet is funded the daemon
#    re-anchors it on the new coin: the signer asks the operator. A rejection is logged and
#    the payout waits again; asked again, the operator approves, the re-anchor is broadcast and
#    confirms: the destination is paid exactly once. A restart loads the moved leaf (the signer's
#    root), the log with the ledger cross-checks (tree_moves replayed), and the next payout is signed.
# Needs $ONCESIGN_BUILD. Runs in about 40 seconds.
STACK_TAG=anchor STACK_NODE_SEED=11 STACK_SIM_SEED=13 STACK_CONFIRMATIONS_FINAL=3
. "$(dirname "$0")/lib/stack.bash"
. "$(dirname "$0")/lib/elsewhere.bash"

start_stack 1   # one coin: it becomes the anchor, so the re-anchor waits for the next coin (funds)
dest=$(rpc getnewaddress | jq -r .)
p=$(api POST /v1/payouts "{\"address\":\"$dest\",\"amount\":50000000,\"idempotency_key\":\"anchor-1\"}" | jq -r .id)
[[ "$p" =~ ^[0-9]+$ ]] || fail "payout not created"
wait_status "$p" broadcast 20
txid=$(api GET "/v1/payouts/$p" | jq -r .txid)
# the anchor: input 0 of the payout's transaction, in display order
anchor=$(rpc getrawtransaction "[\"$txid\", true]" | jq -r '.vin[0] | "\(.txid):\(.vout)"')
[[ "$anchor" =~ ^[0-9a-f]{64}:[0-9]+$ ]] || fail "no anchor for $txid"
stop_daemon
pass "payout $p broadcast in $txid, anchor $anchor"

# ---- the daemon's own signer will not spend the anchor without the payout
cli_rpc create-a "sim:$dir/s.sock" "$dir/ledger.db" psbt create --to "$miner" --amount 150000000 \
  --nonce "$(printf '%064x' 7001)" --input "$anchor" --change-index 7 --out "$dir/a.psbt" ||
  fail "psbt create: $(cat "$dir/cli.create-a.err")"
cli sign-a "sim:$dir/s.sock" "$dir/ledger.db" sign "$dir/a.psbt" --finalize && fail "the signer signed a spend of the anchor"
grep -q 'anchor-spent' "$dir/cli.sign-a.out" "$dir/cli.sign-a.err" || fail "not refused as anchor-spent: $(cat "$dir/cli.sign-a.err")"
pass "the daemon's signer refuses to spend the anchor without its payout (anchor-spent)"

# ---- elsewhere: the same seed on a second signer spends the anchor, while the payout is not in the mempool
start_elsewhere 17
[ "$(rpc testnode_evict "[\"$txid\"]")" -ge 1 ] || fail "could not evict $txid"
spend_elsewhere "$anchor" 7002 7
pass "the anchor spent elsewhere (same seed, another signer) by $foreign, mined"

# ---- the daemon notices; the payout waits for depth, then for a re-anchor; never failed
DAEMON_ARGS=(--operator-wait-ms 6000)   # four screens of 400 ms each, pressed in turn
start_daemon notice
deadline=$((SECONDS + 30))
until grep -q 'tx.anchor_spent_elsewhere' "$dir/d.notice.err"; do
  [ $SECONDS -lt $deadline ] || fail "the spent anchor was not noticed"
  sleep 0.2
done
s=$(payout_status "$p")
[ "$s" = broadcast ] || fail "payout $p is '$s' before the foreign spend is 3 deep (expected broadcast: a reorg could still confirm it)"
pass "noticed at 1 confirmation; the payout stays broadcast until the spend is 3 deep"
wait_status "$p" awaiting_reanchor 30 mine
grep -q 'payout.awaiting_reanchor' "$dir/d.notice.err" || fail "no payout.awaiting_reanchor log line"
[ "$(health | jq -r .payouts_awaiting_reanchor)" = 1 ] || fail "/v1/health: $(health)"
# still owed: counted as pending, not dropped from the count
[ "$(health | jq -r .payouts_pending)" -ge 1 ] || fail "/v1/health: a payout awaiting its re-anchor is not pending: $(health)"
metrics=$(api GET /metrics)   # (not piped into grep -q: pipefail would see curl's SIGPIPE)
grep -q '^oncesign_payouts{status="awaiting_reanchor"} 1$' <<<"$metrics" || fail "/metrics: no awaiting_reanchor gauge"
grep -q '^oncesign_anchors_lost_total 1$' <<<"$metrics" || fail "/metrics: no oncesign_anchors_lost_total 1"
api GET "/v1/payouts/$p" | jq -r .error | grep -q 'anchor was spent' || fail "payout error: $(api GET "/v1/payouts/$p")"
wait_line "$dir/d.notice.err" 'payout.reanchor_underfunded' $d_pid || fail "no payout.reanchor_underfunded log line (one coin, and it is the spent anchor)"
r=$(rpc testnode_received "[[\"$dest\"], 0]")
[ "$(jq -r ".\"$dest\".count // 0" <<<"$r")" = 0 ] || fail "$dest was paid: $r"
pass "payout $p awaiting_reanchor (log, health, metrics), never failed, destination unpaid"

# ---- the re-anchor: the operator rejects it first (logged; the payout waits again), then approves
press_until() { # press_until BUTTON SECONDS WHAT COMMAND...: presses BUTTON on the signer until COMMAND succeeds
  local button=$1 deadline=$((SECONDS + $2)) what=$3; shift 3
  while [ $SECONDS -lt $deadline ]; do
    "$@" && return 0
    ctl "$button" >/dev/null 2>&1
    sleep 0.1
  done
  fail "$what"
}
recv=$(api GET /v1/wallet | jq -r .receive_address)
rpc sendtoaddress "[\"$recv\", 2]" >/dev/null
mine 1
press_until reject 30 "the re-anchor was not refused" grep -q 'payout.reanchor_refused' "$dir/d.notice.err"
s=$(payout_status "$p")
[ "$s" = awaiting_reanchor ] || fail "after the operator's rejection payout $p is '$s' (expected awaiting_reanchor)"
pass "the operator rejected the re-anchor on the signer: logged, payout $p awaits a re-anchor again"
is_out() { s=$(payout_status "$p"); [ "$s" = signed ] || [ "$s" = broadcast ]; }
press_until approve 30 "the re-anchor was not signed (payout $p: $(payout_status "$p"))" is_out
wait_status "$p" broadcast 20
wait_status "$p" confirmed 20 mine
exactly_once "$dest" 50000000
pass "approved: payout $p re-anchored, broadcast, confirmed; $dest paid exactly once"

# ---- the moved leaf persists: restart, cross-check the log with the ledger, sign the next payout
DAEMON_ARGS=()
restart_cross_checked
dest2=$(rpc getnewaddress | jq -r .)
p2=$(api POST /v1/payouts "{\"address\":\"$dest2\",\"amount\":20000000,\"idempotency_key\":\"anchor-2\"}" | jq -r .id)
wait_status "$p2" confirmed 30 mine
exactly_once "$dest2" 20000000
stop_daemon
pass "restart: tree loaded with the moved leaf, log cross-checked with the ledger, the next payout paid once"
