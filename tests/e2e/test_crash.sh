#!/bin/bash
# End-to-end crash safety (issue 4, docs/DESIGN.md I2/I3/I6): the simulated signer, the test node and
# oncesignd. For every crash point of docs/LIFECYCLE.md in turn: issue a code, redeem it, the daemon
# exits 137 at the point (ONCESIGN_CRASH_AT, the same as a SIGKILL there), restart without the switch,
# mine, and the chain must show the destination paid the code's amount exactly once
# (testnode_received). Then the rolled-back ledger: an older copy of the ledger restored behind the
# host's back makes the daemon refuse to sign (signer mismatch; health says so) and nothing new is
# signed. (The signer's own refusal of a second transaction for the same nonce from another coin,
# pushed with the stale tree, is tests/unit/test_engine.c: test_rolled_back_ledger_refused.)
# Needs $ONCESIGN_BUILD. Runs in about a minute.
set -uo pipefail
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
for x in oncesign-sim oncesign-sim-test oncesign-testnode oncesignd oncesign; do
  [ -x "$B/$x" ] || { echo "FAIL: $B/$x not built" >&2; exit 1; }
done
for t in curl jq sqlite3; do command -v $t >/dev/null || { echo "FAIL: needs $t" >&2; exit 1; }; done

dir=$(mktemp -d /tmp/oncesign-crash.XXXXXX)
sim_pid= node_pid= d_pid=
cleanup() {
  for p in $d_pid $sim_pid $node_pid; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$dir"/d.*.err "$dir/sim.log" "$dir/node.log"; do
    [ -s "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 12 "$f" >&2; }
  done
  exit 1
}
pass() { echo "ok - $*"; }

# ---- test node
"$B/oncesign-testnode" --port 0 --rpcuser u --rpcpassword p --seed 7 >"$dir/node.out" 2>"$dir/node.log" &
node_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$dir/node.out" 2>/dev/null && break; sleep 0.05; done
node_port=$(sed -n 's/^testnode: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/node.out")
[ -n "$node_port" ] || fail "test node did not start"
rpc() { # rpc METHOD JSON_PARAMS → result
  curl -s -u u:p --data-binary "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" \
    "http://127.0.0.1:$node_port/" | jq -c '.result'
}
mine() { rpc generatetoaddress "[$1, \"$miner\"]" >/dev/null; }
miner=$(rpc getnewaddress | jq -r .)
mine 101

# ---- signer: restore a known seed on regtest, buttons pressed through the control socket
"$B/oncesign-sim-test" --socket "$dir/s.sock" --flash "$dir/flash.bin" --control "$dir/c.sock" --no-tty --seed 3 \
  </dev/null 2>>"$dir/sim.log" &
sim_pid=$!
for _ in $(seq 100); do [ -S "$dir/c.sock" ] && [ -S "$dir/s.sock" ] && break; sleep 0.05; done
ctl() { "$B/oncesign-sim" --control "$dir/c.sock" --send "$1"; }
"$B/oncesign" --device "sim:$dir/s.sock" device init --network regtest --script-type p2pkh \
  --restore "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" \
  >"$dir/init.out" 2>&1 &
init_pid=$!
for _ in $(seq 400); do kill -0 $init_pid 2>/dev/null || break; ctl approve >/dev/null 2>&1; sleep 0.05; done
wait $init_pid || fail "device init: $(cat "$dir/init.out")"
pass "signer initialised (regtest, P2PKH)"

# ---- oncesignd
(umask 077; echo "crash-test-token" >"$dir/token"; echo p >"$dir/rpc.password")
start_daemon() { # start_daemon TAG [ENV...]: starts in the background, waits for "listening"
  local tag=$1 init=(); shift
  [ -e "$dir/ledger.db" ] || init=(--init)   # creates the ledger the first time only
  env "$@" "$B/oncesignd" "${init[@]}" --db "$dir/ledger.db" --device "sim:$dir/s.sock" --rpc-url "http://127.0.0.1:$node_port/" \
    --rpc-user u --rpc-password-file "$dir/rpc.password" --network regtest --port 0 --token-file "$dir/token" --batch-max 10 \
    --batch-delay-ms 50 --reconcile-interval-ms 200 --rpc-timeout-ms 1000 --confirmations-final 2 \
    >"$dir/d.$tag.out" 2>"$dir/d.$tag.err" &
  d_pid=$!
  for _ in $(seq 200); do
    grep -q 'listening on' "$dir/d.$tag.out" 2>/dev/null && break
    kill -0 $d_pid 2>/dev/null || break
    sleep 0.05
  done
  api_port=$(sed -n 's/^oncesignd: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/d.$tag.out")
  [ -n "$api_port" ] || fail "oncesignd ($tag) did not start"
}
stop_daemon() { kill -TERM $d_pid; wait $d_pid; local rc=$?; d_pid=; [ $rc -eq 0 ] || fail "oncesignd stop: exit $rc"; }
api() { # api METHOD PATH [JSON]
  curl -s -m 10 -X "$1" -H "Authorization: Bearer crash-test-token" -H 'Content-Type: application/json' \
    ${3:+--data-binary "$3"} "http://127.0.0.1:$api_port$2"
}
payout_status() { api GET "/v1/payouts/$1" | jq -r .status; }
wait_status() { # wait_status ID STATUS SECONDS [MINE]
  local deadline=$((SECONDS + $3)) s
  while [ $SECONDS -lt $deadline ]; do
    s=$(payout_status "$1")
    [ "$s" = "$2" ] && return 0
    [ -n "${4:-}" ] && mine 1
    sleep 0.2
  done
  fail "payout $1 stayed '$s', expected '$2'"
}

start_daemon fund
recv=$(api GET /v1/wallet | jq -r .receive_address)
[ -n "$recv" ] && [ "$recv" != null ] || fail "no receive address"
for _ in 1 2 3; do rpc sendtoaddress "[\"$recv\", 2]" >/dev/null; done
mine 1
for _ in $(seq 100); do
  conf=$(api GET /v1/wallet | jq -r .balance.confirmed)
  [ "$conf" = 600000000 ] && break
  sleep 0.1
done
[ "$conf" = 600000000 ] || fail "wallet sync: confirmed balance $conf, expected 600000000"
pass "hot wallet funded: 3 coins of 2 MONA seen through importmulti + listunspent"
stop_daemon

# exactly_once DEST AMOUNT: the chain paid DEST exactly AMOUNT in exactly one output
exactly_once() {
  local r
  r=$(rpc testnode_received "[[\"$1\"], 1]")
  [ "$(jq -r ".\"$1\".count" <<<"$r")" = 1 ] || fail "$1 paid $(jq -c ".\"$1\"" <<<"$r") (expected once)"
  [ "$(jq -r ".\"$1\".amount * 100000000 | round" <<<"$r")" = "$2" ] ||
    fail "$1 received $(jq -r ".\"$1\".amount" <<<"$r"), expected $2 sat"
}

n=0
for point in after-draft after-sign-commit after-signed-stored after-broadcast-sent after-broadcast-unknown \
    after-confirmed mid-redeem; do
  n=$((n + 1))
  amount=$((100000 + n * 1000))
  dest=$(rpc getnewaddress | jq -r .)
  start_daemon "$point" ONCESIGN_CRASH_AT="$point"
  code=$(api POST /v1/codes "{\"amount\":$amount}" | jq -r .code)
  [ -n "$code" ] && [ "$code" != null ] || fail "$point: issue failed"
  [ "$point" = after-broadcast-unknown ] &&
    rpc testnode_setfault '[{"mode":"delay","delay_ms":1500,"methods":["sendrawtransaction"],"count":1}]' >/dev/null
  first=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}")
  if [ "$point" = after-confirmed ]; then
    id=$(jq -r .id <<<"$first")
    wait_status "$id" broadcast 10
    mine 1
  fi
  for _ in $(seq 200); do kill -0 $d_pid 2>/dev/null || break; sleep 0.05; done
  wait $d_pid
  rc=$?
  d_pid=
  [ $rc -eq 137 ] || fail "$point: the daemon did not stop at the crash point (exit $rc)"
  grep -q "exiting at $point" "$dir/d.$point.err" || fail "$point: no crash message"
  rpc testnode_clearfaults >/dev/null
  start_daemon "$point-restart"
  again=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}")
  id=$(jq -r .id <<<"$again")
  [ -n "$id" ] && [ "$id" != null ] || fail "$point: redeem after restart: $again"
  if [ "$point" != mid-redeem ]; then
    [ "$(jq -r .id <<<"$first")" = "$id" ] || fail "$point: a second payout for one code ($first / $again)"
  fi
  wait_status "$id" confirmed 20 mine
  mine 1
  exactly_once "$dest" "$amount"
  # a later reconciliation finds nothing more to send
  sleep 0.5
  exactly_once "$dest" "$amount"
  stop_daemon
  pass "crash at $point: restarted, paid exactly once ($amount sat)"
done

# ---- a transaction the node refuses for its fee: replaced (same anchor, higher fee), paid once
start_daemon feebump
rpc testnode_setfault '[{"mode":"error","code":-26,"message":"min relay fee not met, 50 < 110","methods":["sendrawtransaction"],"count":1}]' >/dev/null
dest=$(rpc getnewaddress | jq -r .)
code=$(api POST /v1/codes '{"amount":70000}' | jq -r .code)
id=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}" | jq -r .id)
wait_status "$id" confirmed 20 mine
stop_daemon
rpc testnode_clearfaults >/dev/null
exactly_once "$dest" 70000
bumped=$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE replaces IS NOT NULL AND state = 4")
[ "$bumped" = 1 ] || fail "fee bump: no confirmed replacement in the ledger ($bumped)"
grep -q 'refused for its fee: replacement' "$dir/d.feebump.err" || fail "fee bump: not reported"
pass "fee refused by the node: replacement spending the anchor signed as REPLACE, confirmed, paid once"

# ---- the rolled-back ledger
cp "$dir/ledger.db" "$dir/old.db"
[ -f "$dir/ledger.db-wal" ] && cp "$dir/ledger.db-wal" "$dir/old.db-wal"
start_daemon rollback-sign
dest=$(rpc getnewaddress | jq -r .)
code=$(api POST /v1/codes '{"amount":50000}' | jq -r .code)
id=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}" | jq -r .id)
wait_status "$id" broadcast 10
stop_daemon
cp "$dir/old.db" "$dir/ledger.db"
rm -f "$dir/ledger.db-wal" "$dir/ledger.db-shm"
[ -f "$dir/old.db-wal" ] && cp "$dir/old.db-wal" "$dir/ledger.db-wal"
start_daemon rollback
grep -q 'signer mismatch' "$dir/d.rollback.err" || fail "rolled-back ledger: no signer mismatch reported"
h=$(curl -s "http://127.0.0.1:$api_port/v1/health")
[ "$(jq -r .signer <<<"$h")" = false ] || fail "health: signer not false"
[ "$(jq -r .signing_disabled <<<"$h")" = true ] && jq -r .signer_error <<<"$h" | grep -q 'no record' ||
  fail "health does not say why signing is disabled: $h"
# while signing is disabled every write endpoint says so (503 + the reason), and nothing is written
payouts_before=$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM payouts")
write_refused() { # write_refused PATH JSON
  local out http
  out=$(curl -s -m 10 -w '\n%{http_code}' -X POST -H "Authorization: Bearer crash-test-token" \
    -H 'Content-Type: application/json' --data-binary "$2" "http://127.0.0.1:$api_port$1")
  http=$(tail -n 1 <<<"$out")
  [ "$http" = 503 ] && head -n 1 <<<"$out" | jq -r .error.message | grep -q 'signing is disabled' ||
    fail "POST $1 while signing is disabled: $out"
}
write_refused /v1/codes '{"amount":60000}'
write_refused "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}"
write_refused /v1/payouts "{\"idempotency_key\":\"k-disabled\",\"address\":\"$dest\",\"amount\":1000}"
[ "$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM payouts")" = "$payouts_before" ] || fail "a refused write wrote"
stop_daemon
mine 1
exactly_once "$dest" 50000
pass "rolled-back ledger: the daemon refuses to sign (signer mismatch), every write endpoint says why (503), the earlier payout stays paid once"
echo "test_crash: all passed"
