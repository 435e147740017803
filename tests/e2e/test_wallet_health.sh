#!/bin/bash
# Issue 11: wallet errors are health. With a second wallet loaded in the node and an rpc-url without
# /wallet/<name>, monacoind answers every wallet call with -19 "Wallet file not specified" (addresses
# handed out are then never watched). oncesignd must log it (level, kind, code), count it in /metrics,
# show it in /v1/health (wallet false, the reason, 503) and clear it once the wallet answers again;
# with rpc-url .../wallet/<name> the same node serves it. Also the test node's multiwallet behaviour
# (Core 0.20's GetWalletForJSONRPCRequest).
STACK_TAG=wallethealth
. "$(dirname "$0")/lib/stack.bash"

start_stack 1
wallet_rpc() { # wallet_rpc PATH METHOD JSON_PARAMS → the whole answer (result and error)
  curl -s -u u:p --data-binary "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$2\",\"params\":${3:-[]}}" \
    "http://127.0.0.1:$node_port$1"
}
metric() { curl -s "http://127.0.0.1:$api_port/metrics" | sed -n "s/^$1 \([0-9]*\)\$/\1/p"; }
[ "$(health | jq -r .wallet)" = true ] || fail "health before: $(health)"

# ---- the test node answers like Core with two wallets loaded
[ "$(rpc createwallet '["second"]' | jq -r .name)" = second ] || fail "createwallet"
[ "$(rpc listwallets | jq -c .)" = '["","second"]' ] || fail "listwallets: $(rpc listwallets)"
a=$(wallet_rpc / listunspent)
[ "$(jq -r .error.code <<<"$a")" = -19 ] &&
  [ "$(jq -r .error.message <<<"$a")" = 'Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).' ] ||
  fail "listunspent on / with two wallets: $a"
[ "$(wallet_rpc /wallet/second listunspent | jq -r '.error')" = null ] || fail "listunspent on /wallet/second"
[ "$(wallet_rpc /wallet/ getblockcount | jq -r '.error')" = null ] || fail "a node method on /wallet/"
[ "$(wallet_rpc /wallet/nope listunspent | jq -r .error.code)" = -18 ] || fail "an unknown wallet is not -18"
[ "$(wallet_rpc / getblockcount | jq -r '.error')" = null ] || fail "a node method needs no wallet"
pass "test node: two wallets loaded, a wallet call on / is -19 (Core's message), on /wallet/<name> it is served"

# ---- oncesignd on / : every wallet call fails with -19, and health says so
api GET /v1/wallet >/dev/null
mine 1
for _ in $(seq 100); do [ "$(health | jq -r .wallet)" = false ] && break; api GET /v1/wallet >/dev/null; sleep 0.1; done
h=$(health)
[ "$(jq -r .wallet <<<"$h")" = false ] && [ "$(jq -r .ok <<<"$h")" = false ] || fail "health does not show the wallet: $h"
jq -r .wallet_error <<<"$h" | grep -q 'code -19): Wallet file not specified' || fail "health's reason: $h"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$api_port/v1/health")
[ "$code" = 503 ] || fail "health answered $code while the wallet fails"
[ "$(metric 'oncesign_up{part="wallet"}')" = 0 ] || fail "metrics: wallet up"
[ "$(metric 'oncesign_wallet_errors_total{call="listunspent"}')" -ge 1 ] || fail "metrics: no listunspent error counted"
[ "$(metric 'oncesign_rpc_errors_total{kind="node"}')" -ge 1 ] || fail "metrics: no node error counted"
grep 'wallet.rpc_failed' "$dir/d.main.err" | grep -q 'kind=node code=-19' || fail "not logged with kind and code"
grep 'wallet.rpc_failed' "$dir/d.main.err" | head -1 | grep -q ' error ' || fail "not logged at level error"
grep 'wallet.rpc_failed' "$dir/d.main.err" | grep 'code=-19' | grep -q 'give rpc-url with /wallet/<name>' ||
  fail "a -19 does not say how to fix it"
[ "$(grep -c 'wallet.rpc_failed' "$dir/d.main.err")" -le 3 ] || fail "logged at every retry: $(grep -c wallet.rpc_failed "$dir/d.main.err")"
pass "rpc-url without /wallet/ and two wallets: health wallet false with -19 (503), metrics and the log say so"

# ---- the wallet answers again: cleared
rpc unloadwallet '["second"]' >/dev/null
for _ in $(seq 100); do [ "$(health | jq -r .wallet)" = true ] && break; api GET /v1/wallet >/dev/null; sleep 0.1; done
h=$(health)
[ "$(jq -r .wallet <<<"$h")" = true ] && [ "$(jq -r .ok <<<"$h")" = true ] && [ "$(jq -r '.wallet_error // ""' <<<"$h")" = "" ] ||
  fail "not cleared: $h"
[ "$(metric 'oncesign_up{part="wallet"}')" = 1 ] || fail "metrics: wallet still down"
grep -q 'wallet.recovered' "$dir/d.main.err" || fail "the recovery is not logged"
# another wallet failure (not -19) is logged without the -19 advice, which would mislead
rpc testnode_setfault '[{"mode":"error","code":-1,"message":"injected wallet failure","methods":["listunspent"],"count":1}]' >/dev/null
for _ in $(seq 100); do grep 'wallet.rpc_failed' "$dir/d.main.err" | grep -q 'code=-1 ' && break; api GET /v1/wallet >/dev/null; sleep 0.1; done
line=$(grep 'wallet.rpc_failed' "$dir/d.main.err" | grep 'code=-1 ' | head -1)
[ -n "$line" ] || fail "the injected listunspent failure was not logged"
! grep -q '/wallet/<name>' <<<"$line" || fail "a -1 is logged with the -19 advice: $line"
pass "the wallet answers again: health ok, metrics up, recovery logged"

# ---- the fix docs/MONACOIND.md names: rpc-url with /wallet/<name> (the default wallet is "")
rpc createwallet '["second"]' >/dev/null
stop_daemon
DAEMON_ARGS=(--rpc-url "http://127.0.0.1:$node_port/wallet/")
start_daemon wallet
for _ in $(seq 30); do api GET /v1/wallet >/dev/null; sleep 0.1; done
mine 1
sleep 1
h=$(health)
[ "$(jq -r .wallet <<<"$h")" = true ] && [ "$(jq -r .ok <<<"$h")" = true ] || fail "with /wallet/: $h"
[ "$(api GET /v1/wallet | jq -r .balance.confirmed)" = 200000000 ] || fail "the balance through /wallet/: $(api GET /v1/wallet)"
grep -q 'wallet.rpc_failed' "$dir/d.wallet.err" && fail "with /wallet/ a wallet call failed: $(grep wallet.rpc_failed "$dir/d.wallet.err")"
stop_daemon
pass "rpc-url .../wallet/ beside two loaded wallets: served, health ok"
echo "test_wallet_health: all passed"
