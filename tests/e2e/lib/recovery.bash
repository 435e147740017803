# Sourced by the recovery tests (test_restore.sh, test_replace.sh) after lib/stack.bash: the flood's
# fault schedule, the operator at the simulator, a backend that retries, codes and withdrawals, and the
# chain's verdict (every one paid exactly once).
# the flood's fault schedule (tests/e2e/flood.c): on the way payments leave, and on the node's answers
faults() {
  rpc testnode_setfault '[{"mode":"random","seed":11,"probs":{"delay":0.25,"drop":0.25},"delay_ms":1500,"methods":["sendrawtransaction"]}]' >/dev/null
  rpc testnode_setfault '[{"mode":"random","seed":12,"probs":{"delay":0.15,"drop":0.15},"delay_ms":1500,"methods":["getrawtransaction","gettxout","getmempoolentry","gettransaction","listunspent","getblockcount","estimatesmartfee"]}]' >/dev/null
}
# start_recovering TAG: oncesignd (as TAG) on the ledger in place, which must be recovering: health says
# so (and not ok), and no request is answered from the stale ledger: a write is refused with 503 naming
# the recovery
start_recovering() {
  start_daemon "$1"
  h=$(health)
  [ "$(jq -r .recovering <<<"$h")" = true ] && [ "$(jq -r .ok <<<"$h")" = false ] ||
    fail "oncesignd ($1) is not recovering: $h"
  local out
  out=$(curl -s -m 10 -w '\n%{http_code}' -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary '{"amount":1000}' "http://127.0.0.1:$api_port/v1/codes")
  [ "$(tail -n 1 <<<"$out")" = 503 ] && head -n 1 <<<"$out" | jq -r .error.message | grep -q recovering ||
    fail "a write while oncesignd ($1) recovers: $out"
}
# recover_until_done TAG: the operator approves at the simulator and a block is mined every half second
# until oncesignd (started as TAG) has recovered and logged 'recovery done'
recover_until_done() {
  operator & op_pid=$!
  for _ in $(seq 300); do
    [ "$(health | jq -r .recovering)" = false ] && break
    mine 1
    sleep 0.5
  done
  kill $op_pid 2>/dev/null; wait $op_pid 2>/dev/null
  [ "$(health | jq -r .recovering)" = false ] || fail "the recovery ($1) did not end: $(health)"
  grep -q 'recovery done' "$dir/d.$1.err" || fail "no 'recovery done' in the log of oncesignd ($1)"
}
# node_calls_of METHOD: how often the node was asked METHOD since it started
node_calls_of() { rpc testnode_stats '[]' | jq -r --arg m "$1" '.calls_by_method[$m] // 0'; }
# the operator at the simulator: approves whatever the device asks while this runs
operator() { while :; do ctl approve >/dev/null 2>&1; sleep 0.3; done; }

# api_retry METHOD PATH JSON: the backend retries a request until it gets an answer that is not 5xx
api_retry() {
  local out code
  for _ in $(seq 120); do
    out=$(curl -s -m 10 -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      ${3:+--data-binary "$3"} "http://127.0.0.1:$api_port$2")
    code=$(tail -n 1 <<<"$out")
    case "$code" in 2*) head -n 1 <<<"$out"; return 0 ;; 4*) head -n 1 <<<"$out"; return 1 ;; esac
    sleep 0.5
  done
  fail "$1 $2 never answered: $out"
}

# N codes of distinct amounts (so the signer's root can tell them apart), each with its own destination
issue_codes() { # issue_codes TAG N → codes in $dir/codes.TAG (code amount dest)
  : >"$dir/codes.$1"
  for i in $(seq "$2"); do
    local amount=$((100000 + i * 1000 + RANDOM % 997)) code dest
    code=$(api POST /v1/codes "{\"amount\":$amount}" | jq -r .code)
    [ -n "$code" ] && [ "$code" != null ] || fail "issue"
    dest=$(rpc getnewaddress | jq -r .)
    echo "$code $amount $dest" >>"$dir/codes.$1"
  done
}
redeem_all() { # redeem_all FILE: each code twice at once
  local pids=()
  while read -r code amount dest; do
    ( api_retry POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}" >/dev/null ) &
    pids+=($!)
    ( api_retry POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}" >/dev/null ) &
    pids+=($!)
    sleep 0.05
  done <"$1"
  wait "${pids[@]}"
}
withdraw_all() { # withdraw_all TAG N: withdrawals with keys TAG-i, recorded in $dir/w.TAG (key amount dest)
  : >"$dir/w.$1"
  for i in $(seq "$2"); do
    local amount=$((300000 + i * 1000)) dest
    dest=$(rpc getnewaddress | jq -r .)
    echo "$1-$i $amount $dest" >>"$dir/w.$1"
    api_retry POST /v1/payouts "{\"idempotency_key\":\"$1-$i\",\"address\":\"$dest\",\"amount\":$amount}" >/dev/null
  done
}
# every line of FILE (x amount dest) paid exactly once on chain
all_paid_once() {
  while read -r _ amount dest; do exactly_once "$dest" "$amount"; done <"$1"
}
wait_settled() { # every payout confirmed, mining as needed
  for _ in $(seq 240); do
    [ "$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM payouts WHERE status != 6")" = 0 ] && return 0
    mine 1
    sleep 0.5
  done
  fail "payouts did not all confirm: $(sqlite3 "$dir/ledger.db" "SELECT id, status, error FROM payouts WHERE status != 6")"
}


# the backend compares its own record with the ledger and /v1/recovery, and submits again only what
# neither shows paid (docs/RECOVERY.md): a withdrawal key the restored ledger does not know may have
# been paid after the backup, and only the recovered list says so
backend_resubmit() { # backend_resubmit CODES_FILE WITHDRAWALS_FILE
  local r code amount dest key s
  r=$(api GET /v1/recovery)
  paid_after() { jq -e --arg a "$1" --argjson n "$2" '.recovered_payouts[] | select(.address == $a and .amount == $n)' \
    <<<"$r" >/dev/null; }
  while read -r code amount dest; do
    s=$(api GET "/v1/codes/$code" | jq -r .redeemed)
    [ "$s" = true ] || paid_after "$dest" "$amount" || api_retry POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}" >/dev/null ||
      fail "re-redeeming $code"
  done <"$1"
  while read -r key amount dest; do
    paid_after "$dest" "$amount" && continue
    api_retry POST /v1/payouts "{\"idempotency_key\":\"$key\",\"address\":\"$dest\",\"amount\":$amount}" >/dev/null ||
      fail "re-submitting $key"
  done <"$2"
}
