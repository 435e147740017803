#!/bin/bash
# Issuer vouchers end to end (issue 14) on the simulated signer, oncesignd and the test node, run as
# docs/OPERATING.md ("Vouchers", block voucher-setup) and docs/API.md ("Vouchers", block
# voucher-example) show them: the operator registers the issuer key on the device (approve pressed
# through the simulator's control socket), oncesignd runs with vouchers-required 1, the backend's
# gift code and withdrawal with their vouchers are paid exactly once. Then the hostile cases through
# the API: no voucher (422), a tampered one (422), a withdrawal to another address than its voucher
# binds (422), a voucher used twice (409); and the issuer tool refuses a key file others can read.
# Last the auditor: log verify --db of the daemon's archive finds every VOUCHERS entry's vouchers in
# the ledger, no finding. Needs $ONCESIGN_BUILD.
STACK_TAG=vouchers
. "$(dirname "$0")/lib/stack.bash"
. "$(dirname "$0")/lib/docs.bash"
cd "$(dirname "$0")/../.."
root=$PWD

start_node_and_signer

# ---- docs/OPERATING.md: the issuer key, the signer's key, the registration (approved on the device)
mkdir -p "$dir/backend"
docs_block docs/OPERATING.md voucher-setup >"$dir/setup.sh" || fail "docs/OPERATING.md has no block voucher-setup"
(
  cd "$dir/backend" && export ONCESIGN_DEVICE="sim:$dir/s.sock" PATH="$B:$PATH" &&
    docs_source docs/OPERATING.md 0 "$dir/setup.sh"
) >"$dir/setup.out" 2>&1 &
setup_pid=$!
for _ in $(seq 400); do kill -0 $setup_pid 2>/dev/null || break; ctl approve >/dev/null 2>&1; sleep 0.05; done
wait $setup_pid || fail "docs/OPERATING.md voucher-setup: $(cat "$dir/setup.out")"
[ "$(stat -c %a "$dir/backend/issuer.key")" = 600 ] || fail "issuer.key is not mode 0600"
[ "$(wc -c <"$dir/backend/issuer.pub")" -eq 65 ] && [ "$(wc -c <"$dir/backend/signer.pub")" -eq 65 ] ||
  fail "issuer.pub / signer.pub: $(cat "$dir/backend/issuer.pub" "$dir/backend/signer.pub")"
grep -q "fingerprint\|Issuers set: 1 key(s), vouchers required" "$dir/setup.out" || fail "device issuers: $(cat "$dir/setup.out")"
pass "docs/OPERATING.md voucher-setup runs as shown: key made (0600), registered on the device with vouchers required"

# the tool refuses a key file others can read
chmod 644 "$dir/backend/issuer.key"
"$B/oncesign" voucher sign --key "$dir/backend/issuer.key" --signer "$(cat "$dir/backend/signer.pub")" \
  --amount 1000 --expiry-seq 10 >/dev/null 2>"$dir/perm.err"
rc=$?
[ $rc -eq 2 ] && grep -q "readable by other users" "$dir/perm.err" || fail "a readable key file: exit $rc $(cat "$dir/perm.err")"
chmod 600 "$dir/backend/issuer.key"
pass "voucher sign refuses an issuer key file others can read (exit 2)"

DAEMON_ARGS=(--vouchers-required 1)
start_daemon main
fund_wallet 2
[ "$(health | jq -r .vouchers_required)" = true ] || fail "health: vouchers_required is not true"
[ "$(health | jq -r .signer_attestation_pubkey)" = "$(cat "$dir/backend/signer.pub")" ] ||
  fail "health names another signer than device info"

# ---- docs/API.md: a gift code and a withdrawal with their vouchers
dest=$(rpc getnewaddress | jq -r .)
dest2=$(rpc getnewaddress | jq -r .)
docs_block docs/API.md voucher-example >"$dir/example.sh" || fail "docs/API.md has no block voucher-example"
(
  cd "$dir/backend" && export PATH="$B:$PATH" API="http://127.0.0.1:$api_port" TOKEN="$token" ADDRESS="$dest" \
    ADDRESS2="$dest2" && docs_source docs/API.md 0 "$dir/example.sh"
) >"$dir/example.out" 2>&1 || fail "docs/API.md voucher-example: $(cat "$dir/example.out")"
p1=$(jq -r .id "$dir/backend/vpayout.json")
p2=$(jq -r .id "$dir/backend/vwithdrawal.json")
wait_status "$p1" confirmed 60 mine
wait_status "$p2" confirmed 60 mine
exactly_once "$dest" 25000
exactly_once "$dest2" 40000
pass "docs/API.md voucher-example runs as shown: the code and the withdrawal are paid exactly once"

# ---- what the host refuses before the signer sees it
seq=$(health | jq -r .signer_log_seq)
sign() { "$B/oncesign" voucher sign --key "$dir/backend/issuer.key" --signer "$(cat "$dir/backend/signer.pub")" \
  --network regtest --expiry-seq $((seq + 1000)) "$@"; }
status() { # status METHOD PATH JSON -> HTTP code, body in $dir/r.json
  curl -s -m 10 -o "$dir/r.json" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' --data-binary "$3" "http://127.0.0.1:$api_port$2"
}
[ "$(status POST /v1/codes '{"amount":5000}')" = 422 ] && [ "$(jq -r .error.code "$dir/r.json")" = voucher-missing ] ||
  fail "a code without a voucher: $(cat "$dir/r.json")"
v=$(sign --amount 5000)
bad=${v:0:320}$( [ "${v:320:1}" = 0 ] && echo 1 || echo 0 )${v:321}   # one digit of the signature changed
[ "$(status POST /v1/codes "{\"amount\":5000,\"voucher\":\"$bad\"}")" = 422 ] &&
  [ "$(jq -r .error.code "$dir/r.json")" = voucher-issuer ] || fail "a tampered voucher: $(cat "$dir/r.json")"
w=$(sign --amount 9000 --address "$dest2")
[ "$(status POST /v1/payouts "{\"address\":\"$dest\",\"amount\":9000,\"idempotency_key\":\"v-2\",\"voucher\":\"$w\"}")" = 422 ] &&
  [ "$(jq -r .error.code "$dir/r.json")" = voucher-destination ] || fail "a withdrawal elsewhere: $(cat "$dir/r.json")"
code=$(status POST /v1/codes "{\"amount\":5000,\"voucher\":\"$v\"}")
[ "$code" = 201 ] || fail "a good voucher: $code $(cat "$dir/r.json")"
[ "$(status POST /v1/codes "{\"amount\":5000,\"voucher\":\"$v\"}")" = 409 ] || fail "a voucher used twice: $(cat "$dir/r.json")"
pass "the API refuses no voucher, a tampered one, another destination (422) and a voucher used twice (409)"

# ---- the auditor: the daemon's archive and ledger agree with the signer's VOUCHERS entries
"$B/oncesign" log export --db "$dir/ledger.db" --out "$dir/log.txt" >/dev/null 2>&1 || fail "log export --db"
"$B/oncesign" --json log verify "$dir/log.txt" --pubkey "$(cat "$dir/backend/signer.pub")" --db "$dir/ledger.db" \
  >"$dir/verify.json" 2>"$dir/verify.err" || fail "log verify --db of the vouchered payouts: $(cat "$dir/verify.json" "$dir/verify.err")"
jq -e '.authority.vouchered_signs >= 1 and .authority.ledger_vouchers_matched == .authority.vouchered_signs and
    ([.authority.findings[]] | add) == 0 and .authority.unchecked_issuers == 0' "$dir/verify.json" >/dev/null ||
  fail "the audit of the daemon's vouchered payouts: $(jq -c .authority "$dir/verify.json")"
pass "log verify --db: every VOUCHERS entry's vouchers are the ledger's, no finding"
