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
start_recovering c-replaced
grep -q 'recovery.replaced_signer' "$dir/d.c-replaced.err" || fail "the replacement is not logged"
recover_until_done c-replaced
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

# ---- (d) both at once (docs/RECOVERY.md, "Both at once"): the ledger is restored from a backup older
# than the dead device's last signatures AND the device is replaced from its mnemonic. What the dead
# device signed after the backup is only on chain: oncesignd finds it there (every transaction spending a
# coin of the wallet since the backup), records it, holds the codes of an amount it paid, lets it confirm,
# has the operator approve NONCE_RESET on the new device, sweeps, and reopens. The backend submits again
# what /v1/recovery does not show paid; the chain then shows every code and withdrawal paid exactly once.
issue_codes d 10
head -n 4 "$dir/codes.d" >"$dir/codes.d1"; tail -n 6 "$dir/codes.d" >"$dir/codes.d2"
redeem_all "$dir/codes.d1"
"$B/oncesign" --json ledger backup --db "$dir/ledger.db" --out "$dir/d.db" >"$dir/d.json" 2>"$dir/d.err" ||
  fail "backup: $(cat "$dir/d.err")"
faults
# payouts go on after the backup: codes issued before it redeemed after it, and withdrawals; some of
# what the device signs after it confirms, some is still in the mempool when the ledger's disk and the
# signer die together
last=$(sqlite3 "$dir/d.db" "SELECT coalesce(max(id), 0) FROM txs")
since() { sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE id > $last AND state $1"; }
redeem_all "$dir/codes.d2" &
flood_pid=$!
for _ in $(seq 300); do [ "$(since '= 3')" -ge 1 ] && break; sleep 0.1; done
for _ in $(seq 100); do [ "$(since '= 4')" -ge 1 ] && break; mine 1; sleep 0.3; done
[ "$(since '= 4')" -ge 1 ] || fail "nothing signed after the backup confirmed"
wait $flood_pid
withdraw_all wd 3
for _ in $(seq 300); do [ "$(since '= 3')" -ge 1 ] && break; sleep 0.1; done
after=$(( $(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM payouts") - $(jq -r .payouts "$dir/d.json") ))
in_mempool=$(since '= 3'); confirmed=$(since '= 4')
[ "$after" -ge 6 ] || fail "only $after payouts after the backup"
stop_daemon
kill -9 "$sim_pid"; wait "$sim_pid" 2>/dev/null; sim_pid=
rm -f "$dir/flash.bin" "$dir/ledger.db" "$dir/ledger.db-wal" "$dir/ledger.db-shm"
pass "(d) backup taken, $after payouts followed it ($confirmed of the transactions signed after it confirmed, $in_mempool broadcast and unconfirmed); the ledger's disk and the signer are lost together"

STACK_SIM_SEED=10 start_sim
init_sim
"$B/oncesign" ledger verify-backup "$dir/d.db" >/dev/null 2>&1 || fail "verify-backup d.db"
cp "$dir/d.db" "$dir/ledger.db"
reads0=$(node_calls_of getblock); scans0=$(node_calls_of getrawmempool)
start_recovering d-both
grep -q 'recovery.from_chain' "$dir/d.d-both.err" || fail "(d) is not logged as a recovery from the chain"
# the height the chain scan starts at, pinned when the recovery began (8 bytes little-endian, the height + 1)
le=$(sqlite3 "$dir/ledger.db" "SELECT hex(v) FROM meta WHERE k = 'recovery_from_chain'")
[ ${#le} -eq 16 ] || fail "(d) no pinned height in the ledger: '$le'"
pinned=$(( 0x$(fold -w2 <<<"$le" | tac | tr -d '\n') - 1 ))
d_key=$(sqlite3 "$dir/d.db" "SELECT lower(hex(v)) FROM meta WHERE k = 'attestation_key'")
d_head=$(sqlite3 "$dir/d.db" "SELECT lower(hex(entry_hash)) FROM signer_log ORDER BY seq DESC LIMIT 1")
recover_until_done d-both
# the chain scan resumes where its last pass ended, less the reorg depth (confirmations_final), instead
# of reading every block from the pinned height again on each pass: its getblock calls are at most
# the blocks from the pinned height to the tip, once, plus confirmations_final + 1 per pass (a pass
# ends with one getrawmempool, and only a scan asks that)
reads=$(( $(node_calls_of getblock) - reads0 )); scans=$(( $(node_calls_of getrawmempool) - scans0 ))
blocks=$(( $(rpc testnode_stats '[]' | jq -r .height) - pinned + 1 ))   # (getblockcount is under the fault schedule)
[ "$scans" -ge 2 ] || fail "(d) the chain was scanned $scans times"
[ "$reads" -le $(( blocks + scans * (${STACK_CONFIRMATIONS_FINAL:-2} + 1) )) ] ||
  fail "(d) the chain scan read $reads blocks in $scans passes over the $blocks blocks from the pinned height $pinned: it reads them again on each pass"
pass "(d) the chain scan resumed on each pass: $reads getblock calls in $scans passes over $blocks blocks (from height $pinned)"
found=$(grep -c 'recovery.found_on_chain' "$dir/d.d-both.err")
[ "$found" -ge 1 ] || fail "(d) found none of the dead device's transactions on chain"
reset=$(sqlite3 "$dir/ledger.db" "SELECT lower(hex(substr(entry, 57, 32))), lower(hex(substr(entry, 97, 32))) FROM signer_log WHERE substr(entry, 2, 1) = x'0a'")
[ "$reset" = "$d_key|$d_head" ] || fail "(d) NONCE_RESET names '$reset', expected the backup's '$d_key|$d_head'"
r=$(api GET /v1/recovery)
n_rec=$(jq '.recovered_payouts | length' <<<"$r")
n_held=$(jq '.held_codes | length' <<<"$r")
[ "$n_rec" -ge 1 ] && jq -e '.recovered_payouts[] | select(.txid | length == 64) | select(.log_seq == 0)' <<<"$r" >/dev/null ||
  fail "/v1/recovery lists no payout found on chain: $r"
# a code of the backup the dead device paid after it cannot be told apart by the root: it is held, and
# its redeem is refused
checked=0
while read -r code amount dest; do
  jq -e --arg a "$dest" --argjson n "$amount" '.recovered_payouts[] | select(.address == $a and .amount == $n)' <<<"$r" >/dev/null ||
    continue
  [ "$(api GET "/v1/codes/$code" | jq -r .redeemed)" = false ] || continue
  out=$(curl -s -m 10 -w '\n%{http_code}' -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary "{\"address\":\"$dest\"}" "http://127.0.0.1:$api_port/v1/codes/$code/redeem")
  [ "$(tail -n 1 <<<"$out")" = 503 ] || fail "(d) a held code paid on chain was redeemed again: $out"
  checked=$((checked + 1))
done <"$dir/codes.d2"
[ "$n_held" -ge 1 ] && [ "$checked" -ge 1 ] || fail "(d) no code paid after the backup is held: $r"
pass "(d) recovered from the chain: $found transactions of the dead device, $n_rec payouts listed, $n_held codes held; the NONCE_RESET continues the backup's head; writes accepted again"

key=$(sqlite3 "$dir/ledger.db" "SELECT lower(hex(v)) FROM meta WHERE k = 'attestation_key'")
"$B/oncesign" log export --db "$dir/ledger.db" --out "$dir/d.log" >/dev/null 2>"$dir/dlog.err" || fail "log export: $(cat "$dir/dlog.err")"
"$B/oncesign" --json log verify "$dir/d.log" --pubkey "$key" --db "$dir/ledger.db" >"$dir/dverify.json" 2>&1 ||
  fail "(d) the log does not verify against the recovered ledger: $(cat "$dir/dverify.json")"
[ "$(jq -r .by_type.nonce_reset "$dir/dverify.json")" = 1 ] || fail "log verify: $(cat "$dir/dverify.json")"
pass "(d) the new device's audit log verifies against the recovered ledger (oncesign log verify --db)"

backend_resubmit "$dir/codes.d" "$dir/w.wd"
rpc testnode_clearfaults '[]' >/dev/null
wait_settled
mine 2
all_paid_once "$dir/codes.d"
all_paid_once "$dir/w.wd"
all_paid_once "$dir/codes.c"
pass "(d) every code and withdrawal paid exactly once on chain, none unpaid ($(wc -l <"$dir/codes.d") codes, 3 withdrawals)"

issue_codes d3 2
redeem_all "$dir/codes.d3"
wait_settled
all_paid_once "$dir/codes.d3"
pass "(d) new payouts flow after the recovery"
