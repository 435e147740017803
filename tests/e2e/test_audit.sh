#!/bin/bash
# End-to-end: the auditor's tools (docs/AUDITING.md, I5) against the simulated signer. The scenario
# (build/oncesign-scenario) makes SIGN and REFUSE_COMMITTED entries, the simulator restarts (BOOT);
# `oncesign log export --device` writes the log, `oncesign log verify --pubkey --head` accepts it,
# and every tampering (an edited byte, a dropped line, two lines swapped, the last line cut, another
# key) makes it exit 3 with the reason. Needs $ONCESIGN_BUILD (the build directory).
set -uo pipefail
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
. "$(dirname "$0")/lib/docs.bash"
SIM=$B/oncesign-sim CLI=$B/oncesign SCEN=$B/oncesign-scenario
for x in "$SIM" "$CLI" "$SCEN"; do [ -x "$x" ] || { echo "FAIL: $x not built" >&2; exit 1; }; done
command -v jq >/dev/null || { echo "FAIL: jq is needed" >&2; exit 1; }
dir=$(mktemp -d /tmp/oncesign-audit.XXXXXX)
sim_pid=
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/*.out "$dir"/*.err; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 8 "$f" >&2; }; done; exit 1; }
pass() { echo "ok - $*"; }
export ONCESIGN_DEVICE=sim:$dir/s.sock
cli() { timeout 30 "$CLI" --timeout 5000 "$@"; }

start_sim() {
  rm -f "$dir/s.sock" "$dir/c.sock"
  "$SIM" --socket "$dir/s.sock" --flash "$dir/flash.bin" --control "$dir/c.sock" --no-tty </dev/null 2>>"$dir/sim.log" &
  sim_pid=$!
  for _ in $(seq 200); do
    [ -S "$dir/c.sock" ] && [ "$("$SIM" --control "$dir/c.sock" --send ping 2>/dev/null)" = pong ] && return 0
    sleep 0.05
  done
  fail "simulator did not start"
}
stop_sim() { [ -n "$sim_pid" ] && { kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null; }; sim_pid=; }

start_sim
cli device init --network regtest --restore \
  "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" >"$dir/init.out" 2>&1 &
init_pid=$!
for _ in $(seq 100); do "$SIM" --control "$dir/c.sock" --send approve >/dev/null 2>&1; kill -0 $init_pid 2>/dev/null || break; sleep 0.1; done
wait $init_pid || fail "device init"
"$SCEN" --device "$ONCESIGN_DEVICE" phase1 >"$dir/p1.out" 2>&1 || fail "scenario phase1"
stop_sim
start_sim
"$SCEN" --device "$ONCESIGN_DEVICE" phase2 >"$dir/p2.out" 2>&1 || fail "scenario phase2"

cli --json device info >"$dir/info.json" 2>"$dir/info.err" || fail "device info"
KEY=$(jq -r .attestation_pubkey "$dir/info.json")
HEAD=$(jq -r .log_head "$dir/info.json")
SEQ=$(jq -r .log_seq "$dir/info.json")
[ ${#KEY} -eq 64 ] && [ ${#HEAD} -eq 64 ] || fail "device info has no key/head"

cli log export --out "$dir/log.txt" >"$dir/export.out" 2>"$dir/export.err" || fail "log export exited $?"
head -n1 "$dir/log.txt" | grep -Eq "^oncesign-log v1 attestation=$KEY first=1 last=$SEQ\$" || fail "header: $(head -n1 "$dir/log.txt")"
[ "$(tail -n +2 "$dir/log.txt" | grep -Ec '^[0-9a-f]{512}$')" -eq "$SEQ" ] || fail "export does not hold $SEQ entry lines"
pass "log export --device: header and $SEQ entries"

cli log verify "$dir/log.txt" --pubkey "$KEY" --head "$HEAD" >"$dir/verify.out" 2>"$dir/verify.err" || fail "verify exited $?"
grep -q "verdict            OK" "$dir/verify.out" || fail "no OK verdict"
cli --json log verify "$dir/log.txt" --pubkey "$KEY" --head "$HEAD" >"$dir/verify.json" 2>"$dir/verify.err" || fail "verify --json exited $?"
[ "$(jq -r '.ok, .head_checked, .pubkey_source' "$dir/verify.json" | tr '\n' ' ')" = "true true auditor " ] || fail "json: $(cat "$dir/verify.json")"
[ "$(jq -r '.by_type.sign >= 2 and .refusals >= 2 and .boots >= 1 and .by_type.setup == 1' "$dir/verify.json")" = true ] \
  || fail "counts: $(cat "$dir/verify.json")"
pass "log verify --pubkey --head: OK ($(jq -c '{entries,signatures_released,refusals,boots}' "$dir/verify.json"))"

# docs/AUDITING.md's `log match` block, run as written on the raw transaction phase 1 signed: its
# SIGN entry is found by the transaction digest; the same transaction with another locktime is not.
RAW=$(sed -n 's/^scenario: raw //p' "$dir/p1.out")
SIGN_SEQ=$(sed -n 's/.*(log entry #\([0-9]*\))$/\1/p' "$dir/p1.out")
[ -n "$RAW" ] && [ -n "$SIGN_SEQ" ] || fail "scenario phase1 printed no raw transaction or entry seq"
docs_block docs/AUDITING.md match-example >"$dir/match.sh" || fail "docs/AUDITING.md has no block match-example"
[ "$(grep -c '^oncesign log match ' "$dir/match.sh")" -eq 2 ] || fail "docs/AUDITING.md has no log match example"
( cd "$dir" && oncesign() { timeout 30 "$CLI" "$@"; } && KEY=$KEY RAW=$RAW && source "$dir/match.sh" ) \
  >"$dir/match.out" 2>&1
grep -q "^entry $SIGN_SEQ (SIGN) names this transaction: hash_prevouts [0-9a-f]\{64\} tx_digest [0-9a-f]\{64\}$" \
  "$dir/match.out" || fail "log match: entry $SIGN_SEQ not named: $(cat "$dir/match.out")"
[ "$(grep '^exit' "$dir/match.out" | tr '\n' ' ')" = "exit 0 exit 3 " ] || fail "log match exit codes: $(cat "$dir/match.out")"
grep -q "^no SIGN entry names this transaction" "$dir/match.out" || fail "log match: another locktime matched"
[ "$(cli --json log match "$dir/log.txt" --pubkey "$KEY" --raw "$RAW" | jq -r '.matched, .seq' | tr '\n' ' ')" \
  = "true $SIGN_SEQ " ] || fail "log match --json"
cli log match "$dir/log.txt" --pubkey "$KEY" --raw 00 >/dev/null 2>&1; [ $? -eq 3 ] || fail "an unparsable --raw is not exit 3"
pass "log match: the chain transaction is entry $SIGN_SEQ's; with another locktime it is no entry's"

# Without --pubkey: verifies under the header's key, and says so.
cli log verify "$dir/log.txt" >"$dir/nokey.out" 2>"$dir/nokey.err" || fail "verify without --pubkey exited $?"
grep -q "NOT INDEPENDENTLY CHECKED" "$dir/nokey.out" && grep -q WARNING "$dir/nokey.err" || fail "no loud warning without --pubkey"
pass "log verify without --pubkey warns that the key came from the file"

# expect_bad NAME FILE REASON [extra args]: exit 3 and the status name in the JSON error.
expect_bad() {
  local name=$1 file=$2 want=$3; shift 3
  cli --json log verify "$file" --pubkey "$KEY" "$@" >"$dir/bad.json" 2>"$dir/bad.err"
  local rc=$?
  [ $rc -eq 3 ] || fail "$name: exit $rc, expected 3"
  [ "$(jq -r .error.name "$dir/bad.json")" = "$want" ] || fail "$name: reason $(jq -c .error "$dir/bad.json"), expected $want"
  pass "$name: exit 3, $want at entry $(jq -r .error.seq "$dir/bad.json")"
}
# one hex digit changed inside entry 3's payload
awk 'NR==4 { c = substr($0, 200, 1); $0 = substr($0, 1, 199) (c == "0" ? "1" : "0") substr($0, 201) } { print }' \
  "$dir/log.txt" >"$dir/edit.txt"
expect_bad "edited entry" "$dir/edit.txt" log-signature
sed '4d' "$dir/log.txt" >"$dir/gap.txt"
expect_bad "dropped entry" "$dir/gap.txt" log-seq
awk 'NR==4 { hold = $0; next } NR==5 { print; print hold; next } { print }' "$dir/log.txt" >"$dir/swap.txt"
expect_bad "swapped entries" "$dir/swap.txt" log-seq
# the last entry cut and the header fixed to match: only --head shows it
{ head -n1 "$dir/log.txt" | sed "s/last=$SEQ\$/last=$((SEQ - 1))/"; sed -n "2,${SEQ}p" "$dir/log.txt"; } >"$dir/trunc.txt"
cli log verify "$dir/trunc.txt" --pubkey "$KEY" >/dev/null 2>&1 || fail "a consistent prefix should verify without --head"
expect_bad "truncated end (with --head)" "$dir/trunc.txt" log-head --head "$HEAD"
OTHER=$(printf '%064x' 7)
cli --json log verify "$dir/log.txt" --pubkey "$OTHER" >"$dir/bad.json" 2>/dev/null
[ $? -eq 3 ] && [ "$(jq -r .error.name "$dir/bad.json")" = log-signature ] || fail "another key: $(cat "$dir/bad.json")"
pass "another attestation key: exit 3, log-signature"

# An empty file, and a file with its front cut off (header rewritten to match), prove nothing by
# themselves: refused without a head to check them against (issue 10).
printf 'oncesign-log v1 attestation=%s first=0 last=0\n' "$KEY" >"$dir/empty.txt"
expect_bad "empty file without --head" "$dir/empty.txt" log-start
{ head -n1 "$dir/log.txt" | sed 's/ first=1 / first=3 /'; tail -n +4 "$dir/log.txt"; } >"$dir/front.txt"
expect_bad "front cut without --from" "$dir/front.txt" log-start
# an earlier audit that ended at entry 2: its last entry hash is where the cut file continues
{ head -n1 "$dir/log.txt" | sed "s/ last=$SEQ\$/ last=2/"; sed -n 2,3p "$dir/log.txt"; } >"$dir/first2.txt"
FROM=$(cli --json log verify "$dir/first2.txt" --pubkey "$KEY" 2>/dev/null | jq -r .head)
[ ${#FROM} -eq 64 ] || fail "the audit of entries 1..2 gave no head"
cli log verify "$dir/front.txt" --pubkey "$KEY" --head "$HEAD" --from "$FROM" >"$dir/from.out" 2>&1 \
  || fail "front cut with the right --from (hash of entry 2) should verify: $(tail -2 "$dir/from.out")"
expect_bad "front cut with another --from" "$dir/front.txt" log-chain --from "$(printf '%064x' 5)"
pass "log verify --from HASH: continues an earlier audit's head; a wrong one fails at the first link"

# The worked example of docs/AUDITING.md, run exactly as written there.
docs_block docs/AUDITING.md worked-example >"$dir/example.sh" || fail "docs/AUDITING.md has no block worked-example"
[ "$(grep -c '^oncesign ' "$dir/example.sh")" -ge 5 ] || fail "docs/AUDITING.md has no worked example"
mkdir -p "$dir/example"
( cd "$dir/example" && oncesign() { timeout 30 "$CLI" --timeout 5000 "$@"; } && source "$dir/example.sh" ) \
  >"$dir/example.out" 2>&1
[ "$(grep -c '^exit 0$' "$dir/example.out")" -eq 1 ] && [ "$(grep -c '^exit 3$' "$dir/example.out")" -eq 2 ] \
  || fail "worked example: exit codes $(grep '^exit' "$dir/example.out" | tr '\n' ' ')"
grep -q "verdict            OK" "$dir/example.out" || fail "worked example: the intact export does not verify"
grep -q "entry 3: entry 3 (line 4, claims seq 4): log-seq" "$dir/example.out" || fail "worked example: removed entry not named"
grep -q "\[log-start\]" "$dir/example.out" || fail "worked example: front cut not refused with log-start"
pass "docs/AUDITING.md worked example: the removed entry 3 and the cut front are detected as the page says"

# usage and I/O exit codes
cli log verify "$dir/log.txt" --pubkey nothex >/dev/null 2>&1; [ $? -eq 1 ] || fail "bad --pubkey is not a usage error"
cli log verify "$dir/missing.txt" --pubkey "$KEY" >/dev/null 2>&1; [ $? -eq 2 ] || fail "a missing file is not exit 2"
cli log export --device "" >/dev/null 2>&1; [ $? -eq 1 ] || fail "export without a source is not a usage error"
pass "exit codes: 1 usage, 2 unreadable file"
stop_sim
echo "ok - audit e2e done"
