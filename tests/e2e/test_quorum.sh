#!/bin/bash
# k-of-n operator approvals (issue 14 part 2) on the simulated signer, run as docs/OPERATING.md
# ("Operators", blocks quorum-setup and quorum-approve) shows them: three operator keys made with
# the key tool, registered on the device with k = 2 (approve pressed through the simulator's
# control socket), the registration logged as an OPERATORS entry; then an operator's approval made
# with `oncesign approve`, whose wire form names the operator's key and expiry. A registration the
# operator rejects changes nothing and is logged. The device's checks of approvals are the unit
# tests' (tests/unit/test_signer_quorum.c). Needs $ONCESIGN_BUILD.
STACK_TAG=quorum
. "$(dirname "$0")/lib/stack.bash"
. "$(dirname "$0")/lib/docs.bash"
. "$(dirname "$0")/lib/quorum.bash"
cd "$(dirname "$0")/../.."

start_sim
init_sim

docs_block docs/OPERATING.md quorum-setup >"$dir/setup.sh" || fail "docs/OPERATING.md has no block quorum-setup"
operators_as_documented "$dir/setup.sh"
for who in alice bob carol; do
  [ "$(stat -c %a "$dir/ops/$who.key")" = 600 ] || fail "$who.key is not mode 0600"
done
seq=$("$B/oncesign" --device "sim:$dir/s.sock" --json device info | jq -r .log_seq)
pass "docs/OPERATING.md quorum-setup runs as shown: three keys (0600), 2 of 3 registered on the device"

# ---- an operator's approval, as the docs show it
docs_block docs/OPERATING.md quorum-approve >"$dir/approve.sh" || fail "docs/OPERATING.md has no block quorum-approve"
commitment=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
(
  cd "$dir/ops" && export PATH="$B:$PATH" COMMITMENT="$commitment" LOG_SEQ="$seq" &&
    docs_source docs/OPERATING.md 0 "$dir/approve.sh"
) >"$dir/approve.out" 2>&1 || fail "docs/OPERATING.md quorum-approve: $(cat "$dir/approve.out")"
a=$(cat "$dir/ops/alice.approval")
[ ${#a} -eq 208 ] || fail "an approval is 208 hex digits: '$a'"
[ "${a:0:64}" = "$(cat "$dir/ops/alice.pub")" ] || fail "the approval does not name alice's key: $a"
exp_le=$(printf '%016x' $((seq + 100)) | sed 's/../& /g' | awk '{ for (i = NF; i > 0; i--) printf "%s", $i }')
[ "${a:64:16}" = "$exp_le" ] || fail "the approval's expiry is not log seq + 100: ${a:64:16} vs $exp_le"
pass "docs/OPERATING.md quorum-approve runs as shown: alice's approval names her key and the expiry"

# ---- the tool refuses what it cannot sign
"$B/oncesign" approve --key "$dir/ops/alice.key" --commitment "$commitment" --signer "$(cat "$dir/ops/signer.pub")" \
  --expiry-seq 0 >/dev/null 2>&1 && fail "approve accepted expiry 0"
chmod 644 "$dir/ops/alice.key"
"$B/oncesign" approve --key "$dir/ops/alice.key" --commitment "$commitment" --signer "$(cat "$dir/ops/signer.pub")" \
  --expiry-seq 5 >/dev/null 2>"$dir/perm.err"
rc=$?
[ $rc -eq 2 ] && grep -q "readable by other users" "$dir/perm.err" || fail "a readable key file: exit $rc $(cat "$dir/perm.err")"
pass "approve refuses expiry 0 and a key file others can read"

# ---- a registration the operator rejects: nothing changes, exit says so
"$B/oncesign" --device "sim:$dir/s.sock" device operators >"$dir/clear.out" 2>&1 &
clear_pid=$!
for _ in $(seq 400); do kill -0 $clear_pid 2>/dev/null || break; ctl reject >/dev/null 2>&1; sleep 0.05; done
wait $clear_pid && fail "a rejected registration succeeded: $(cat "$dir/clear.out")"
seq2=$("$B/oncesign" --device "sim:$dir/s.sock" --json device info | jq -r .log_seq)
[ "$seq2" -eq $((seq + 1)) ] || fail "the rejection is not one log entry: $seq -> $seq2"
pass "a registration the operator rejects fails and is logged"
