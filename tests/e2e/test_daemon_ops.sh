#!/bin/bash
# Issue 9, defect 7 (operations): a mistyped --db is refused, not started as an empty ledger
# (oncesignd --init creates one); SIGHUP and SIGUSR1 do not stop the daemon; GET /v1/wallet hands out
# the same unused receive address until it is paid; a confirmed transaction keeps no stale error.
STACK_TAG=dops
. "$(dirname "$0")/lib/stack.bash"

start_node_and_signer

# ---- a ledger path that does not exist is refused (nothing created) unless --init is given
"$B/oncesignd" --db "$dir/typo.db" --device "sim:$dir/s.sock" --network regtest --port 0 \
  --token-file "$dir/token" >"$dir/typo.out" 2>"$dir/typo.err"
rc=$?
[ $rc -eq 2 ] || fail "a missing ledger: exit $rc, expected 2"
grep -q -- '--init' "$dir/typo.err" || fail "the refusal does not say how to create a ledger: $(cat "$dir/typo.err")"
[ ! -e "$dir/typo.db" ] || fail "a missing ledger was created"
timeout 30 "$B/oncesign" payouts list --db "$dir/typo.db" >"$dir/clityp.out" 2>"$dir/clityp.err"
rc=$?
[ $rc -eq 2 ] && [ ! -e "$dir/typo.db" ] || fail "the CLI on a missing ledger: exit $rc, created: $(ls "$dir")"
grep -q 'ledger init' "$dir/clityp.err" || fail "the CLI does not say how to create a ledger: $(cat "$dir/clityp.err")"
pass "a missing --db is refused by oncesignd (exit 2) and the CLI, and nothing is created"

start_daemon main   # stack.bash passes --init the first time only
fund_wallet 1

# ---- signals that used to kill it
for sig in HUP USR1; do
  kill -"$sig" "$d_pid"
  sleep 0.3
  kill -0 "$d_pid" 2>/dev/null || fail "SIG$sig stopped oncesignd"
  [ "$(health | jq -r .ok)" = true ] || fail "after SIG$sig: $(health)"
done
grep -q 'SIGHUP: ignored' "$dir/d.main.err" && grep -q 'SIGUSR1: ignored' "$dir/d.main.err" ||
  fail "the ignored signals are not logged"
pass "SIGHUP and SIGUSR1: logged and ignored, the daemon serves on"

# ---- one unused receive address at a time
a1=$(api GET /v1/wallet | jq -r .receive_address)
a2=$(api GET /v1/wallet | jq -r .receive_address)
for _ in $(seq 20); do api GET /v1/wallet >/dev/null; done
a3=$(api GET /v1/wallet | jq -r .receive_address)
[ "$a1" = "$a2" ] && [ "$a2" = "$a3" ] || fail "GET /v1/wallet moved on without a payment: $a1 $a2 $a3"
n=$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM addresses WHERE change = 0")
[ "$n" -le 2 ] || fail "22 wallet calls allocated $n receive addresses"
rpc sendtoaddress "[\"$a3\", 1]" >/dev/null
mine 1
for _ in $(seq 100); do
  [ "$(api GET /v1/wallet | jq -r .balance.confirmed)" = 300000000 ] && break
  sleep 0.1
done
a4=$(api GET /v1/wallet | jq -r .receive_address)
[ "$a4" != "$a3" ] || fail "the paid address is handed out again"
pass "GET /v1/wallet: the same unused address until it is paid, then the next one"

# ---- a transaction that confirms after an ambiguous broadcast keeps no error: the node accepts it but
# answers with an error (recorded on the transaction), and the block comes before the reconciler can see
# it in the mempool (its queries fail meanwhile; gettxout still answers: the worker checks a coin with it
# before building on it, docs/LIFECYCLE.md)
rpc testnode_setfault '[{"mode":"error","accept":true,"code":-1,"message":"injected failure","methods":["sendrawtransaction"],"count":1}]' >/dev/null
rpc testnode_setfault '[{"mode":"error","code":-1,"methods":["gettransaction","getrawtransaction"],"duration_ms":2500}]' >/dev/null
dest=$(rpc getnewaddress | jq -r .)
code=$(api POST /v1/codes '{"amount":90000}' | jq -r .code)
id=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"$dest\"}" | jq -r .id)
for _ in $(seq 50); do
  [ "$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE last_error LIKE '%injected%'")" = 1 ] && break
  sleep 0.1
done
[ "$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE last_error LIKE '%injected%'")" = 1 ] ||
  fail "the ambiguous broadcast was not recorded: $(sqlite3 "$dir/ledger.db" "SELECT id, state, last_error FROM txs")"
mine 1
wait_status "$id" confirmed 30 mine
stale=$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE state = 4 AND last_error != ''")
[ "$stale" = 0 ] || fail "a confirmed transaction keeps an error: $(sqlite3 "$dir/ledger.db" "SELECT id, last_error FROM txs")"
[ "$(api GET "/v1/payouts/$id" | jq -r '.error // ""')" = "" ] || fail "the confirmed payout keeps an error"
stop_daemon
pass "confirmed after a failed broadcast: no stale error"
echo "test_daemon_ops: all passed"
