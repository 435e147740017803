#!/bin/bash
# Issue 12, scenario (c) (docs/RECOVERY.md, "Replacing the signer"): the signer dies in the middle of a
# redeem flood under the flood's fault schedule (its state deleted), with transactions it signed
# confirmed and others still in the mempool. A new device is restored from the mnemonic; oncesignd finds
# the same wallet under another attestation key, refuses writes (503, recovering), lets the old
# device's transactions confirm, sweeps every coin with the new device, asks the operator to approve
# the continuation on the new device (NONCE_RESET naming the old key and head), and pays every payout
# the old device never got onto the chain. The chain then shows every code paid exactly once.
STACK_TAG=replace
. "$(dirname "$0")/lib/stack.bash"
. "$(dirname "$0")/lib/recovery.bash"

start_stack 8
DAEMON_ARGS=(--operator-wait-ms 60000)
faults
issue_codes c 12
head -n 6 "$dir/codes.c" >"$dir/codes.c1"; tail -n 6 "$dir/codes.c" >"$dir/codes.c2"
redeem_all "$dir/codes.c1" &
flood_pid=$!
# the signer dies mid-flood: some of its transactions are confirmed, some in the mempool
for _ in $(seq 200); do [ "$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE state IN (3, 4)")" -ge 1 ] && break; sleep 0.05; done
mine 1
for _ in $(seq 200); do [ "$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE state = 4")" -ge 1 ] && break; sleep 0.05; done
redeem_all "$dir/codes.c2" &
again_pid=$!
for _ in $(seq 200); do [ "$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE state = 3")" -ge 1 ] && break; sleep 0.05; done
kill -9 "$sim_pid"; wait "$sim_pid" 2>/dev/null; sim_pid=
rm -f "$dir/flash.bin"
wait $flood_pid $again_pid
old_key=$(sqlite3 "$dir/ledger.db" "SELECT lower(hex(v)) FROM meta WHERE k = 'attestation_key'")
old_head=$(sqlite3 "$dir/ledger.db" "SELECT lower(hex(entry_hash)) FROM signer_log ORDER BY seq DESC LIMIT 1")
confirmed=$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE state = 4")
in_mempool=$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE state = 3")
stop_daemon
pass "(c) the signer died mid-flood ($confirmed transactions confirmed, $in_mempool broadcast and unconfirmed)"

# a new device, restored from the mnemonic (another random source: another attestation key)
STACK_SIM_SEED=9 start_sim
init_sim
start_daemon c-replaced
h=$(health)
[ "$(jq -r .recovering <<<"$h")" = true ] || fail "the replaced signer is not being recovered: $h"
out=$(curl -s -m 10 -w '\n%{http_code}' -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  --data-binary '{"amount":1000}' "http://127.0.0.1:$api_port/v1/codes")
[ "$(tail -n 1 <<<"$out")" = 503 ] && head -n 1 <<<"$out" | jq -r .error.message | grep -q recovering ||
  fail "a write while the replacement recovers: $out"
grep -q 'recovery.replaced_signer' "$dir/d.c-replaced.err" || fail "the replacement is not logged"
operator & op_pid=$!
for _ in $(seq 300); do
  [ "$(health | jq -r .recovering)" = false ] && break
  mine 1
  sleep 0.5
done
kill $op_pid 2>/dev/null; wait $op_pid 2>/dev/null
[ "$(health | jq -r .recovering)" = false ] || fail "the replacement did not end: $(health)"
pass "(c) the new device swept the wallet and continued the old log, approved on it; writes accepted again"

# the new device's NONCE_RESET entry names the dead device's key and its last archived head
reset=$(sqlite3 "$dir/ledger.db" "SELECT lower(hex(substr(entry, 57, 32))), lower(hex(substr(entry, 97, 32))) FROM signer_log WHERE substr(entry, 2, 1) = x'0a'")
[ "$reset" = "$old_key|$old_head" ] || fail "NONCE_RESET names '$reset', expected '$old_key|$old_head'"
[ "$(sqlite3 "$dir/ledger.db" "SELECT count(DISTINCT device_key) FROM signer_log_retired")" = 1 ] ||
  fail "the old device's log was not kept"
pass "(c) the new device's log continues the old one (NONCE_RESET names its key and head); the old log is archived"

rpc testnode_clearfaults '[]' >/dev/null
wait_settled
mine 2
all_paid_once "$dir/codes.c"
issue_codes c2 2
redeem_all "$dir/codes.c2"
wait_settled
all_paid_once "$dir/codes.c2"
pass "(c) every code paid exactly once on chain, none unpaid ($(wc -l <"$dir/codes.c") codes); new payouts flow"

# ---- (d) both at once is not built (docs/RECOVERY.md): a backup restored onto another replacement
# device is refused, signing disabled with the reason, and nothing is answered from it
"$B/oncesign" ledger backup --db "$dir/ledger.db" --out "$dir/d.db" >/dev/null 2>"$dir/d.err" || fail "backup: $(cat "$dir/d.err")"
stop_daemon
kill -9 "$sim_pid"; wait "$sim_pid" 2>/dev/null; sim_pid=
rm -f "$dir/flash.bin"
STACK_SIM_SEED=10 start_sim
init_sim
cp "$dir/d.db" "$dir/ledger.db" && rm -f "$dir/ledger.db-wal" "$dir/ledger.db-shm"
start_daemon d-both
h=$(health)
[ "$(jq -r .signing_disabled <<<"$h")" = true ] && jq -r .signer_error <<<"$h" | grep -q 'replaced signer at once' ||
  fail "a restored backup on a replaced signer: $h"
out=$(curl -s -m 10 -w '\n%{http_code}' -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  --data-binary '{"amount":1000}' "http://127.0.0.1:$api_port/v1/codes")
[ "$(tail -n 1 <<<"$out")" = 503 ] || fail "a write on (d): $out"
mine 1
all_paid_once "$dir/codes.c"
pass "(d) a restored backup on a replaced signer is refused (not built: fail closed), every code still paid once"
