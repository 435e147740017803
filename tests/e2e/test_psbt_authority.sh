#!/bin/bash
# PSBTs carry vouchers and approvals (issue 14) to a simulated signer that requires vouchers and has
# three operators registered, 2 of 3 above 0.1 MONA; then the auditor's check of the result. A
# payout PSBT without its voucher is refused (voucher-missing) and with it signed, and the finalized
# transaction is accepted by the test node; a PSBT above the threshold with one approval is refused
# (quorum-missing) and, run as docs/PSBT.md shows it (block psbt-authority), with two approvals signed;
# a voucher the ledger holds another one for is refused by the host (voucher-conflict). Last
# docs/AUDITING.md's block audit-authority: log verify --db finds both vouchers in the ledger and the
# quorum in the log, and a voucher deleted from the ledger is the finding audit-vouchers-ledger
# (exit 3). Needs $ONCESIGN_BUILD.
STACK_TAG=psbt-authority
. "$(dirname "$0")/lib/stack.bash"
. "$(dirname "$0")/lib/docs.bash"
cd "$(dirname "$0")/../.."

start_node_and_signer
export ONCESIGN_DEVICE="sim:$dir/s.sock"
W=$dir/work
mkdir -p "$W"
cli() { timeout 60 "$B/oncesign" --timeout 20000 "$@"; }
# pressing NAME CMD...: runs `oncesign CMD...` while the operator approves on the device; output in
# $W/NAME.out (stdout) and $W/NAME.err, its exit status returned
pressing() {
  local name=$1 pid rc; shift
  (cd "$W" && cli "$@") >"$W/$name.out" 2>"$W/$name.err" &
  pid=$!
  for _ in $(seq 600); do kill -0 $pid 2>/dev/null || break; ctl approve >/dev/null 2>&1; sleep 0.05; done
  wait $pid; rc=$?
  return $rc
}

# ---- the issuer's key and the operators', registered on the device (approved on its screens)
(
  cd "$W" &&
    cli --json voucher keygen --key issuer.key | jq -r .issuer >issuer.pub &&
    for who in alice bob carol; do cli --json voucher keygen --key "$who.key" | jq -r .issuer >"$who.pub"; done &&
    cli --json device info | jq -r .attestation_pubkey >signer.pub
) || fail "keys"
pressing issuers device issuers --required --issuer "$(cat "$W/issuer.pub")" || fail "device issuers: $(cat "$W/issuers.err")"
pressing operators device operators --k 2 --threshold 10000000 --operator "$(cat "$W/alice.pub")" \
  --operator "$(cat "$W/bob.pub")" --operator "$(cat "$W/carol.pub")" || fail "device operators: $(cat "$W/operators.err")"
cli ledger init --db "$W/oncesign.db" >/dev/null || fail "ledger init"
pass "issuer (vouchers required) and 2-of-3 operators above 10000000 sat registered on the simulator"

# ---- two coins of the signer's on the test node
RPC=(--rpc-url "http://127.0.0.1:$node_port/" --rpc-user u --rpc-password-file "$dir/rpc.password")
a0=$(cli device address --index 0) || fail "device address"
fund1=$(rpc sendtoaddress "[\"$a0\", 2]" | jq -r .)
fund2=$(rpc sendtoaddress "[\"$a0\", 2]" | jq -r .)
mine 1
dest=$(rpc getnewaddress | jq -r .)
# create NAME FUND AMOUNT NONCE CHANGE_INDEX: a payout PSBT in $W/NAME.psbt from the signer's coin in FUND
create() {
  local v
  for v in 0 1; do
    cli psbt create --to "$dest" --amount "$3" --nonce "$4" --input "$2:$v" --change-index "$5" "${RPC[@]}" \
      --out "$W/$1.psbt" >/dev/null 2>"$W/create.err" && return 0
  done
  fail "psbt create found no coin of the signer's in $2: $(cat "$W/create.err")"
}
seq=$(cli --json device info | jq -r .log_seq)
voucher() { # voucher NONCE AMOUNT: the issuer's voucher (hex)
  cli --json voucher sign --key "$W/issuer.key" --signer "$(cat "$W/signer.pub")" --network regtest --amount "$2" \
    --expiry-seq $((seq + 100)) --nonce "$1" | jq -r .voucher
}

# ---- a payout below the threshold: refused without its voucher, signed with it
NONCE_A=$(printf 'a%063x' 1)
create a "$fund1" 1000000 "$NONCE_A" 1
pressing sign_a0 --json sign "$W/a.psbt" --db "$W/oncesign.db" --finalize && fail "signed without a voucher"
jq -e '.error.name == "voucher-missing" and .error.refused' "$W/sign_a0.out" >/dev/null ||
  fail "no voucher: $(cat "$W/sign_a0.out" "$W/sign_a0.err")"
VA=$(voucher "$NONCE_A" 1000000)
[ ${#VA} -eq 428 ] || fail "voucher sign: '$VA'"
cli psbt bind "$W/a.psbt" --output 0 --voucher "$VA" --out "$W/a.psbt" || fail "psbt bind --voucher"
cli --json psbt inspect "$W/a.psbt" --network regtest >"$W/inspect_a.json" || fail "psbt inspect"
jq -e --arg n "$NONCE_A" '.outputs[0].nonce == $n and (.outputs[0].voucher_id | length) == 64 and
    (.commitment | length) == 64 and .approvals == []' "$W/inspect_a.json" >/dev/null ||
  fail "inspect after bind --voucher: $(cat "$W/inspect_a.json")"
pressing sign_a --json sign "$W/a.psbt" --db "$W/oncesign.db" --finalize || fail "sign with the voucher: $(cat "$W/sign_a.out" "$W/sign_a.err")"
sent=$(rpc sendrawtransaction "[\"$(jq -r .hex "$W/sign_a.out")\"]" | jq -r .)
[ "$sent" = "$(jq -r .txid "$W/sign_a.out")" ] || fail "the test node refused the vouchered transaction: $sent"
pass "a payout PSBT without its voucher is refused (voucher-missing); bound to it, signed and accepted by the node"

# another voucher for the committed nonce: the ledger holds its voucher, the host refuses
VA2=$(voucher "$NONCE_A" 999999)
cli psbt bind "$W/a.psbt" --output 0 --voucher "$VA2" --out "$W/a2.psbt" || fail "psbt bind another voucher"
cli --json sign "$W/a2.psbt" --db "$W/oncesign.db" --finalize >"$W/sign_a2.out" 2>"$W/sign_a2.err" && fail "a conflicting voucher signed"
jq -e '.error.name == "voucher-conflict"' "$W/sign_a2.out" >/dev/null || fail "conflicting voucher: $(cat "$W/sign_a2.out")"
pass "a voucher for a nonce the ledger holds another voucher for is refused by the host (voucher-conflict)"

# ---- above the threshold: one approval is k - 1, refused; docs/PSBT.md with two, signed
NONCE_B=$(printf 'b%063x' 2)
create payout "$fund2" 50000000 "$NONCE_B" 2
VOUCHER=$(voucher "$NONCE_B" 50000000)
cp "$W/payout.psbt" "$W/b1.psbt"
cli psbt bind "$W/b1.psbt" --output 0 --voucher "$VOUCHER" --out "$W/b1.psbt" || fail "bind b1"
commitment=$(cli --json psbt inspect "$W/b1.psbt" --network regtest | jq -r .commitment)
one=$(cli approve --key "$W/alice.key" --commitment "$commitment" --signer "$(cat "$W/signer.pub")" --expiry-seq $((seq + 100)))
cli psbt add-approval "$W/b1.psbt" --approval "$one" --out "$W/b1.psbt" || fail "add-approval"
pressing sign_b1 --json sign "$W/b1.psbt" --db "$W/oncesign.db" --finalize && fail "signed with k - 1 approvals"
jq -e '.error.name == "quorum-missing" and .error.refused' "$W/sign_b1.out" >/dev/null ||
  fail "k - 1 approvals: $(cat "$W/sign_b1.out" "$W/sign_b1.err")"
pass "a PSBT above the threshold with one approval (k - 1) is refused (quorum-missing)"

docs_block docs/PSBT.md psbt-authority >"$dir/psbt.sh" || fail "docs/PSBT.md has no block psbt-authority"
LOG_SEQ=$seq
(
  cd "$W" && export PATH="$B:$PATH" VOUCHER LOG_SEQ && oncesign() { timeout 60 "$B/oncesign" --timeout 20000 "$@"; } &&
    docs_source docs/PSBT.md 0 "$dir/psbt.sh"
) >"$W/psbt.out" 2>"$W/psbt.err" &
block=$!
for _ in $(seq 600); do kill -0 $block 2>/dev/null || break; ctl approve >/dev/null 2>&1; sleep 0.05; done
wait $block || fail "docs/PSBT.md psbt-authority: $(cat "$W/psbt.out" "$W/psbt.err")"
jq -e '.ok and (.txid | length) == 64' "$W/psbt.out" >/dev/null || fail "the block's sign: $(cat "$W/psbt.out")"
[ "$(cli --json psbt inspect "$W/payout.psbt" --network regtest | jq '.approvals | length')" = 2 ] || fail "two approvals carried"
sent=$(rpc sendrawtransaction "[\"$(cat "$W/payout.hex")\"]" | jq -r .)
[ "$sent" = "$(jq -r .txid "$W/psbt.out")" ] || fail "the test node refused the approved transaction: $sent"
pass "docs/PSBT.md psbt-authority runs as shown: voucher bound, two approvals added, signed, accepted by the node"

# ---- the audit: docs/AUDITING.md, block audit-authority
docs_block docs/AUDITING.md audit-authority >"$dir/audit.sh" || fail "docs/AUDITING.md has no block audit-authority"
(
  cd "$W" && KEY=$(cat signer.pub) NONCE=$NONCE_A && oncesign() { timeout 60 "$B/oncesign" --timeout 20000 "$@"; } &&
    source "$dir/audit.sh"
) >"$W/audit.out" 2>"$W/audit.err"
[ "$(grep -c '^exit 0$' "$W/audit.out")" -eq 1 ] && [ "$(grep -c '^exit 3$' "$W/audit.out")" -eq 1 ] ||
  fail "audit-authority: exit codes $(grep '^exit' "$W/audit.out" | tr '\n' ' '); $(cat "$W/audit.err")"
grep '^{' "$W/audit.out" | jq -e '.vouchered_signs == 2 and .quorum_signs == 1 and .ledger_vouchers_matched == 2 and
    .with_ledger and ([.findings[]] | add) == 0' >/dev/null || fail "the honest audit: $(cat "$W/audit.out")"
grep -q '^findings           audit-vouchers-ledger=1$' "$W/audit.out" || fail "the tampered ledger: $(cat "$W/audit.out")"
grep -q 'audit-vouchers-ledger' "$W/audit.err" || fail "stderr does not name the finding: $(cat "$W/audit.err")"
pass "docs/AUDITING.md audit-authority runs as shown: vouchers and quorum check out, a deleted voucher is a finding (exit 3)"
