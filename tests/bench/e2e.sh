#!/bin/bash
# make bench, end-to-end part (issue 5): payouts per second with the simulated signer (single and
# batched), redeem requests per second under concurrent load with p50/p99, and the long flood
# (both designs, same seed) whose verdict comes from the chain. One `bench <name> <value> <unit>`
# line per figure. Exits non-zero when a figure cannot be measured or oncesign was caught paying a
# code twice (or leaving one unpaid), or the naive control was NOT caught.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${ONCESIGN_BUILD:-$PWD/build}
SEED=${BENCH_SEED:-2018}
LONG=${BENCH_FLOOD_CODES:-1000}
fail=0
field() { sed -n "s/.* $1=\([-0-9]*\).*/\1/p" <<<"$2"; }

# The long flood, naive first (it needs no daemon).
out=$(timeout --kill-after=5 300 "$B/oncesign-flood" --build "$B" --design naive --codes "$LONG" --dup 4 \
  --clients 32 --seed "$SEED" --fault-rate 0.5 2>&1)
line=$(grep '^flood: design=naive' <<<"$out"); echo "$line"
echo "bench flood_naive_double_payouts $(field double_payouts "$line") codes"
echo "bench flood_naive_extra_payouts $(field extra_payouts "$line") payouts"
[ "$(field double_payouts "$line")" -gt 0 ] 2>/dev/null || { echo "bench e2e: the naive control was not caught" >&2; fail=1; }

if [ ! -x "$B/oncesignd" ]; then
  echo "bench e2e: $B/oncesignd is not built; e2e_payouts_per_s_*, redeem_* and the oncesign flood not measured" >&2
  exit 1
fi
out=$(timeout --kill-after=5 600 "$B/oncesign-flood" --build "$B" --design oncesign --codes "$LONG" --dup 4 \
  --clients 32 --seed "$SEED" --fault-rate 0.5 --query-fault-rate 0.3 --kills 10 --settle-s 180 --flood-s 15 --batch-max 10 \
  --fund-coins 120 --approval \
  --crash-points after-draft,after-sign-commit,after-signed-stored,after-broadcast-sent,after-broadcast-unknown,mid-redeem \
  2>&1)
rc=$?
line=$(grep '^flood: design=oncesign' <<<"$out"); echo "$line"
echo "bench flood_oncesign_double_payouts $(field double_payouts "$line") codes"
echo "bench flood_oncesign_unpaid $(field unpaid "$line") codes"
[ $rc -eq 0 ] || { echo "$out" | tail -30 >&2; fail=1; }

# Throughput without faults: one payout per transaction, then batches of up to 50.
out=$(timeout --kill-after=5 300 "$B/oncesign-flood" --build "$B" --design oncesign --codes 300 --clients 16 \
  --seed "$SEED" --bench single --batch-max 1 --batch-delay-ms 0 --fund-coins 320 2>&1) || { echo "$out" | tail -20 >&2; fail=1; }
grep '^bench ' <<<"$out"
# Then 5 s of redeem load through the whole daemon (redeem_daemon_*; tests/bench/bench_api.c prints
# redeem_rps/p50/p99 for the API on a ledger-only engine).
out=$(timeout --kill-after=5 300 "$B/oncesign-flood" --build "$B" --design oncesign --codes 2000 --clients 32 \
  --seed "$SEED" --bench batched --batch-max 50 --batch-delay-ms 20 --fund-coins 60 --bench-redeem-s 5 2>&1) ||
  { echo "$out" | tail -20 >&2; fail=1; }
grep '^bench ' <<<"$out"
exit $fail
