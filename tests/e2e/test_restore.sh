#!/bin/bash
# Issue 12, scenarios (a) and (b) (docs/RECOVERY.md, "Restore"): the ledger's disk is lost (a), or its
# file is corrupted (b), and the newest backup is older than the signer's last signature: payouts went
# on after it. The daemon on the restored backup refuses every write (503, the reason, health says
# recovering), matches the signer's later signatures to the chain, sweeps every coin, asks the operator
# for the nonce-set reset on the simulator, and accepts writes again; GET /v1/recovery lists what was
# recovered, and the backend submits again what it lists as lost. The chain then shows every code and
# every withdrawal paid exactly once and none unpaid. In (a) the node runs the flood's fault schedule
# (half the sends answered late or dropped after acceptance, 30 % of the queries too) throughout.
STACK_TAG=restore
STACK_CONFIRMATIONS_FINAL=${STACK_CONFIRMATIONS_FINAL:-2}
. "$(dirname "$0")/lib/stack.bash"
. "$(dirname "$0")/lib/docs.bash"
. "$(dirname "$0")/lib/recovery.bash"

start_stack 8
DAEMON_ARGS=(--operator-wait-ms 60000)

# restore_by_runbook BACKUP: docs/RECOVERY.md's restore commands, as the page shows them, in a directory
# holding backups/, whose oncesign.db then becomes the stack's ledger
restore_by_runbook() {
  docs_block docs/RECOVERY.md restore-example >"$dir/restore.sh" || fail "docs/RECOVERY.md has no block restore-example"
  [ "$(grep -c '^oncesign \|^cp \|^rm ' "$dir/restore.sh")" -eq 3 ] || fail "docs/RECOVERY.md has no restore example"
  rm -rf "$dir/rx" && mkdir -p "$dir/rx/backups"
  cp "$1" "$dir/rx/backups/oncesign-2026-12-03T1400.db"
  echo stale >"$dir/rx/oncesign.db-wal"
  ( cd "$dir/rx" && oncesign() { timeout 30 "$B/oncesign" "$@"; } && set -e && source "$dir/restore.sh" ) \
    >"$dir/restore.out" 2>&1 || fail "docs/RECOVERY.md restore example: $(cat "$dir/restore.out")"
  grep -q '^verified         integrity_check ok, marker matches' "$dir/restore.out" || fail "restore example: $(cat "$dir/restore.out")"
  [ ! -e "$dir/rx/oncesign.db-wal" ] || fail "the restore example left the old -wal"
  mv "$dir/rx/oncesign.db" "$dir/ledger.db"
}

# restore_and_recover BACKUP|- TAG: the daemon on a copy of BACKUP (-: already in place), recovering until
# writes are accepted again
restore_and_recover() {
  [ "$1" = - ] || { cp "$1" "$dir/ledger.db" && rm -f "$dir/ledger.db-wal" "$dir/ledger.db-shm"; }
  start_recovering "$2"
  grep -q 'recovering' "$dir/d.$2.err" || fail "the daemon did not log the recovery"
  recover_until_done "$2"
}

# ---------------------------------------------------------------- (a) disk lost, backup N payouts old
faults
issue_codes a 16
head -n 8 "$dir/codes.a" >"$dir/codes.a1"; tail -n 8 "$dir/codes.a" >"$dir/codes.a2"
redeem_all "$dir/codes.a1" &
flood_pid=$!
# the backup lands while the first transactions are being signed and broadcast
for _ in $(seq 100); do [ "$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs")" -ge 1 ] && break; sleep 0.05; done
"$B/oncesign" --json ledger backup --db "$dir/ledger.db" --out "$dir/a.db" >"$dir/a.json" 2>"$dir/a.err" ||
  fail "backup: $(cat "$dir/a.err")"
wait $flood_pid
# payouts go on after the backup: codes issued before it redeemed after it, and withdrawals
redeem_all "$dir/codes.a2"
withdraw_all wa 4
# some of what was signed after the backup confirms, some is still in the mempool when the disk dies
mine 1
sleep 3
backup_payouts=$(jq -r .payouts "$dir/a.json")
in_flight=$(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM txs WHERE state IN (1, 2, 3, 7)")
after=$(( $(sqlite3 "$dir/ledger.db" "SELECT count(*) FROM payouts") - backup_payouts ))
[ "$after" -ge 8 ] || fail "only $after payouts after the backup"
stop_daemon
rm -f "$dir/ledger.db" "$dir/ledger.db-wal" "$dir/ledger.db-shm"
pass "(a) backup taken during a redeem flood under the fault schedule ($(jq -r .txs "$dir/a.json") transactions in it); $after payouts followed it; the ledger's disk is lost with $in_flight transactions unconfirmed"

restore_by_runbook "$dir/a.db"
restore_and_recover - a-restored
r=$(api GET /v1/recovery)
[ "$(jq -r .recovering <<<"$r")" = false ] || fail "/v1/recovery: $r"
n_rec=$(jq '.recovered_payouts | length' <<<"$r")
[ "$n_rec" -ge 1 ] || fail "/v1/recovery lists no recovered payout: $r"
jq -e '.recovered_payouts[] | select(.txid | length == 64) | select(.address | length > 20)' <<<"$r" >/dev/null ||
  fail "/v1/recovery entries lack txid/address: $r"
jq -r .lost <<<"$r" | grep -q 'submit again' || fail "/v1/recovery does not say what cannot be known: $r"
pass "(a) recovered: $n_rec payouts signed after the backup are listed with txid, address and amount; writes accepted again"

# the auditor: the archived log verifies as one chain through the NONCE_RESET entry, and the cross-check
# against the ledger accounts for every SIGN entry (the ones after the backup by the recovery's record)
key=$(sqlite3 "$dir/ledger.db" "SELECT hex(v) FROM meta WHERE k = 'attestation_key'" | tr 'A-F' 'a-f')
"$B/oncesign" log export --db "$dir/ledger.db" --out "$dir/a.log" >/dev/null 2>"$dir/alog.err" || fail "log export: $(cat "$dir/alog.err")"
"$B/oncesign" --json log verify "$dir/a.log" --pubkey "$key" --db "$dir/ledger.db" >"$dir/averify.json" 2>&1 ||
  fail "the log does not verify against the recovered ledger: $(cat "$dir/averify.json")"
[ "$(jq -r .by_type.nonce_reset "$dir/averify.json")" = 1 ] && [ "$(jq -r .ledger.sign_recovered "$dir/averify.json")" -ge 1 ] &&
  [ "$(jq -r .ledger.replay_from "$dir/averify.json")" -gt 1 ] || fail "log verify: $(cat "$dir/averify.json")"
pass "(a) the audit log verifies through the reset; every SIGN entry is accounted for by the ledger"


cat "$dir/codes.a1" "$dir/codes.a2" >"$dir/codes.all"
backend_resubmit "$dir/codes.all" "$dir/w.wa"
rpc testnode_clearfaults '[]' >/dev/null
wait_settled
mine 2
all_paid_once "$dir/codes.a"
all_paid_once "$dir/w.wa"
pass "(a) every code and withdrawal paid exactly once on chain, none unpaid ($(wc -l <"$dir/codes.a") codes, 4 withdrawals)"

# new work flows on the new nonce set
issue_codes a3 2
redeem_all "$dir/codes.a3"
wait_settled
all_paid_once "$dir/codes.a3"
pass "(a) new payouts flow after the recovery"

# ---------------------------------------------------------------- (b) the ledger file is corrupted
"$B/oncesign" ledger backup --db "$dir/ledger.db" --out "$dir/b.db" >/dev/null 2>"$dir/b.err" || fail "backup b: $(cat "$dir/b.err")"
issue_codes b 6
redeem_all "$dir/codes.b"
withdraw_all wb 2
sleep 2
stop_daemon
size=$(stat -c %s "$dir/ledger.db")
dd if=/dev/urandom of="$dir/ledger.db" bs=1 seek=$((size / 2)) count=8192 conv=notrunc 2>/dev/null
"$B/oncesignd" --db "$dir/ledger.db" --device "sim:$dir/s.sock" --network regtest --port 0 \
  --token-file "$dir/token" >"$dir/corrupt.out" 2>"$dir/corrupt.err"
rc=$?
[ $rc -ne 0 ] && grep -q 'restore it from a backup' "$dir/corrupt.err" || fail "a corrupted ledger: exit $rc $(cat "$dir/corrupt.err")"
restore_and_recover "$dir/b.db" b-restored
backend_resubmit "$dir/codes.b" "$dir/w.wb"
wait_settled
mine 2
all_paid_once "$dir/codes.b"
all_paid_once "$dir/w.wb"
all_paid_once "$dir/codes.a"
pass "(b) a corrupted ledger restored from a backup older than the signer recovers; every payout paid exactly once"
