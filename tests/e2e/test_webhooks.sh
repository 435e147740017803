#!/bin/bash
# Webhooks (issue 11, docs/API.md "Webhooks"): oncesignd POSTs payout.broadcast, payout.confirmed and
# payout.failed to a real HTTP receiver (tests/e2e/webhook_receiver.c) that refuses the first
# deliveries and then takes them. Every event arrives, each signature verifies with openssl (not the
# daemon's code) over "<t>.<body>", event ids are unique and match their header; failures are logged
# and counted in /metrics, the outbox drains to 0 in /metrics and health. A payout cancelled by the
# CLI (another process) is reported too. Then the receiver is down, a payout is broadcast, the daemon
# is SIGKILLed before it could deliver: the event is in the ledger's outbox, and after the restart
# it arrives, and so does the confirmation.
STACK_TAG=webhooks
. "$(dirname "$0")/lib/stack.bash"
command -v openssl >/dev/null || fail "needs openssl"
R=$B/oncesign-webhook_receiver
[ -x "$R" ] || fail "$R not built"

# ---- the receiver: 3 refusals first, and refusing while $dir/down exists
"$R" --out "$dir/received" --fail-first 3 --fail-while "$dir/down" >"$dir/r.out" 2>"$dir/r.log" &
r_pid=$!
wait_line "$dir/r.out" 'listening on' $r_pid || fail "receiver did not start"
r_port=$(sed -n 's/^receiver: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/r.out")
trap 'kill $r_pid 2>/dev/null; cleanup' EXIT
secret=webhook-e2e-secret-0123456789
(umask 077; echo "$secret" >"$dir/wh.secret")
DAEMON_ARGS=(--webhook-url "http://127.0.0.1:$r_port/hooks/oncesign" --webhook-secret-file "$dir/wh.secret"
             --webhook-retry-ms 100 --webhook-retry-max-ms 400)

start_stack 3
dest=$(rpc getnewaddress | jq -r .)
a=$(api POST /v1/payouts "{\"address\":\"$dest\",\"amount\":1500000,\"idempotency_key\":\"wh-a\"}" | jq -r .id)
code=$(api POST /v1/codes '{"amount":2500000}' | jq -r .code)
dest_b=$(rpc getnewaddress | jq -r .)
b=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"$dest_b\"}" | jq -r .id)
wait_status "$a" confirmed 60 mine
wait_status "$b" confirmed 60 mine
# a payout the wallet cannot cover waits; the operator cancels it with the CLI (another process)
big=$(api POST /v1/payouts "{\"address\":\"$dest\",\"amount\":900000000,\"idempotency_key\":\"wh-big\"}" | jq -r .id)
for _ in $(seq 100); do [ "$(health | jq -r .payouts_waiting_for_funds)" -ge 1 ] && break; sleep 0.1; done
"$B/oncesign" payouts cancel "$big" --db "$dir/ledger.db" >"$dir/cancel.out" 2>&1 || fail "cancel: $(cat "$dir/cancel.out")"

# received_types ID: the event types received for payout ID, sorted, one line
received_types() { cut -f3 "$dir/received" | jq -r "select(.payout.id == $1) | .type" | sort | tr '\n' ' '; }
want_events() { # want_events SECONDS: waits until every expected event arrived
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(received_types "$a")" = "payout.broadcast payout.confirmed " ] &&
      [ "$(received_types "$b")" = "payout.broadcast payout.confirmed " ] &&
      [ "$(received_types "$big")" = "payout.failed " ] && return 0
    sleep 0.2
  done
  fail "events missing: a: $(received_types "$a") b: $(received_types "$b") big: $(received_types "$big")"
}
want_events 30

# verify LINE: the signature of one received line, with openssl; prints the body's event id
verify() {
  local sig id body t v1 mac
  IFS=$'\t' read -r sig id body <<<"$1"
  [[ $sig =~ ^t=([0-9]+),v1=([0-9a-f]{64})$ ]] || fail "signature header '$sig'"
  t=${BASH_REMATCH[1]} v1=${BASH_REMATCH[2]}
  mac=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
  [ "$mac" = "$v1" ] || fail "signature does not verify: $1"
  # the timestamp is the attempt's: within a minute of now
  [ $(( $(date +%s) - t )) -le 60 ] || fail "signature timestamp $t is old"
  [ "$(jq -r .id <<<"$body")" = "$id" ] || fail "event id header $id differs from the body's"
  echo "$id"
}
checked() { # checks every line received so far: all verify, ids unique
  local n=0 ids
  ids=$(while IFS= read -r line; do verify "$line"; done <"$dir/received") || exit 1
  n=$(wc -l <"$dir/received")
  [ "$(sort -u <<<"$ids" | wc -l)" = "$n" ] || fail "an event id was delivered twice: $ids"
  echo "$n"
}
n=$(checked) || exit 1
jq -se '[.[] | select(.type == "payout.confirmed") | .payout.txid | test("^[0-9a-f]{64}$")] | length > 0 and all' <(cut -f3 "$dir/received") >/dev/null ||
  fail "a confirmed event without its txid"
cut -f3 "$dir/received" | jq -se "[.[] | select(.payout.id == $b and .type == \"payout.confirmed\") | .payout.code_id != null and .payout.amount == 2500000 and .payout.address == \"$dest_b\" and .payout.confirmations >= 1] == [true]" >/dev/null ||
  fail "payout b's confirmed event: $(grep "\"id\":$b," "$dir/received")"
cut -f3 "$dir/received" | jq -se "[.[] | select(.payout.id == $big) | .payout.error != null and .payout.idempotency_key == \"wh-big\"] == [true]" >/dev/null ||
  fail "the cancelled payout's event: $(cut -f3 "$dir/received" | grep "\"id\":$big,")"
[ "$(cut -f3 "$dir/received" | jq -sr "[.[] | select(.payout.id == $a and .type == \"payout.confirmed\") | .payout.txid][0]")" = "$(api GET "/v1/payouts/$a" | jq -r .txid)" ] ||
  fail "payout a's event names another txid than the API (display order)"
grep -q 'webhook.delivery_failed' "$dir"/d.main.err || fail "the refused deliveries were not logged"
metrics=$(curl -s "http://127.0.0.1:$api_port/metrics")
failed=$(sed -n 's/^oncesign_webhook_deliveries_total{result="failed"} //p' <<<"$metrics")
delivered=$(sed -n 's/^oncesign_webhook_deliveries_total{result="delivered"} //p' <<<"$metrics")
[ "$failed" -ge 3 ] && [ "$delivered" = "$n" ] || fail "metrics: failed $failed delivered $delivered (received $n)"
for _ in $(seq 50); do [ "$(health | jq -r .webhook_outbox)" = 0 ] && break; sleep 0.1; done
[ "$(health | jq -r .webhook_outbox)" = 0 ] && grep -q '^oncesign_webhook_outbox_depth 0$' <(curl -s "http://127.0.0.1:$api_port/metrics") ||
  fail "the outbox did not drain: $(health)"
pass "$n events (broadcast, confirmed, failed by the CLI's cancel) delivered after $failed refusals, each signature verified by openssl, ids unique"

# ---- the receiver is down; a payout is broadcast; the daemon is killed before it could deliver
touch "$dir/down"
c=$(api POST /v1/payouts "{\"address\":\"$dest\",\"amount\":1700000,\"idempotency_key\":\"wh-c\"}" | jq -r .id)
wait_status "$c" broadcast 30
for _ in $(seq 50); do grep -q 'webhook.delivery_failed.*payout_id='"$c" "$dir"/d.main.err && break; sleep 0.1; done
kill -KILL $d_pid; wait $d_pid 2>/dev/null; d_pid=
queued=$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM webhook_outbox WHERE payout_id = $c AND status = 5")
[ "$queued" = 1 ] || fail "payout $c's broadcast event is not in the outbox after SIGKILL ($queued)"
[ "$(received_types "$c")" = "" ] || fail "payout $c's event arrived although the receiver was down"
rm -f "$dir/down"
start_daemon after_kill
wait_status "$c" confirmed 60 mine
for _ in $(seq 150); do [ "$(received_types "$c")" = "payout.broadcast payout.confirmed " ] && break; sleep 0.2; done
[ "$(received_types "$c")" = "payout.broadcast payout.confirmed " ] || fail "after the restart payout $c's events: $(received_types "$c")"
n=$(checked) || exit 1
pass "an event queued by a broadcast before a SIGKILL is delivered after the restart ($n events in all, every one verified)"
