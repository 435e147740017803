#!/bin/bash
# A fee bump still waiting for the operator's press when the transaction it replaces confirms after all
# (docs/DESIGN.md §4, "A family, and a draft it outlives"). A withdrawal above the signer's per-payout
# cap is approved on the device; the node refuses it for its fee, so the worker drafts a fee bump, which
# the signer asks the operator about again, and no one presses. A peer relays the original, which is
# mined. The payout is confirmed through the original, paid once; the bump is settled by the reconciler:
# `tx.superseded` logged once, the bump REPLACED (not pending), no coin left reserved, and the device is
# not asked about it again. Before the fix the bump stayed AWAITING for ever, and the worker put it before
# the operator again every operator-wait-ms.
# Needs $ONCESIGN_BUILD.
STACK_TAG=family
. "$(dirname "$0")/lib/stack.bash"

DAEMON_ARGS=(--operator-wait-ms 1500 --max-payout 2000000000)   # above the signer's 10 MONA cap
start_stack 8
q() { sqlite3 "$dir/ledger.db" "$1"; }

rpc testnode_setfault '[{"mode":"error","code":-26,"message":"min relay fee not met, 50 < 110","methods":["sendrawtransaction"],"count":1}]' >/dev/null
dest=$(rpc getnewaddress | jq -r .)
id=$(api POST /v1/payouts "{\"address\":\"$dest\",\"amount\":1100000000,\"idempotency_key\":\"family-1\"}" | jq -r .id)
[ -n "$id" ] && [ "$id" != null ] || fail "withdrawal not created"
wait_status "$id" awaiting_approval 30
# the operator approves the original (every screen), and only the original
deadline=$((SECONDS + 30))
until [ "$(q "SELECT count(*) FROM txs WHERE replaces IS NULL AND raw IS NOT NULL")" = 1 ]; do
  [ $SECONDS -lt $deadline ] || fail "the original was not signed (payout $id: $(payout_status "$id"))"
  ctl approve >/dev/null 2>&1
  sleep 0.1
done
orig=$(q "SELECT id FROM txs WHERE replaces IS NULL AND raw IS NOT NULL")
deadline=$((SECONDS + 30))
until [ "$(q "SELECT count(*) FROM txs WHERE replaces = $orig AND state = 7")" = 1 ]; do
  [ $SECONDS -lt $deadline ] || fail "no fee bump waiting for the operator: $(q "SELECT id, state, replaces FROM txs")"
  sleep 0.1
done
bump=$(q "SELECT id FROM txs WHERE replaces = $orig AND state = 7")
pass "original $orig refused for its fee; its fee bump $bump waits for the operator's press"

# a peer relays the original; it is mined
raw=$(q "SELECT lower(hex(raw)) FROM txs WHERE id = $orig")
sent=$(rpc sendrawtransaction "[\"$raw\"]" | jq -r .)
[[ "$sent" =~ ^[0-9a-f]{64}$ ]] || fail "the original was refused: $sent"
wait_status "$id" confirmed 30 mine
exactly_once "$dest" 1100000000
deadline=$((SECONDS + 30))
until [ "$(q "SELECT state FROM txs WHERE id = $bump")" = 6 ]; do
  [ $SECONDS -lt $deadline ] || fail "bump $bump still state $(q "SELECT state FROM txs WHERE id = $bump") (expected 6, replaced)"
  mine 1
  sleep 0.2
done
pass "payout $id confirmed through the original, paid once; bump $bump replaced"

# settled once, nothing left pending or reserved, the device not asked again
sleep 4   # more than two operator-wait-ms and many reconcile passes
mine 1
sleep 1
n=$(grep -c "tx.superseded tx=$bump sibling=$orig" "$dir/d.main.err")
[ "$n" = 1 ] || fail "tx.superseded logged $n times: $(grep tx.superseded "$dir/d.main.err")"
[ "$(q "SELECT count(*) FROM txs WHERE state IN (1, 7)")" = 0 ] || fail "pending: $(q "SELECT id, state FROM txs")"
[ "$(q "SELECT quorum_wait FROM txs WHERE id = $bump")" = 0 ] || fail "bump still held"
[ "$(q "SELECT count(*) FROM coins WHERE state = 1")" = 0 ] || fail "coins left reserved: $(q "SELECT id, reserved_by FROM coins WHERE state = 1")"
last_ask=$(grep -n "tx.awaiting_operator tx=$bump" "$dir/d.main.err" | tail -1 | cut -d: -f1)
settled=$(grep -n "tx.superseded tx=$bump" "$dir/d.main.err" | cut -d: -f1)
[ -z "$last_ask" ] || [ "$last_ask" -lt "$settled" ] || fail "the operator was asked about bump $bump after it was settled"
[ "$(payout_status "$id")" = confirmed ] || fail "payout $id: $(payout_status "$id")"
pass "tx.superseded logged once; nothing pending, no coin reserved, the operator not asked again"
