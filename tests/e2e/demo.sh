#!/bin/bash
# make demo — the day Monappy had, replayed side by side (issue 5, docs/DESIGN.md §6).
#
# A flood of gift-code redemptions (every code redeemed by several clients at once, failed requests
# retried) while the test node answers half of all sends too late although it accepted them, or
# drops the connection after accepting: first against the naive design (build/oncesign-naive,
# Monappy's "roll back on timeout"), then against oncesign (the simulated signer, oncesignd, the
# test node; oncesignd is also SIGKILLed and restarted meanwhile). Both runs use the same seed and
# fault schedule, and both verdicts come from the chain (build/oncesign-flood). Everything runs on
# 127.0.0.1 and is stopped at the end. Ends with one line per design:
#   demo: design=<naive|oncesign> codes=<N> paid=<P> double_payouts=<D> unpaid=<U>
# and exits 0 only if oncesign paid every code exactly once and the naive design paid some twice.
# The oncesign run also asks for a withdrawal above the signer's per-payout cap: the device shows it,
# approve is pressed through the simulator's control socket (as an operator would on the device).
# It runs with vouchers required (issue 14): the demo's service backend registers an issuer key on
# the signer at setup and signs each code's voucher; at the end a compromised bridge (oncesignd with
# the requirement switched off) invents a withdrawal to itself, and the signer refuses it.
# DEMO_CODES / DEMO_SEED override the defaults.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${ONCESIGN_BUILD:-$PWD/build}
N=${DEMO_CODES:-300}
SEED=${DEMO_SEED:-2018}
for x in oncesign-flood oncesign-naive oncesign-testnode oncesign-sim oncesign; do
  [ -x "$B/$x" ] || { echo "demo: $B/$x is not built (run make)" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/oncesign-demo.XXXXXX)
flood_pid=
audit_sim_pid=
work=
cleanup() {
  # The flood driver stops the node, the signer and the service it started (also on SIGTERM).
  [ -n "$flood_pid" ] && kill -TERM "$flood_pid" 2>/dev/null && wait "$flood_pid" 2>/dev/null
  [ -n "$audit_sim_pid" ] && kill "$audit_sim_pid" 2>/dev/null && wait "$audit_sim_pid" 2>/dev/null
  [ -n "$work" ] && rm -rf "$work"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }

# run_flood DESIGN EXTRA...: runs one flood with its progress on the terminal; the verdict line
# goes to $tmp/DESIGN.line.
run_flood() {
  local d=$1; shift
  "$B/oncesign-flood" --build "$B" --design "$d" --codes "$N" --dup 4 --clients 16 --seed "$SEED" \
    --fault-rate 0.5 --delay-ms 1500 "$@" > >(tee "$tmp/$d.out" | sed -u -e '/^flood: design=/d' -e 's/^/   /') 2>&1 &
  flood_pid=$!
  wait "$flood_pid"
  local rc=$?
  flood_pid=
  sleep 0.2   # let tee finish
  grep '^flood: design=' "$tmp/$d.out" > "$tmp/$d.line" || true
  return $rc
}

oncesign_rc=0
say "1/2  the naive design (what Monappy did): mark the code used, call sendtoaddress, roll back on a timeout"
run_flood naive
say "2/2  oncesign: the signer refuses to sign a second, non-conflicting payout for a code; the host never rolls back"
if [ -x "$B/oncesignd" ]; then
  # --keep: the audit step below reads the signer's flash and the ledger the flood leaves behind
  run_flood oncesign --kills 3 --settle-s 60 --approval --vouchers --keep || oncesign_rc=$?
  work=$(sed -n 's/^flood\[[^]]*\]: .* workdir \(.*\)$/\1/p' "$tmp/oncesign.out" | head -n1)
else
  echo "   $B/oncesignd is not built yet: the oncesign half cannot run"
fi

val() { sed -n "s/.* $1=\([-0-9]*\).*/\1/p" "$tmp/$2.line" 2>/dev/null; }
say "what the chain says (testnode_received for every code's destination)"
printf '   %-10s %6s %6s %15s %7s %15s\n' design codes paid double_payouts unpaid extra_payouts
for d in naive oncesign; do
  [ -s "$tmp/$d.line" ] || { printf '   %-10s %6s\n' "$d" "(no result)"; continue; }
  printf '   %-10s %6s %6s %15s %7s %15s\n' "$d" "$(val codes $d)" "$(val paid $d)" "$(val double_payouts $d)" \
    "$(val unpaid $d)" "$(val extra_payouts $d)"
done
if [ -s "$tmp/oncesign.line" ]; then
  case "$(val approval oncesign)" in
    1) echo "   large withdrawal: the signer asked, the operator approved on the device, the chain paid it once" ;;
    *) echo "   large withdrawal: the approval step did not complete (see the oncesign output above)" ;;
  esac
fi
case "$(val bridge_attack oncesign)" in
  1) echo "   compromised bridge: its invented withdrawal (a nonce no issuer vouched for) was REFUSED by the signer, logged, unpaid" ;;
  0) echo "   compromised bridge: the invented withdrawal was NOT refused (see the oncesign output above)" ;;
esac
case "$(val signer_check oncesign)" in
  1) echo "   signer vs ledger after every kill: nonce root and log head agree (oncesign status --device)" ;;
  0) echo "   signer vs ledger after the kills: they DISAGREE (see the oncesign output above)" ;;
esac

# The audit (I5, docs/AUDITING.md): the signer restarted on its flash, its log exported and verified
# with the attestation key alone, up to the head the device reports, and cross-checked against the
# ledger's archive. Reported here; the verdict lines below are the flood's.
say "the audit log: exported from the signer, verified with its attestation key, cross-checked with the ledger"
if [ -n "$work" ] && [ -f "$work/flash.bin" ] && [ -f "$work/ledger.db" ]; then
  "$B/oncesign-sim" --socket "$tmp/a.sock" --flash "$work/flash.bin" --control "$tmp/ac.sock" --no-tty \
    </dev/null 2>"$tmp/audit-sim.log" &
  audit_sim_pid=$!
  for _ in $(seq 100); do [ -S "$tmp/a.sock" ] && break; sleep 0.05; done
  A="$B/oncesign --device sim:$tmp/a.sock --timeout 10000"
  info=$($A --json device info 2>/dev/null)
  key=$(sed -n 's/.*"attestation_pubkey":"\([0-9a-f]*\)".*/\1/p' <<<"$info")
  head=$(sed -n 's/.*"log_head":"\([0-9a-f]*\)".*/\1/p' <<<"$info")
  echo "   attestation key (recorded at setup): $key"
  if $A log export --out "$tmp/audit.txt" >/dev/null 2>&1 &&
     $A log verify "$tmp/audit.txt" --pubkey "$key" --head "$head" --db "$work/ledger.db" >"$tmp/audit.out" 2>&1; then
    sed -n -e 's/^/   /' -e '/^   \(entries\|signatures\|refusals\|operator\|boots\|ledger\|verdict\)/p' "$tmp/audit.out"
  else
    echo "   the device's log did NOT verify:"; sed 's/^/   /' "$tmp/audit.out" | tail -n 4
  fi
  if $A log export --db "$work/ledger.db" --out "$tmp/archive.txt" >/dev/null 2>&1 &&
     $A log verify "$tmp/archive.txt" --pubkey "$key" --db "$work/ledger.db" >"$tmp/archive.out" 2>&1; then
    echo "   the ledger's archive: $(($(grep -c . "$tmp/archive.txt") - 1)) entries, $(sed -n 's/^verdict *//p' "$tmp/archive.out"), $(sed -n 's/^ledger *//p' "$tmp/archive.out")"
  else
    echo "   the ledger's archive did NOT verify:"; sed 's/^/   /' "$tmp/archive.out" | tail -n 4
  fi
  kill "$audit_sim_pid" 2>/dev/null; wait "$audit_sim_pid" 2>/dev/null; audit_sim_pid=
else
  echo "   (no signer flash and ledger left by the oncesign run: nothing to audit)"
fi
echo

ok=1
for d in naive oncesign; do
  if [ -s "$tmp/$d.line" ]; then
    echo "demo: design=$d codes=$(val codes $d) paid=$(val paid $d) double_payouts=$(val double_payouts $d) unpaid=$(val unpaid $d)"
  else
    echo "demo: design=$d codes=$N paid=0 double_payouts=0 unpaid=$N"
    ok=0
  fi
done
# The flood's own verdict too: chain balance = funding - payouts - fees = the ledger's, every
# transaction known to the ledger, the approved withdrawal paid once.
[ "$oncesign_rc" -eq 0 ] || { echo "demo: the oncesign flood's chain checks failed (exit $oncesign_rc)" >&2; ok=0; }
[ "$(val paid oncesign)" = "$N" ] && [ "$(val double_payouts oncesign)" = 0 ] && [ "$(val unpaid oncesign)" = 0 ] || ok=0
[ "$(val bridge_attack oncesign)" = 1 ] || ok=0
[ "$(val double_payouts naive)" -gt 0 ] 2>/dev/null || ok=0
[ $ok -eq 1 ]
