#!/bin/bash
# The host's side of k-of-n operator approvals (issue 14 part 2; docs/DESIGN.md §8 "Host flow") with the
# real daemon, the simulated signer and the test node, run as docs/OPERATING.md ("Operators", blocks
# quorum-setup and quorum-routine) and docs/API.md ("Operator approvals", block approvals-example) show
# it: three operators registered 2 of 3 above 0.1 MONA; a withdrawal above the threshold waits in
# awaiting_approval (webhook-less: GET /v1/approvals, health, /metrics show the wait) while one below it
# is paid; the API refuses a forged approval, one for another transaction and one by a key not
# registered (422); alice and bob fetch the commitment with curl, `oncesign approve --from` checks it and
# they post their approvals with curl; with the second the daemon sends the transaction, the device's
# press is given through the simulator's control socket, and the withdrawal is paid exactly once; the
# backend's webhook receiver got payout.awaiting_approval, then broadcast and confirmed. A second
# withdrawal above the threshold is cancelled while it waits: failed, nothing paid.
# Needs $ONCESIGN_BUILD.
STACK_TAG=quorum-flow
. "$(dirname "$0")/lib/stack.bash"
. "$(dirname "$0")/lib/docs.bash"
. "$(dirname "$0")/lib/quorum.bash"
cd "$(dirname "$0")/../.."

start_node_and_signer

# ---- docs/OPERATING.md: three operator keys, registered 2 of 3 on the device (approved there)
docs_block docs/OPERATING.md quorum-setup >"$dir/setup.sh" || fail "docs/OPERATING.md has no block quorum-setup"
operators_as_documented "$dir/setup.sh"

# the backend's webhook receiver: payout.awaiting_approval tells it a withdrawal waits
R=$B/oncesign-webhook_receiver
[ -x "$R" ] || fail "$R not built"
"$R" --out "$dir/received" >"$dir/r.out" 2>"$dir/r.log" &
r_pid=$!
wait_line "$dir/r.out" 'listening on' $r_pid || fail "receiver did not start"
r_port=$(sed -n 's/^receiver: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/r.out")
trap 'kill $r_pid 2>/dev/null; cleanup' EXIT
(umask 077; echo webhook-quorum-secret-0123456789 >"$dir/wh.secret")
DAEMON_ARGS=(--webhook-url "http://127.0.0.1:$r_port/hooks/oncesign" --webhook-secret-file "$dir/wh.secret"
             --webhook-retry-ms 100 --webhook-retry-max-ms 400)
received_types() { cut -f3 "$dir/received" 2>/dev/null | jq -r "select(.payout.id == $1) | .type" | tr '\n' ' '; }
want_events() { # want_events ID "TYPES " SECONDS
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do [ "$(received_types "$1")" = "$2" ] && return 0; sleep 0.1; done
  fail "payout $1: webhook events '$(received_types "$1")', expected '$2'"
}

start_daemon main
fund_wallet 3
API="http://127.0.0.1:$api_port"
status() { # status METHOD PATH [JSON] -> HTTP code, body in $dir/r.json
  curl -s -m 10 -o "$dir/r.json" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$API$2"
}

# ---- a withdrawal above the threshold waits for the quorum; one below it is paid meanwhile
big_dest=$(rpc getnewaddress | jq -r .)
small_dest=$(rpc getnewaddress | jq -r .)
big=$(api POST /v1/payouts "{\"address\":\"$big_dest\",\"amount\":50000000,\"idempotency_key\":\"big-1\"}" | jq -r .id)
[ -n "$big" ] && [ "$big" != null ] || fail "withdrawal not created"
wait_status "$big" awaiting_approval 30
small=$(api POST /v1/payouts "{\"address\":\"$small_dest\",\"amount\":2000000,\"idempotency_key\":\"small-1\"}" | jq -r .id)
wait_status "$small" confirmed 60 mine
exactly_once "$small_dest" 2000000
[ "$(payout_status "$big")" = awaiting_approval ] || fail "the withdrawal above the threshold left awaiting_approval"
[ "$(health | jq -r .payouts_awaiting_quorum)" = 1 ] || fail "health: $(health)"
# The whole scrape first, then the line, without a pipe: under stack.bash's pipefail, `curl | grep -q`
# fails when grep stops reading at its match before curl wrote the rest (curl's SIGPIPE, exit 23).
quorum_metric() {
  local body rc
  body=$(curl -sS -m 20 "$API/metrics" 2>&1); rc=$?
  grep -qx "oncesign_approvals_awaiting_quorum $1" <<<"$body" && return 0
  echo "curl rc=$rc; $(grep -E '^oncesign_(approvals|metrics_errors|api_engine)' <<<"$body" | tr '\n' ' ')"
  return 1
}
got=$(quorum_metric 1) || fail "metrics lack the quorum wait: $got"
grep -q 'tx.awaiting_quorum' "$dir/d.main.err" "$dir/d.main.out" || fail "tx.awaiting_quorum not logged"
want_events "$big" "payout.awaiting_approval " 10
[ "$(status POST /v1/payouts/$small/approvals '{"approval":"00"}')" = 400 ] || fail "a malformed approval: $(cat "$dir/r.json")"
[ "$(status GET /v1/payouts/$small/commitment)" = 409 ] && [ "$(jq -r .error.code "$dir/r.json")" = quorum-not-waiting ] ||
  fail "the commitment of a paid payout: $(cat "$dir/r.json")"
pass "a withdrawal above the threshold waits for the quorum (health, metrics, log) while one below is paid"

# ---- docs/API.md: what an operator sees
docs_block docs/API.md approvals-example >"$dir/example.sh" || fail "docs/API.md has no block approvals-example"
(
  cd "$dir/ops" && export PATH="$B:$PATH" API OPERATOR_KEY="$token" PAYOUT="$big" &&
    docs_source docs/API.md 0 "$dir/example.sh"
) >"$dir/example.out" 2>&1 || fail "docs/API.md approvals-example: $(cat "$dir/example.out")"
grep -qx "{\"id\":$big,\"waits_for\":\"quorum\",\"approvals_held\":0,\"approvals_needed\":2}" "$dir/example.out" ||
  fail "GET /v1/approvals: $(cat "$dir/example.out")"
grep -q '"k":2,"n":3,"threshold":10000000' "$dir/example.out" || fail "commitment: $(cat "$dir/example.out")"
grep -q "\"address\":\"$big_dest\",\"amount\":50000000,\"kind\":\"payout\"" "$dir/example.out" ||
  fail "commitment outputs: $(cat "$dir/example.out")"
pass "docs/API.md approvals-example runs as shown: waits for the quorum, 0 of 2, the commitment names the output"

# ---- what the API refuses (422), and what the operator's tool refuses
api GET "/v1/payouts/$big/commitment" >"$dir/c.json"
seq=$(jq -r .log_seq "$dir/c.json")
signer=$(jq -r .signer "$dir/c.json")
[ "$signer" = "$(cat "$dir/ops/signer.pub")" ] || fail "the commitment names another signer"
forged=$("$B/oncesign" approve --key "$dir/ops/carol.key" --from "$dir/c.json" 2>/dev/null)
forged=${forged:0:150}$( [ "${forged:150:1}" = 0 ] && echo 1 || echo 0 )${forged:151}   # one digit of the signature
[ "$(status POST /v1/payouts/$big/approvals "{\"approval\":\"$forged\"}")" = 422 ] &&
  [ "$(jq -r .error.code "$dir/r.json")" = approval-mismatch ] || fail "a forged approval: $(cat "$dir/r.json")"
other=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
wrong_tx=$("$B/oncesign" approve --key "$dir/ops/carol.key" --commitment "$other" --signer "$signer" --expiry-seq $((seq + 50)))
[ "$(status POST /v1/payouts/$big/approvals "{\"approval\":\"$wrong_tx\"}")" = 422 ] &&
  [ "$(jq -r .error.code "$dir/r.json")" = approval-mismatch ] || fail "an approval of another tx: $(cat "$dir/r.json")"
"$B/oncesign" voucher keygen --key "$dir/ops/mallory.key" >/dev/null || fail "keygen mallory"
stranger=$("$B/oncesign" approve --key "$dir/ops/mallory.key" --from "$dir/c.json" 2>/dev/null)
[ "$(status POST /v1/payouts/$big/approvals "{\"approval\":\"$stranger\"}")" = 422 ] &&
  [ "$(jq -r .error.code "$dir/r.json")" = approval-operator ] || fail "an unregistered key: $(cat "$dir/r.json")"
raw=$(jq -r .unsigned_tx "$dir/c.json")
raw=${raw:0:100}$( [ "${raw:100:1}" = 0 ] && echo 1 || echo 0 )${raw:101}   # a digit of input 0's txid
jq --arg raw "$raw" '.unsigned_tx = $raw' "$dir/c.json" >"$dir/tampered.json"
"$B/oncesign" approve --key "$dir/ops/carol.key" --from "$dir/tampered.json" >/dev/null 2>"$dir/t.err" &&
  fail "approve --from accepted a document whose transaction is not its digest's"
grep -q "refusing to approve" "$dir/t.err" || fail "approve --from (tampered): $(cat "$dir/t.err")"
"$B/oncesign" approve --key "$dir/ops/carol.key" --from "$dir/c.json" --signer "$other" >/dev/null 2>"$dir/s.err" &&
  fail "approve --from accepted a document naming another signer than --signer"
[ "$(health | jq -r .payouts_awaiting_quorum)" = 1 ] || fail "a refused approval changed the wait: $(health)"
pass "the API refuses a forged approval, one of another transaction and an unregistered key (422); approve --from refuses a tampered document and another signer"

# ---- docs/OPERATING.md: alice, then bob, approve from their own machines
routine() { # routine WHO: the block as the docs show it, for operator WHO
  docs_block docs/OPERATING.md quorum-routine | sed "s/alice/$1/g" >"$dir/routine.$1.sh" ||
    fail "docs/OPERATING.md has no block quorum-routine"
  (
    cd "$dir/ops" && export PATH="$B:$PATH" API OPERATOR_KEY="$token" PAYOUT="$big" &&
      docs_source docs/OPERATING.md 0 "$dir/routine.$1.sh"
  ) >"$dir/routine.$1.out" 2>"$dir/routine.$1.err" || fail "docs/OPERATING.md quorum-routine ($1): $(cat "$dir/routine.$1.err")"
}
routine alice
grep -q '"approvals_held":1,"approvals_needed":2' "$dir/routine.alice.out" || fail "alice: $(cat "$dir/routine.alice.out")"
grep -q "$big_dest 0.50000000 MONA (payout)" "$dir/routine.alice.err" || fail "approve --from did not show the output: $(cat "$dir/routine.alice.err")"
sleep 1
[ "$(payout_status "$big")" = awaiting_approval ] || fail "one approval of two let the withdrawal go"
[ "$(api GET /v1/approvals | jq -r ".approvals[] | select(.id == $big) | .approvals_held")" = 1 ] || fail "approvals held"
pass "docs/OPERATING.md quorum-routine runs as shown: alice's approval is stored, 1 of 2, the withdrawal still waits"

# with bob's the daemon sends the transaction with both; the device's press is given meanwhile
( for _ in $(seq 600); do ctl approve >/dev/null 2>&1; sleep 0.05; done ) &
presser=$!
routine bob
grep -q '"approvals_held":2,"approvals_needed":2' "$dir/routine.bob.out" || fail "bob: $(cat "$dir/routine.bob.out")"
wait_status "$big" confirmed 60 mine
kill $presser 2>/dev/null; wait $presser 2>/dev/null
exactly_once "$big_dest" 50000000
[ "$(health | jq -r .payouts_awaiting_quorum)" = 0 ] || fail "health still counts a quorum wait: $(health)"
want_events "$big" "payout.awaiting_approval payout.broadcast payout.confirmed " 20
grep -q "tx.quorum_refused\|approval.dropped" "$dir/d.main.err" "$dir/d.main.out" && fail "an approval was refused or dropped"
pass "with bob's approval the withdrawal is signed (after the press), broadcast and paid exactly once"

# ---- a withdrawal that waits for approvals can be cancelled: it fails, its transaction is released
third=$(rpc getnewaddress | jq -r .)
c=$(api POST /v1/payouts "{\"address\":\"$third\",\"amount\":30000000,\"idempotency_key\":\"big-2\"}" | jq -r .id)
wait_status "$c" awaiting_approval 30
[ "$(status POST /v1/payouts/$c/cancel)" = 200 ] && [ "$(jq -r .status "$dir/r.json")" = failed ] ||
  fail "cancel of a withdrawal waiting for approvals: $(cat "$dir/r.json")"
[ "$(status GET /v1/payouts/$c/commitment)" = 409 ] || fail "a cancelled payout still has a commitment: $(cat "$dir/r.json")"
want_events "$c" "payout.awaiting_approval payout.failed " 10
[ "$(health | jq -r .payouts_awaiting_quorum)" = 0 ] || fail "health counts a cancelled wait: $(health)"
after=$(rpc testnode_received "[[\"$third\"], 0]" | jq -r ".\"$third\".count")
[ "$after" = 0 ] || fail "the cancelled withdrawal was paid"
pass "a withdrawal waiting for approvals is cancelled: failed, webhook payout.failed, nothing paid"
