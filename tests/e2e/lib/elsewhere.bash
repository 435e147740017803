# Sourced by the spent-elsewhere tests (test_anchor_spent.sh, test_input_spent.sh) after lib/stack.bash:
# the same wallet "elsewhere" (a second simulated signer restored from init_sim's words, with its own
# flash, nonce set and empty ledger) spends a coin of the hot wallet behind oncesignd's back; then the
# restart that cross-checks the signer's log with the ledger.

cli() { # cli NAME DEVICE DB ARGS...: oncesign on DEVICE and ledger DB, its output in $dir/cli.NAME.out and .err
  local name=$1 device=$2 db=$3; shift 3
  timeout 30 "$B/oncesign" --device "$device" "$@" --db "$db" >"$dir/cli.$name.out" 2>"$dir/cli.$name.err"
}
cli_rpc() { # cli_rpc NAME DEVICE DB ARGS...: cli with the test node's RPC options (psbt create reads the coins there)
  cli "$@" --rpc-url "http://127.0.0.1:$node_port/" --rpc-user u --rpc-password-file "$dir/rpc.password"
}

# start_elsewhere SEED: the second signer (random seed SEED) on $dir/s2.sock, restored from the stack's
# words (approved through its control socket $dir/c2.sock), and its empty ledger $dir/elsewhere.db
start_elsewhere() {
  rm -f "$dir/s2.sock" "$dir/c2.sock"
  "$B/oncesign-sim-test" --socket "$dir/s2.sock" --flash "$dir/flash2.bin" --control "$dir/c2.sock" --no-tty --seed "$1" \
    </dev/null 2>>"$dir/sim2.log" &
  sim2_pid=$!
  trap 'kill $sim2_pid 2>/dev/null; cleanup' EXIT
  for _ in $(seq 200); do
    [ "$("$B/oncesign-sim" --control "$dir/c2.sock" --send ping 2>/dev/null)" = pong ] && break
    sleep 0.05
  done
  "$B/oncesign" --device "sim:$dir/s2.sock" device init --network regtest --script-type p2pkh \
    --restore "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" \
    >"$dir/init2.out" 2>&1 &
  local init_pid=$!
  for _ in $(seq 400); do
    kill -0 $init_pid 2>/dev/null || break
    "$B/oncesign-sim" --control "$dir/c2.sock" --send approve >/dev/null 2>&1
    sleep 0.05
  done
  wait $init_pid || fail "second signer init: $(cat "$dir/init2.out")"
  "$B/oncesign" ledger init --db "$dir/elsewhere.db" >/dev/null || fail "ledger init (elsewhere)"
}

# spend_elsewhere INPUT NONCE_ID CHANGE_INDEX: the second signer pays 1.5 MONA of the coin INPUT
# (TXID:VOUT) to the miner under nonce NONCE_ID, the node takes it and mines it; sets foreign to its txid
spend_elsewhere() {
  cli_rpc create-b "sim:$dir/s2.sock" "$dir/elsewhere.db" psbt create --to "$miner" --amount 150000000 \
    --nonce "$(printf '%064x' "$2")" --input "$1" --change-index "$3" --out "$dir/b.psbt" ||
    fail "psbt create (elsewhere): $(cat "$dir/cli.create-b.err")"
  cli sign-b "sim:$dir/s2.sock" "$dir/elsewhere.db" --json sign "$dir/b.psbt" --finalize ||
    fail "sign (elsewhere): $(cat "$dir/cli.sign-b.err")"
  local hex
  hex=$(jq -r .hex "$dir/cli.sign-b.out")
  foreign=$(rpc sendrawtransaction "[\"$hex\"]" | jq -r .)
  [ "$foreign" = "$(jq -r .txid "$dir/cli.sign-b.out")" ] || fail "the foreign spend was refused: $foreign"
  mine 1
}

# restart_cross_checked: oncesignd stopped and started again (as "after"); it does not disagree with the
# signer, and the signer's log exported through the ledger verifies with it (log verify --db)
restart_cross_checked() {
  stop_daemon
  start_daemon after
  grep -q 'mismatch' "$dir/d.after.err" && fail "the restarted daemon disagrees with the signer: $(grep mismatch "$dir/d.after.err")"
  timeout 30 "$B/oncesign" --device "sim:$dir/s.sock" log export --db "$dir/ledger.db" --out "$dir/archive.txt" \
    >/dev/null 2>"$dir/cli.export.err" || fail "log export: $(cat "$dir/cli.export.err")"
  timeout 30 "$B/oncesign" log verify "$dir/archive.txt" --db "$dir/ledger.db" >"$dir/cli.verify.out" 2>"$dir/cli.verify.err" ||
    fail "log verify --db: $(cat "$dir/cli.verify.out" "$dir/cli.verify.err")"
}
