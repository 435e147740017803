#!/bin/bash
# Issue 12, piece 1 (docs/RECOVERY.md, "Backup"): `oncesign ledger backup` takes a verified online copy
# of a live ledger while payouts go on; `ledger verify-backup` catches a damaged or edited copy; once a
# backup exists, the signer's log is acknowledged only up to the newest backup, so every later entry
# stays on the device for a ledger restored from that backup.
STACK_TAG=backup
. "$(dirname "$0")/lib/stack.bash"
. "$(dirname "$0")/lib/docs.bash"

start_stack 4

dest=$(rpc getnewaddress | jq -r .)
pay() { api POST /v1/payouts "{\"address\":\"$dest\",\"amount\":1000000,\"idempotency_key\":\"bk-$1\"}" | jq -r .id; }
# the simulator takes one host at a time: the daemon is stopped while the test reads the device
device_info() { "$B/oncesign" --json --device "sim:$dir/s.sock" device info; }

# ---- before any backup the daemon acknowledges everything it archived (as before)
first=$(pay 0)
wait_status "$first" confirmed 30 mine
stop_daemon
i=$(device_info)
[ "$(jq -r .log_acked_seq <<<"$i")" -ge "$(jq -r '.log_seq - 1' <<<"$i")" ] ||
  fail "without backups the log should be acknowledged as archived: $i"
key=$(jq -r .attestation_pubkey <<<"$i")
start_daemon second

# ---- a backup under load: payouts are requested while the copy is taken
( for n in $(seq 1 12); do pay "$n" >/dev/null; sleep 0.05; done ) &
load_pid=$!
sleep 0.2
"$B/oncesign" --json ledger backup --db "$dir/ledger.db" --out "$dir/b1.db" >"$dir/b1.json" 2>"$dir/b1.err" ||
  fail "ledger backup under load: $(cat "$dir/b1.err")"
wait $load_pid
[ "$(jq -r .ok "$dir/b1.json")" = true ] || fail "backup answer: $(cat "$dir/b1.json")"
b1_seq=$(jq -r .log_seq "$dir/b1.json")
[ "$b1_seq" -gt 0 ] && [ "$(jq -r .payouts "$dir/b1.json")" -ge 1 ] || fail "backup marker: $(cat "$dir/b1.json")"
[ ! -e "$dir/b1.db.partial" ] && [ ! -e "$dir/b1.db-wal" ] || fail "a .partial or -wal file was left behind"
[ "$(sqlite3 "$dir/b1.db" "PRAGMA journal_mode")" = delete ] || fail "the backup is not one self-contained file"
"$B/oncesign" --json ledger verify-backup "$dir/b1.db" >"$dir/v1.json" 2>"$dir/v1.err" ||
  fail "verify-backup of a fresh backup: $(cat "$dir/v1.err")"
[ "$(jq -r .log_seq "$dir/v1.json")" = "$b1_seq" ] || fail "verify-backup reads another marker: $(cat "$dir/v1.json")"
# the archived audit log is in it and verifies against the device's key
"$B/oncesign" log export --db "$dir/b1.db" --out "$dir/b1.log" >/dev/null 2>"$dir/b1log.err" ||
  fail "log export from the backup: $(cat "$dir/b1log.err")"
"$B/oncesign" log verify "$dir/b1.log" --pubkey "$key" >"$dir/b1verify.out" 2>&1 ||
  fail "the backup's archived log does not verify: $(cat "$dir/b1verify.out")"
pass "a backup taken while 12 payouts were requested is written, verified (log_seq $b1_seq) and holds the audit log"

# every payout of the load is paid exactly once: the backup stopped none of them
for n in $(seq 1 12); do
  id=$(pay "$n")   # the same key answers the same payout
  wait_status "$id" confirmed 60 mine
done
dest_count=$(rpc testnode_received "[[\"$dest\"], 1]" | jq -r ".\"$dest\".count")
[ "$dest_count" = 13 ] || fail "13 payouts to $dest expected on chain, found $dest_count"
pass "the payouts requested during the backup all confirmed (13 outputs on chain)"

# ---- from now on the device keeps every entry after the newest backup
stop_daemon
i=$(device_info)
[ "$(jq -r .log_seq <<<"$i")" -gt "$b1_seq" ] || fail "no signer log entries after the backup: $i"
[ "$(jq -r .log_acked_seq <<<"$i")" -le "$b1_seq" ] ||
  fail "entries after the backup (seq > $b1_seq) were acknowledged: $i"
"$B/oncesign" --device "sim:$dir/s.sock" log export --out "$dir/dev.log" >/dev/null 2>&1 || fail "device log export"
dev_first=$(head -n1 "$dir/dev.log" | sed 's/.* first=\([0-9]*\) .*/\1/')
[ "$dev_first" -le $((b1_seq + 1)) ] || fail "the device no longer holds entry $((b1_seq + 1)) (first $dev_first)"
pass "after the backup the device acknowledges only up to seq $b1_seq and still holds every later entry"
start_daemon third

# a second backup moves the acknowledgement forward
"$B/oncesign" --json ledger backup --db "$dir/ledger.db" --out "$dir/b2.db" >"$dir/b2.json" 2>"$dir/b2.err" ||
  fail "second backup: $(cat "$dir/b2.err")"
b2_seq=$(jq -r .log_seq "$dir/b2.json")
[ "$b2_seq" -gt "$b1_seq" ] || fail "second backup log_seq $b2_seq not after $b1_seq"
id=$(pay 99)   # new work makes the daemon read the log again
wait_status "$id" confirmed 30 mine
stop_daemon
[ "$(device_info | jq -r .log_acked_seq)" -eq "$b2_seq" ] ||
  fail "after the second backup the device acknowledged $(device_info | jq -r .log_acked_seq), expected $b2_seq"
pass "a newer backup (log_seq $b2_seq) moves the device's acknowledgement to it"

# ---- refusals: an existing file is never overwritten; a damaged or edited copy fails verification
"$B/oncesign" ledger backup --db "$dir/ledger.db" --out "$dir/b1.db" >/dev/null 2>"$dir/ow.err"
rc=$?
[ $rc -eq 1 ] && grep -q 'exists' "$dir/ow.err" || fail "backup over an existing file: exit $rc $(cat "$dir/ow.err")"
"$B/oncesign" ledger verify-backup "$dir/b1.db" >/dev/null 2>&1 || fail "the refused backup changed b1.db"

cp "$dir/b1.db" "$dir/edited.db"
sqlite3 "$dir/edited.db" "DELETE FROM payouts WHERE id = (SELECT max(id) FROM payouts)"   # a payout lost
"$B/oncesign" ledger verify-backup "$dir/edited.db" >/dev/null 2>"$dir/ed.err"
rc=$?
[ $rc -eq 3 ] && grep -q 'do not match the backup marker' "$dir/ed.err" ||
  fail "an edited backup: exit $rc $(cat "$dir/ed.err")"

cp "$dir/b1.db" "$dir/corrupt.db"
size=$(stat -c %s "$dir/corrupt.db")
dd if=/dev/urandom of="$dir/corrupt.db" bs=1 seek=$((size / 2)) count=4096 conv=notrunc 2>/dev/null
"$B/oncesign" ledger verify-backup "$dir/corrupt.db" >/dev/null 2>"$dir/co.err"
rc=$?
[ $rc -eq 3 ] || fail "a corrupted backup: exit $rc $(cat "$dir/co.err")"

"$B/oncesign" ledger verify-backup "$dir/ledger.db" >/dev/null 2>"$dir/live.err"
rc=$?
[ $rc -eq 3 ] && grep -q 'no backup marker' "$dir/live.err" || fail "a live ledger passed as a backup: exit $rc"
pass "an existing file is not overwritten; an edited, a corrupted copy and a plain ledger fail verify-backup (exit 3)"

# ---- docs/RECOVERY.md's backup commands, as the page shows them, on this ledger (daemon stopped)
docs_block docs/RECOVERY.md backup-example >"$dir/example.sh" || fail "docs/RECOVERY.md has no block backup-example"
[ "$(grep -c '^oncesign ' "$dir/example.sh")" -eq 3 ] || fail "docs/RECOVERY.md has no backup example"
mkdir -p "$dir/example/backups"
cp "$dir/ledger.db" "$dir/example/oncesign.db"
archived=$(sqlite3 "$dir/example/oncesign.db" "SELECT max(seq) FROM signer_log")
( cd "$dir/example" && oncesign() { timeout 30 "$B/oncesign" "$@"; } && set -e && source "$dir/example.sh" ) \
  >"$dir/example.out" 2>&1 || fail "docs/RECOVERY.md backup example: $(cat "$dir/example.out")"
for line in 'verified         integrity_check ok, marker matches' "signer log       up to seq $archived "; do
  [ "$(grep -c "^$line" "$dir/example.out")" -eq 2 ] || fail "docs/RECOVERY.md example: no '$line' twice: $(cat "$dir/example.out")"
done
[ -s "$dir/example/backup-log.txt" ] && "$B/oncesign" log verify "$dir/example/backup-log.txt" --pubkey "$key" >/dev/null 2>&1 ||
  fail "docs/RECOVERY.md example: the backup's exported log does not verify"
pass "docs/RECOVERY.md's backup commands run as shown"

# a backup of the stopped ledger, newer than every signature (scenario (b) below restores it)
"$B/oncesign" ledger backup --db "$dir/ledger.db" --out "$dir/b3.db" >/dev/null 2>"$dir/b3.err" ||
  fail "backup of a stopped ledger: $(cat "$dir/b3.err")"

# (a backup older than the signer's newest signature, restored: tests/e2e/test_restore.sh recovers it)

# ---- scenario (b): the ledger file is corrupted; oncesignd refuses it and says to restore; the newest
# backup (after the last signature) is restored, and payouts go on, each paid once
cp "$dir/b3.db" "$dir/ledger.db" && rm -f "$dir/ledger.db-wal" "$dir/ledger.db-shm"
size=$(stat -c %s "$dir/ledger.db")
dd if=/dev/urandom of="$dir/ledger.db" bs=1 seek=$((size / 2)) count=8192 conv=notrunc 2>/dev/null
"$B/oncesignd" --db "$dir/ledger.db" --device "sim:$dir/s.sock" --network regtest --port 0 \
  --token-file "$dir/token" >"$dir/corrupt.out" 2>"$dir/corrupt.err"
rc=$?
[ $rc -ne 0 ] && grep -q 'restore it from a backup' "$dir/corrupt.err" ||
  fail "a corrupted ledger: exit $rc $(cat "$dir/corrupt.err")"
"$B/oncesign" ledger verify-backup "$dir/b3.db" >/dev/null 2>&1 || fail "b3 does not verify"
cp "$dir/b3.db" "$dir/ledger.db" && rm -f "$dir/ledger.db-wal" "$dir/ledger.db-shm"
start_daemon b3
[ "$(health | jq -r .ok)" = true ] || fail "the restored ledger is not healthy: $(health)"
[ "$(pay 99)" = "$id" ] || fail "the restored ledger answers bk-99 with another payout"
id=$(pay 100)
wait_status "$id" confirmed 30 mine
[ "$(rpc testnode_received "[[\"$dest\"], 1]" | jq -r ".\"$dest\".count")" = 15 ] ||
  fail "after the restore: $(rpc testnode_received "[[\"$dest\"], 1]")"
pass "(b) a corrupted ledger is refused; the newest backup restores it and payouts go on (15 paid once each)"
