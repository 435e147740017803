#!/bin/bash
# End-to-end: the oncesign CLI's ledger commands on a fresh ledger file — codes issue (the code
# printed once) and show, payouts list and show on an empty ledger and after redeems made through
# oncesignd, status (with --device: the signer against the ledger), --json output parsed with jq,
# and the exit codes (0 ok, 1 usage, 2 ledger error, 3 refused / not found). Then the PSBT commands
# against the simulated signer and the test node: psbt create (previous tx fetched over RPC),
# inspect, sign, a second signing of the same nonce refused (I1), a replacement bound to its anchor
# signed, and a finalized transaction the test node accepts. Last, oncesignd with the node: a
# broadcast batch whose coin is then spent in a block by another transaction ends failed (the one
# way a signed payout fails). Needs $ONCESIGN_BUILD.
set -uo pipefail
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
. "$(dirname "$0")/lib/wait.bash"
CLI=$B/oncesign
D=$B/oncesignd
SIM=$B/oncesign-sim
NODE=$B/oncesign-testnode
for x in "$CLI" "$D" "$SIM" "$SIM-test" "$NODE"; do [ -x "$x" ] || { echo "FAIL: $x not built" >&2; exit 1; }; done
command -v jq >/dev/null || { echo "FAIL: jq missing" >&2; exit 1; }

dir=$(mktemp -d /tmp/oncesign-e2e.XXXXXX)
d_pid= sim_pid= node_pid=
cleanup() {
  for p in $d_pid $sim_pid $node_pid; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$dir"/*.out "$dir"/*.err; do [ -s "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 15 "$f" >&2; }; done
  exit 1
}
pass() { echo "ok - $*"; }
unset ONCESIGN_DEVICE
DB=$dir/ledger.db
cli() { timeout 30 "$CLI" "$@" --db "$DB"; }
# expect_exit CODE NAME CMD...: runs the CLI, checks its exit code
expect_exit() {
  local want=$1 name=$2; shift 2
  cli "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  local rc=$?
  [ $rc -eq "$want" ] || fail "$name: exit $rc, expected $want"
}

# ---- no ledger yet: refused (exit 2, nothing created) until `ledger init`
expect_exit 2 nolist payouts list
grep -q 'ledger init' "$dir/nolist.err" || fail "a missing ledger: no hint at ledger init: $(cat "$dir/nolist.err")"
[ ! -e "$DB" ] || fail "a command other than ledger init created the ledger"
expect_exit 0 linit --json ledger init
jq -e '.ok and .created' "$dir/linit.out" >/dev/null || fail "ledger init: $(cat "$dir/linit.out")"
expect_exit 0 init_again ledger init
grep -q 'already exists' "$dir/init_again.out" || fail "ledger init on an existing ledger: $(cat "$dir/init_again.out")"
pass "a missing ledger is refused; ledger init creates it once"

# ---- empty ledger
expect_exit 0 list0 payouts list
grep -q '^no payouts$' "$dir/list0.out" || fail "empty list does not say so"
expect_exit 0 list0j --json payouts list
jq -e '.ok == true and .payouts == [] and .count == 0 and .next_after == null' "$dir/list0j.out" >/dev/null \
  || fail "empty list JSON: $(cat "$dir/list0j.out")"
expect_exit 0 status0 --json status
jq -e '.ok and .ledger_ok and .payouts.requested == 0 and .payouts.confirmed == 0 and (has("signer") | not)' \
  "$dir/status0.out" >/dev/null || fail "status JSON: $(cat "$dir/status0.out")"
pass "empty ledger: payouts list (human and JSON), status"

# ---- codes
expect_exit 0 issue1 codes issue --amount 150000
code1=$(cat "$dir/issue1.out")
[[ "$code1" =~ ^[0-9A-Za-z_-]{16,64}$ ]] || fail "code not printed alone on stdout: '$code1'"
grep -q 'shown only this once' "$dir/issue1.err" || fail "issue does not warn that the code is shown once"
expect_exit 0 issue2 --json codes issue --amount 250000 --expires-at 4102444800
jq -e '.ok and (.code | length) >= 16 and .amount == 250000 and .expires_at == 4102444800 and .redeemed == false
       and .payout_id == null and (.code_id | test("^[0-9a-f]{32}$"))' "$dir/issue2.out" >/dev/null \
  || fail "issue JSON: $(cat "$dir/issue2.out")"
code2=$(jq -r .code "$dir/issue2.out")
id2=$(jq -r .code_id "$dir/issue2.out")
expect_exit 0 show2 --json codes show "$code2"
jq -e --arg id "$id2" '.ok and .code_id == $id and .amount == 250000 and .redeemed == false' "$dir/show2.out" >/dev/null \
  || fail "code show JSON: $(cat "$dir/show2.out")"
grep -q "$code2" "$dir/show2.out" && fail "code show prints the code itself"
expect_exit 0 show1 codes show "$code1"
grep -q '^amount *150000 sat' "$dir/show1.out" && grep -q '^redeemed *no' "$dir/show1.out" || fail "code show text"
pass "codes issue prints the code once (human and JSON), codes show finds it by the code"

expect_exit 3 shownf --json codes show nosuchcode0000000000
jq -e '.ok == false and .error.name == "not-found" and .error.refused == true' "$dir/shownf.out" >/dev/null \
  || fail "unknown code JSON: $(cat "$dir/shownf.out")"
expect_exit 1 issue_noamt codes issue
expect_exit 1 issue_bad codes issue --amount -5
expect_exit 1 issue_zero codes issue --amount 0
expect_exit 1 list_bad payouts list --status nonsense
expect_exit 1 list_lim payouts list --limit 0
expect_exit 1 show_noid payouts show
expect_exit 1 unknown payouts frobnicate
expect_exit 3 show_nf payouts show 999
expect_exit 1 recon_norpc reconcile
expect_exit 1 tree_nodev tree rebuild
grep -q 'needs the signer' "$dir/tree_nodev.err" || fail "tree rebuild without a device: no clear message"
pass "exit codes: 3 for an unknown code or payout, 1 for usage errors"

# an unusable ledger path is an error of the ledger (2), not a refusal
timeout 30 "$CLI" payouts list --db "$dir/no/such/dir/x.db" >"$dir/baddb.out" 2>"$dir/baddb.err"
rc=$?
[ $rc -eq 2 ] || fail "unopenable ledger: exit $rc, expected 2"
pass "an unopenable ledger exits 2"

# ---- the signer: the simulator with a known seed restored on regtest
"$SIM-test" --socket "$dir/s.sock" --flash "$dir/flash.bin" --control "$dir/c.sock" --no-tty --seed 5 \
  </dev/null 2>>"$dir/sim.err" &
sim_pid=$!
for _ in $(seq 100); do [ -S "$dir/c.sock" ] && [ -S "$dir/s.sock" ] && break; sleep 0.05; done
ctl() { "$SIM" --control "$dir/c.sock" --send "$1"; }
export ONCESIGN_DEVICE=sim:$dir/s.sock
timeout 60 "$CLI" device init --network regtest --script-type p2pkh \
  --restore "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" \
  >"$dir/init.out" 2>&1 &
init_pid=$!
for _ in $(seq 400); do kill -0 $init_pid 2>/dev/null || break; ctl approve >/dev/null 2>&1; sleep 0.05; done
wait $init_pid || fail "device init: $(cat "$dir/init.out")"

# ---- a non-empty ledger: redeem both codes through oncesignd (no node: the payouts stay requested)
(umask 077; echo "ledger-e2e-token-0123456789" >"$dir/token")
# start_daemon NAME [options]: oncesignd on the ledger and the signer; sets d_pid and port.
start_daemon() {
  local name=$1; shift
  "$D" --db "$DB" --device "$ONCESIGN_DEVICE" --network regtest --port 0 --token-file "$dir/token" "$@" \
    >"$dir/$name.out" 2>"$dir/$name.err" &
  d_pid=$!
  wait_line "$dir/$name.out" 'listening on' $d_pid
  port=$(sed -n 's/^oncesignd: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/$name.out")
  [ -n "$port" ] || fail "oncesignd ($name) did not start"
}
start_daemon d --batch-delay-ms 600000
addr=mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn    # a regtest P2PKH address (not the signer's)
for c in "$code1" "$code2"; do
  curl -s -m 10 -X POST -H "Authorization: Bearer ledger-e2e-token-0123456789" -H 'Content-Type: application/json' \
    --data-binary "{\"address\":\"$addr\"}" "http://127.0.0.1:$port/v1/codes/$c/redeem" >>"$dir/redeem.out"
  echo >>"$dir/redeem.out"
done
kill -TERM $d_pid; wait $d_pid || fail "oncesignd stop: exit $?"; d_pid=
[ "$(jq -s 'length' "$dir/redeem.out")" = 2 ] && jq -e -s 'all(.[]; .id > 0)' "$dir/redeem.out" >/dev/null \
  || fail "redeems: $(cat "$dir/redeem.out")"
pid1=$(jq -s '.[0].id' "$dir/redeem.out")
pid2=$(jq -s '.[1].id' "$dir/redeem.out")

expect_exit 0 list2j --json payouts list
jq -e --arg a "$addr" '.ok and .count == 2 and ([.payouts[].amount] == [150000, 250000]) and
       all(.payouts[]; .address == $a and .status == "requested" and .txid == null and (.code_id | length) == 32)' \
  "$dir/list2j.out" >/dev/null || fail "list JSON after redeems: $(cat "$dir/list2j.out")"
expect_exit 0 list2 payouts list
[ "$(grep -c "requested" "$dir/list2.out")" = 2 ] || fail "human list: $(cat "$dir/list2.out")"
expect_exit 0 page --json payouts list --limit 1
jq -e --argjson p "$pid1" '.count == 1 and .payouts[0].id == $p and .next_after == $p' "$dir/page.out" >/dev/null \
  || fail "paging: $(cat "$dir/page.out")"
expect_exit 0 page2 --json payouts list --after "$pid1"
jq -e --argjson p "$pid2" '.count == 1 and .payouts[0].id == $p' "$dir/page2.out" >/dev/null || fail "--after: $(cat "$dir/page2.out")"
expect_exit 0 filt --json payouts list --status confirmed
jq -e '.count == 0' "$dir/filt.out" >/dev/null || fail "--status confirmed should be empty"
expect_exit 0 filt2 --json payouts list --status requested
jq -e '.count == 2' "$dir/filt2.out" >/dev/null || fail "--status requested should list 2"
expect_exit 0 pshow --json payouts show "$pid2"
jq -e --argjson p "$pid2" '.ok and .payout.id == $p and .payout.amount == 250000' "$dir/pshow.out" >/dev/null \
  || fail "payouts show JSON: $(cat "$dir/pshow.out")"
expect_exit 0 pshowh payouts show "$pid1"
grep -q '^status *requested' "$dir/pshowh.out" || fail "payouts show text"
expect_exit 0 show1r --json codes show "$code1"
jq -e --argjson p "$pid1" '.redeemed == true and .payout_id == $p' "$dir/show1r.out" >/dev/null \
  || fail "code show after redeem: $(cat "$dir/show1r.out")"
expect_exit 0 status2 --json status
jq -e '.payouts.requested == 2 and .signer.matches_ledger == true and (.signer.nonce_root | length) == 64' \
  "$dir/status2.out" >/dev/null || fail "status after redeems: $(cat "$dir/status2.out")"
pass "non-empty ledger: payouts list (human, JSON, --limit/--after paging, --status), payouts show, codes show redeemed, status --device"

# ---- PSBT: a coin of the signer's on the test node, a payout PSBT, signing through the ledger's engine
"$NODE" --port 0 --rpcuser u --rpcpassword p --seed 11 >"$dir/node.out" 2>"$dir/node.err" &
node_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$dir/node.out" 2>/dev/null && break; sleep 0.05; done
node_port=$(sed -n 's/^testnode: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/node.out")
[ -n "$node_port" ] || fail "test node did not start"
(umask 077; echo p >"$dir/rpc.password")
RPC=(--rpc-url "http://127.0.0.1:$node_port/" --rpc-user u --rpc-password-file "$dir/rpc.password")
rpc() {
  curl -s -u u:p --data-binary "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" \
    "http://127.0.0.1:$node_port/"
}
miner=$(rpc getnewaddress | jq -r .result)
rpc generatetoaddress "[101, \"$miner\"]" >/dev/null
a0=$(timeout 30 "$CLI" device address --index 0) || fail "device address"
fund=$(rpc sendtoaddress "[\"$a0\", 2]" | jq -r .result)
[[ "$fund" =~ ^[0-9a-f]{64}$ ]] || fail "sendtoaddress: $fund"
rpc generatetoaddress "[1, \"$miner\"]" >/dev/null
nonce7=$(printf '%064x' 7)
vout=
for v in 0 1; do
  if cli psbt create --to "$addr" --amount 50000000 --nonce "$nonce7" --input "$fund:$v" --change-index 2 \
      "${RPC[@]}" --out "$dir/p7.psbt" >"$dir/create.out" 2>"$dir/create.err"; then vout=$v; break; fi
done
[ -n "$vout" ] || fail "psbt create found no coin of the signer's in $fund"
expect_exit 0 inspect --json psbt inspect "$dir/p7.psbt" --network regtest
jq -e --arg a "$addr" --arg n "$nonce7" '.ok and (.inputs | length) == 1 and .inputs[0].amount == 200000000 and
       .inputs[0].path == "m/44'"'"'/1'"'"'/0'"'"'/0/0" and .outputs[0].kind == "payout" and .outputs[0].nonce == $n and
       .outputs[0].address == $a and .outputs[1].kind == "change" and .fee > 0 and .fee < 10000' \
  "$dir/inspect.out" >/dev/null || fail "psbt inspect JSON: $(cat "$dir/inspect.out")"
rpc getrawtransaction "[\"$fund\"]" | jq -r .result >"$dir/fund.hex"
expect_exit 0 create_file psbt create --to "$addr" --amount 50000000 --nonce "$nonce7" --input "$fund:$vout" \
  --change-index 2 --prev-tx "$dir/fund.hex" --out "$dir/p7f.psbt"
cmp -s "$dir/p7.psbt" "$dir/p7f.psbt" || fail "psbt create with --prev-tx differs from the one with --rpc-url"
expect_exit 1 create_noprev psbt create --to "$addr" --amount 50000000 --nonce "$nonce7" --input "$fund:$vout" --change-index 2
grep -q -- '--prev-tx HEXFILE or --rpc-url' "$dir/create_noprev.err" || fail "create without a previous tx: unclear message"
pass "psbt create (previous tx over RPC or from --prev-tx, coin found on the signer's receive chain) and psbt inspect --json"

expect_exit 0 sign1 --json sign "$dir/p7.psbt" --out "$dir/p7.signed"
jq -e '.ok and .log_seq > 0' "$dir/sign1.out" >/dev/null || fail "sign JSON: $(cat "$dir/sign1.out")"
expect_exit 0 inspect2 --json psbt inspect "$dir/p7.signed" --network regtest
jq -e '.inputs[0].partial_sigs == 1' "$dir/inspect2.out" >/dev/null || fail "signed PSBT has no partial signature"
pass "sign FILE.psbt through the signer: the PSBT comes back with a partial signature"
# a regtest PSBT is never shown with mainnet addresses: coin type 1' needs --network, 22' contradicts it
expect_exit 1 inspect_nonet psbt inspect "$dir/p7.signed"
grep -q "give --network test or --network regtest" "$dir/inspect_nonet.err" || fail "inspect without --network: $(cat "$dir/inspect_nonet.err")"
expect_exit 1 inspect_main psbt inspect "$dir/p7.signed" --network main
pass "psbt inspect refuses to guess the network of a testnet/regtest PSBT, or to show it as mainnet"

expect_exit 3 sign_again --json sign "$dir/p7.psbt" --finalize
jq -e '.ok == false and .error.name == "nonce-committed" and .error.refused' "$dir/sign_again.out" >/dev/null \
  || fail "second signing of nonce 7 not refused: $(cat "$dir/sign_again.out")"
# the ledger's tree already holds nonce 7: the host refuses before asking the device, and says so
grep -q 'refused by the host' "$dir/sign_again.err" && ! grep -q 'refused by the device' "$dir/sign_again.err" ||
  fail "the refusal does not say the host made it: $(cat "$dir/sign_again.err")"
pass "the same nonce presented again as new is refused (by the host, which says so; exit 3)"

expect_exit 0 bind psbt bind "$dir/p7.psbt" --output 0 --nonce "$nonce7" --anchor "$fund:$vout" --out "$dir/p7r.psbt"
expect_exit 0 sign_r --json sign "$dir/p7r.psbt" --finalize
hex=$(jq -r .hex "$dir/sign_r.out")
[[ "$hex" =~ ^[0-9a-f]+$ ]] || fail "no raw transaction: $(cat "$dir/sign_r.out")"
sent=$(rpc sendrawtransaction "[\"$hex\"]")
jq -e --arg t "$(jq -r .txid "$dir/sign_r.out")" '.result == $t' <<<"$sent" >/dev/null || fail "test node refused: $sent"
pass "a replacement bound to its anchor is signed; the finalized transaction is accepted by the test node"

printf 'not a psbt' >"$dir/junk.psbt"
expect_exit 1 junk sign "$dir/junk.psbt"
expect_exit 1 bind_bad psbt bind "$dir/p7.psbt" --output 5 --nonce "$nonce7"
pass "a malformed PSBT and a bind to a missing output are usage errors (exit 1)"

# ---- the signer-side ledger commands
# the one committed nonce and its anchor's entry (docs/DESIGN.md §3 "Anchors")
expect_exit 0 tree --json tree rebuild
jq -e '.ok and .leaves == 2' "$dir/tree.out" >/dev/null || fail "tree rebuild: $(cat "$dir/tree.out") $(cat "$dir/tree.err")"
expect_exit 0 recon --json reconcile "${RPC[@]}"
jq -e '.ok and .reconciled' "$dir/recon.out" >/dev/null || fail "reconcile: $(cat "$dir/recon.out")"
expect_exit 0 status3 --json status
jq -e '.signer.matches_ledger and .signer.log_seq >= 3' "$dir/status3.out" >/dev/null || fail "status after signing: $(cat "$dir/status3.out")"
pass "tree rebuild (one nonce committed), reconcile --rpc-url, status --device after signing"

# ---- an operator's PSBT for another code that spends the anchor of two broadcast payouts
# oncesignd signs and broadcasts the two requested payouts in one transaction; an operator's PSBT for
# another code then spends its anchor. It would freeze both payouts for good (their transactions all
# spend that coin), so the signer refuses it (anchor-spent, issue 10); the payouts stay broadcast.
# A spend of the anchor outside the signer: tests/e2e/test_anchor_spent.sh.
rpc generatetoaddress "[1, \"$miner\"]" >/dev/null
# oncesignd takes the RPC password from a file only (a command line is readable in /proc)
start_daemon d2 --rpc-url "http://127.0.0.1:$node_port/" --rpc-user u --rpc-password-file "$dir/rpc.password" \
  --batch-delay-ms 0 --reconcile-interval-ms 200
recv=$(curl -s -m 10 -H "Authorization: Bearer ledger-e2e-token-0123456789" "http://127.0.0.1:$port/v1/wallet" \
  | jq -r .receive_address)
[[ "$recv" =~ ^[mn2] ]] || fail "GET /v1/wallet: no receive address ($recv)"
rpc sendtoaddress "[\"$recv\", 1]" | jq -e '.result | test("^[0-9a-f]{64}$")' >/dev/null || fail "funding the hot wallet"
rpc generatetoaddress "[1, \"$miner\"]" >/dev/null
for _ in $(seq 300); do
  cli --json payouts list --status broadcast >"$dir/bc.out" 2>"$dir/bc.err"
  [ "$(jq -r .count "$dir/bc.out" 2>/dev/null)" = 2 ] && break
  sleep 0.1
done
[ "$(jq -r .count "$dir/bc.out")" = 2 ] || fail "the two payouts were not broadcast: $(cli --json payouts list)"
kill -TERM $d_pid; wait $d_pid || fail "oncesignd stop: exit $?"; d_pid=
txT=$(jq -r '.payouts[0].txid' "$dir/bc.out")
[ "$(jq -r '.payouts[1].txid' "$dir/bc.out")" = "$txT" ] || fail "the two payouts are not batched in one transaction"
anchor=$(rpc getrawtransaction "[\"$txT\", 1]" | jq -r '.result.vin[0] | "\(.txid):\(.vout)"')
[[ "$anchor" =~ ^[0-9a-f]{64}:[0-9]+$ ]] || fail "no input in the broadcast transaction $txT"
nonce8=$(printf '%064x' 8)
expect_exit 0 create8 psbt create --to "$addr" --amount 10000000 --nonce "$nonce8" --input "$anchor" --change-index 3 \
  "${RPC[@]}" --out "$dir/p8.psbt"
expect_exit 3 sign8 --json sign "$dir/p8.psbt" --finalize
grep -q 'anchor-spent' "$dir/sign8.out" "$dir/sign8.err" || fail "sign8: not refused as anchor-spent: $(cat "$dir/sign8.out" "$dir/sign8.err")"
expect_exit 0 still --json payouts list --status broadcast
jq -e '.count == 2' "$dir/still.out" >/dev/null || fail "after the refusal: $(cat "$dir/still.out")"
pass "a PSBT spending the anchor of two broadcast payouts is refused by the signer (anchor-spent); they stay broadcast"
