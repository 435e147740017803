#!/bin/bash
# Heal, don't halt, at start-up (issue 9): a signer or a node that is not there when oncesignd starts
# does not stop it. The daemon starts, serves reads and health (signer:false / node:false, with the
# reason), refuses writes with 503 until the signer has passed the start-up check (I6), retries with the
# reconnect's backoff, and pays what was waiting, exactly once, with no manual step.
STACK_TAG=startheal
. "$(dirname "$0")/lib/stack.bash"

# the test node keeps its chain in a data directory, so it can be stopped and started again on its port
start_node_on() { # start_node_on PORT
  "$B/oncesign-testnode" --port "$1" --rpcuser u --rpcpassword p --seed 7 --datadir "$dir/node" \
    >"$dir/node.out" 2>>"$dir/node.log" &
  node_pid=$!
  for _ in $(seq 100); do grep -q 'listening on' "$dir/node.out" 2>/dev/null && break; sleep 0.05; done
  node_port=$(sed -n 's/^testnode: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/node.out")
  [ -n "$node_port" ] || fail "test node did not start"
}
mkdir -p "$dir/node"
start_node_on 0
miner=$(rpc getnewaddress | jq -r .)
mine 101
start_sim
init_sim
start_daemon first
fund_wallet 3
pass "signer initialised, hot wallet funded"

redeem_some() { # redeem_some FIRST LAST: codes redeemed to fresh addresses, ids in ids[]
  for i in $(seq "$1" "$2"); do
    amounts[$i]=$((300000 + i * 1000))
    [ -n "${dests[$i]:-}" ] || dests[$i]=$(rpc getnewaddress | jq -r .)
    code=$(api POST /v1/codes "{\"amount\":${amounts[$i]}}" | jq -r .code)
    [ -n "$code" ] && [ "$code" != null ] || fail "issue $i failed: $(api POST /v1/codes "{\"amount\":1000000}")"
    ids[$i]=$(api POST "/v1/codes/$code/redeem" "{\"address\":\"${dests[$i]}\"}" | jq -r .id)
    [ -n "${ids[$i]}" ] && [ "${ids[$i]}" != null ] || fail "redeem $i failed: $(api GET /v1/health)"
  done
}
declare -a ids dests amounts

# ---- the signer is absent when oncesignd starts
kill -KILL "$sim_pid"; wait "$sim_pid" 2>/dev/null; sim_pid=
redeem_some 1 4     # accepted while the running daemon reconnects; they wait for the signer
stop_daemon
rm -f "$dir/s.sock" "$dir/c.sock"
start_daemon nosigner
h=$(health)
[ "$(jq -r .signer <<<"$h")" = false ] || fail "signer absent at start: health says $h"
[ "$(jq -r .signer_error <<<"$h")" != null ] && [ -n "$(jq -r .signer_error <<<"$h")" ] ||
  fail "health gives no reason for signer:false: $h"
case "$(payout_status "${ids[1]}")" in requested|signing) ;; *) fail "reads are not served: $(api GET "/v1/payouts/${ids[1]}")";; esac
st=$(curl -s -o "$dir/w.json" -w '%{http_code}' -m 10 -X POST -H "Authorization: Bearer e2e-stack-test-token" \
  -H 'Content-Type: application/json' --data-binary '{"amount":300000}' "http://127.0.0.1:$api_port/v1/codes")
[ "$st" = 503 ] || fail "POST /v1/codes before the start-up check: HTTP $st $(cat "$dir/w.json")"
grep -qi 'signer' "$dir/w.json" || fail "the 503 gives no reason: $(cat "$dir/w.json")"
pass "signer absent at start: the daemon runs, health says signer:false ($(jq -r .signer_error <<<"$h")), writes 503"
sleep 2
start_sim
for _ in $(seq 150); do [ "$(health | jq -r .signer)" = true ] && break; sleep 0.1; done
[ "$(health | jq -r .signer)" = true ] || fail "signer started: health still says $(health)"
redeem_some 5 8
for i in $(seq 1 8); do wait_status "${ids[$i]}" confirmed 30 mine; done
mine 1
for i in $(seq 1 8); do exactly_once "${dests[$i]}" "${amounts[$i]}"; done
grep -qi 'mismatch' "$dir"/d.nosigner.err && fail "a mismatch was reported"
stop_daemon
pass "the signer arrived after the daemon: it ran the start-up check and paid every code exactly once"

# ---- the node is down when oncesignd starts
port=$node_port
for i in $(seq 9 12); do dests[$i]=$(rpc getnewaddress | jq -r .); done   # the node is asked while it is up
kill -TERM "$node_pid"; wait "$node_pid" 2>/dev/null; node_pid=
start_daemon nonode
[ "$(health | jq -r .node)" = false ] || fail "node down at start: health says $(health)"
[ "$(health | jq -r .signer)" = true ] || fail "node down at start: signer not checked: $(health)"
redeem_some 9 12
sleep 1
start_node_on "$port"
for i in $(seq 9 12); do wait_status "${ids[$i]}" confirmed 30 mine; done
mine 1
for i in $(seq 1 12); do exactly_once "${dests[$i]}" "${amounts[$i]}"; done
stop_daemon
pass "the node came up after the daemon: drafts waited, every code paid exactly once"
echo "test_start_heal: all passed"
