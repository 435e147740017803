# Sourced by e2e tests (not a test itself: tests/e2e/run.sh runs only tests/e2e/*.sh). Starts the test
# node, the simulated signer (restored from a known seed, regtest, P2PKH) and oncesignd in a temporary
# directory, each one restartable, with the helpers the tests share. Needs $ONCESIGN_BUILD.
# The caller sets STACK_TAG (the temporary directory's name) before sourcing, and may set
# STACK_NODE_SEED (7), STACK_SIM_SEED (3) and STACK_CONFIRMATIONS_FINAL (2).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/wait.bash"
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
for x in oncesign-sim oncesign-sim-test oncesign-testnode oncesignd oncesign; do
  [ -x "$B/$x" ] || { echo "FAIL: $B/$x not built" >&2; exit 1; }
done
for t in curl jq sqlite3; do command -v $t >/dev/null || { echo "FAIL: needs $t" >&2; exit 1; }; done

dir=$(mktemp -d "/tmp/oncesign-${STACK_TAG:-e2e}.XXXXXX")
sim_pid= node_pid= d_pid= api_port= node_port=
cleanup() {
  for p in $d_pid $sim_pid $node_pid; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$dir"/d.*.err "$dir/sim.log" "$dir/node.log" "$dir"/cli.*.err; do
    [ -s "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 12 "$f" >&2; }
  done
  exit 1
}
pass() { echo "ok - $*"; }

# ---- test node
start_node() {
  "$B/oncesign-testnode" --port 0 --rpcuser u --rpcpassword p --seed "${STACK_NODE_SEED:-7}" >"$dir/node.out" 2>"$dir/node.log" &
  node_pid=$!
  for _ in $(seq 100); do grep -q 'listening on' "$dir/node.out" 2>/dev/null && break; sleep 0.05; done
  node_port=$(sed -n 's/^testnode: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/node.out")
  [ -n "$node_port" ] || fail "test node did not start"
  miner=$(rpc getnewaddress | jq -r .)
}
rpc() { # rpc METHOD JSON_PARAMS → result
  curl -s -u u:p --data-binary "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" \
    "http://127.0.0.1:$node_port/" | jq -c '.result'
}
mine() { rpc generatetoaddress "[$1, \"$miner\"]" >/dev/null; }

# ---- the signer
ctl() { "$B/oncesign-sim" --control "$dir/c.sock" --send "$1"; }
start_sim() { # start_sim [extra args]: on $dir/flash.bin, waits until the control socket answers
  rm -f "$dir/s.sock" "$dir/c.sock"
  "$B/oncesign-sim-test" --socket "$dir/s.sock" --flash "$dir/flash.bin" --control "$dir/c.sock" --no-tty --seed "${STACK_SIM_SEED:-3}" "$@" \
    </dev/null 2>>"$dir/sim.log" &
  sim_pid=$!
  for _ in $(seq 200); do
    [ -S "$dir/c.sock" ] && [ -S "$dir/s.sock" ] && [ "$(ctl ping 2>/dev/null)" = pong ] && return 0
    sleep 0.05
  done
  fail "simulator did not start"
}
stop_sim() { [ -n "$sim_pid" ] && { kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null; }; sim_pid=; }
init_sim() {
  "$B/oncesign" --device "sim:$dir/s.sock" device init --network regtest --script-type p2pkh \
    --restore "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" \
    >"$dir/init.out" 2>&1 &
  local init_pid=$!
  for _ in $(seq 400); do kill -0 $init_pid 2>/dev/null || break; ctl approve >/dev/null 2>&1; sleep 0.05; done
  wait $init_pid || fail "device init: $(cat "$dir/init.out")"
}

# ---- oncesignd
# oncesignd refuses a token or password file others can read, and a password on its command line
token=e2e-stack-test-token
(umask 077; echo "$token" >"$dir/token"; echo p >"$dir/rpc.password")
DAEMON_ARGS=()
start_daemon() { # start_daemon TAG [ENV...]: starts in the background, waits for "listening"
  local tag=$1 init=(); shift
  [ -e "$dir/ledger.db" ] || init=(--init)   # creates the ledger the first time only
  env "$@" "$B/oncesignd" "${init[@]}" --db "$dir/ledger.db" --device "sim:$dir/s.sock" --rpc-url "http://127.0.0.1:$node_port/" \
    --rpc-user u --rpc-password-file "$dir/rpc.password" --network regtest --port 0 --token-file "$dir/token" \
    --batch-max 10 --batch-delay-ms 50 --reconcile-interval-ms 200 --rpc-timeout-ms 1000 --confirmations-final "${STACK_CONFIRMATIONS_FINAL:-2}" \
    "${DAEMON_ARGS[@]}" >"$dir/d.$tag.out" 2>"$dir/d.$tag.err" &
  d_pid=$!
  wait_line "$dir/d.$tag.out" 'listening on' $d_pid
  api_port=$(sed -n 's/^oncesignd: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/d.$tag.out")
  [ -n "$api_port" ] || fail "oncesignd ($tag) did not start"
}
stop_daemon() {
  kill -TERM $d_pid
  for _ in $(seq 200); do kill -0 $d_pid 2>/dev/null || break; sleep 0.05; done
  kill -0 $d_pid 2>/dev/null && fail "oncesignd did not stop within 10 s of SIGTERM"
  wait $d_pid; local rc=$?; d_pid=; [ $rc -eq 0 ] || fail "oncesignd stop: exit $rc"
}
api() { # api METHOD PATH [JSON]
  curl -s -m 10 -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+--data-binary "$3"} "http://127.0.0.1:$api_port$2"
}
health() { curl -s -m 10 "http://127.0.0.1:$api_port/v1/health"; }
payout_status() { api GET "/v1/payouts/$1" | jq -r .status; }
wait_status() { # wait_status ID STATUS SECONDS [MINE]
  local deadline=$((SECONDS + $3)) s
  while [ $SECONDS -lt $deadline ]; do
    s=$(payout_status "$1")
    [ "$s" = "$2" ] && return 0
    [ -n "${4:-}" ] && mine 1
    sleep 0.2
  done
  fail "payout $1 stayed '$s', expected '$2'"
}
# fund_wallet N: N coins of 2 MONA to the hot wallet, confirmed and seen by the daemon
fund_wallet() {
  local recv conf want=$(( $1 * 200000000 ))
  recv=$(api GET /v1/wallet | jq -r .receive_address)
  [ -n "$recv" ] && [ "$recv" != null ] || fail "no receive address"
  for _ in $(seq "$1"); do rpc sendtoaddress "[\"$recv\", 2]" >/dev/null; done
  mine 1
  for _ in $(seq 100); do
    conf=$(api GET /v1/wallet | jq -r .balance.confirmed)
    [ "$conf" = "$want" ] && return 0
    sleep 0.1
  done
  fail "wallet sync: confirmed balance $conf, expected $want"
}
# exactly_once DEST AMOUNT: the chain paid DEST exactly AMOUNT in exactly one output
exactly_once() {
  local r
  r=$(rpc testnode_received "[[\"$1\"], 1]")
  [ "$(jq -r ".\"$1\".count" <<<"$r")" = 1 ] || fail "$1 paid $(jq -c ".\"$1\"" <<<"$r") (expected once)"
  [ "$(jq -r ".\"$1\".amount * 100000000 | round" <<<"$r")" = "$2" ] ||
    fail "$1 received $(jq -r ".\"$1\".amount" <<<"$r"), expected $2 sat"
}
# start_node_and_signer: the test node with 101 blocks (a spendable coinbase) and the signer initialised
start_node_and_signer() {
  start_node
  mine 101
  start_sim
  init_sim
}
# start_stack N: the usual start — start_node_and_signer, oncesignd "main" running, N coins of 2 MONA in
# the hot wallet
start_stack() {
  start_node_and_signer
  start_daemon main
  fund_wallet "$1"
}
