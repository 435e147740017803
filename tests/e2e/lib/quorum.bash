# Sourced by the operator-quorum tests (test_quorum.sh, test_quorum_flow.sh) after lib/stack.bash and
# lib/docs.bash.

# operators_as_documented BLOCKFILE: docs/OPERATING.md's block quorum-setup (which the test picks out
# itself with docs_block, so that docs_lint sees who runs it), run in $dir/ops against the simulated
# signer (the device's approval pressed through its control socket): three operator keys, registered
# 2 of 3 above 0.1 MONA; the block's output in $dir/setup.out
operators_as_documented() {
  mkdir -p "$dir/ops"
  (
    cd "$dir/ops" && export ONCESIGN_DEVICE="sim:$dir/s.sock" PATH="$B:$PATH" &&
      docs_source docs/OPERATING.md 0 "$1"
  ) >"$dir/setup.out" 2>&1 &
  local setup_pid=$!
  for _ in $(seq 400); do kill -0 $setup_pid 2>/dev/null || break; ctl approve >/dev/null 2>&1; sleep 0.05; done
  wait $setup_pid || fail "docs/OPERATING.md quorum-setup: $(cat "$dir/setup.out")"
  grep -q "Operators set: 2 of 3 above 10000000 satoshi" "$dir/setup.out" || fail "device operators: $(cat "$dir/setup.out")"
}
