#!/bin/bash
# Issue 11 (the operator's kit): the signer while oncesignd holds it. `device info`, `device address`
# (also --show, approved on the device), `log export` (then `log verify`), `status --device`,
# `reconcile` and `tree rebuild` each work through the daemon's admin socket while a flood of
# redeems is paid; a device command the daemon does not carry (`device xpub`) says "busy: held by
# oncesignd (pid N)" and exits 2; every code is paid exactly once and the signer refused nothing.
# Before the admin socket every one of them failed with "sending a report failed (device gone?)".
STACK_TAG=beside
. "$(dirname "$0")/lib/stack.bash"

start_stack 10
cli() { ONCESIGN_DB="$dir/ledger.db" timeout 60 "$B/oncesign" --device "sim:$dir/s.sock" "$@"; }

# the daemon names itself next to the ledger, and its admin socket is its user's alone
grep -q "^pid $d_pid\$" "$dir/ledger.db.oncesignd" || fail "no pid file next to the ledger: $(cat "$dir/ledger.db.oncesignd" 2>&1)"
[ "$(stat -c %a "$dir/ledger.db.admin.sock")" = 600 ] || fail "admin socket mode $(stat -c %a "$dir/ledger.db.admin.sock")"

# the failure issue 11 reports, still there when the CLI cannot know of the daemon (another ledger
# named): the signer is held, the direct path fails. Everything below is what the routing fixes.
ONCESIGN_DB="$dir/other.db" timeout 60 "$B/oncesign" --device "sim:$dir/s.sock" device info >"$dir/cli.direct.out" 2>"$dir/cli.direct.err"
rc=$?
[ $rc = 2 ] || fail "device info beside the daemon without its route: exit $rc (expected the held signer to fail it)"
grep -q "name its ledger (--db LEDGER or \$ONCESIGN_DB; this command looked at $dir/other.db)" "$dir/cli.direct.err" ||
  fail "the failure does not say how to reach the daemon: $(cat "$dir/cli.direct.err")"
pass "without the route the held signer fails device info (exit 2: $(head -c 120 "$dir/cli.direct.err"))"

# ---- the flood: codes redeemed by parallel clients while blocks come
N=30
codes=() dests=()
for i in $(seq $N); do
  codes+=("$(api POST /v1/codes '{"amount":150000}' | jq -r .code)")
  dests+=("$(rpc getnewaddress | jq -r .)")
done
redeemers=()
for i in $(seq 0 $((N - 1))); do
  ( sleep "0.$((i % 10))"; api POST "/v1/codes/${codes[$i]}/redeem" "{\"address\":\"${dests[$i]}\"}" >"$dir/r.$i.json" ) &
  redeemers+=($!)
done
( for _ in $(seq 40); do mine 1; sleep 0.3; done ) &
miner_loop=$!

# ---- each command while payouts flow
cli device info >"$dir/cli.info.out" 2>"$dir/cli.info.err" || fail "device info beside the daemon: exit $?"
grep -q "through oncesignd pid $d_pid" "$dir/cli.info.out" && grep -q '^log head ' "$dir/cli.info.out" ||
  fail "device info: $(cat "$dir/cli.info.out")"
cli --json device info >"$dir/cli.infoj.out" 2>"$dir/cli.info.err" || fail "device info --json: exit $?"
KEY=$(jq -r .attestation_pubkey "$dir/cli.infoj.out")
[ "$(jq -r .initialized "$dir/cli.infoj.out")" = true ] && [ ${#KEY} = 64 ] || fail "device info --json: $(cat "$dir/cli.infoj.out")"
pass "device info through oncesignd (pid $d_pid) while payouts flow"

addr=$(cli device address --index 7 2>"$dir/cli.addr.err") || fail "device address: exit $?"
cli device address --index 7 --show >"$dir/cli.show.out" 2>"$dir/cli.show.err" &
show_pid=$!
for _ in $(seq 400); do kill -0 $show_pid 2>/dev/null || break; ctl approve >/dev/null 2>&1; sleep 0.05; done
wait $show_pid || fail "device address --show beside the daemon: exit $?"
[ "$(cat "$dir/cli.show.out")" = "$addr" ] && [[ "$addr" == [mn]* ]] ||
  fail "address --show said '$(cat "$dir/cli.show.out")', without --show '$addr'"
grep -q 'approve it there' "$dir/cli.show.err" || fail "--show did not tell the operator to look at the device"
grep -q 'api.address_shown' "$dir"/d.main.err || fail "the daemon did not log the address shown"
pass "device address (and --show, approved on the device) through oncesignd while payouts flow"

cli log export --out "$dir/log.txt" >"$dir/cli.export.out" 2>"$dir/cli.export.err" || fail "log export: exit $?"
grep -q "through oncesignd pid $d_pid" "$dir/cli.export.out" || fail "log export: $(cat "$dir/cli.export.out")"
HEAD=$(sed -n 's/^device log head at seq [0-9]*: \([0-9a-f]*\) .*/\1/p' "$dir/cli.export.out")
[ ${#HEAD} = 64 ] || fail "log export named no head: $(cat "$dir/cli.export.out")"
cli log verify "$dir/log.txt" --pubkey "$KEY" --head "$HEAD" >"$dir/cli.verify.out" 2>"$dir/cli.verify.err" ||
  fail "log verify of the export made through oncesignd: exit $? $(cat "$dir/cli.verify.out")"
pass "log export through oncesignd, and log verify accepts it at the device's head"

cli status --db "$dir/ledger.db" >"$dir/cli.status.out" 2>"$dir/cli.status.err" || fail "status --device: exit $?"
grep -q '^ledger vs signer   agree' "$dir/cli.status.out" || fail "status: $(cat "$dir/cli.status.out")"
cli reconcile --db "$dir/ledger.db" >"$dir/cli.recon.out" 2>"$dir/cli.recon.err" || fail "reconcile: exit $?"
grep -q "by oncesignd pid $d_pid" "$dir/cli.recon.out" || fail "reconcile: $(cat "$dir/cli.recon.out")"
cli tree rebuild --db "$dir/ledger.db" >"$dir/cli.tree.out" 2>"$dir/cli.tree.err" || fail "tree rebuild: exit $? $(cat "$dir/cli.tree.err")"
grep -q "by oncesignd (pid $d_pid)" "$dir/cli.tree.out" || fail "tree rebuild: $(cat "$dir/cli.tree.out")"
pass "status --device, reconcile and tree rebuild through oncesignd while payouts flow"

cli device xpub >"$dir/cli.xpub.out" 2>"$dir/cli.xpub.err"
rc=$?
[ $rc = 2 ] && grep -q "busy: held by oncesignd (pid $d_pid)" "$dir/cli.xpub.err" ||
  fail "device xpub beside the daemon: exit $rc, $(cat "$dir/cli.xpub.err")"
pass "a device command the daemon does not carry: busy: held by oncesignd (pid $d_pid), exit 2"

# ---- every code paid exactly once, and the signer refused nothing meanwhile
wait "${redeemers[@]}" $miner_loop
for i in $(seq 0 $((N - 1))); do
  id=$(jq -r .id "$dir/r.$i.json")
  [ -n "$id" ] && [ "$id" != null ] || fail "redeem $i: $(cat "$dir/r.$i.json")"
  wait_status "$id" confirmed 60 mine
done
for i in $(seq 0 $((N - 1))); do exactly_once "${dests[$i]}" 150000; done
refused=$(curl -s "http://127.0.0.1:$api_port/metrics" | sed -n 's/^oncesign_signer_refusals_total \([0-9]*\)$/\1/p')
[ "$refused" = 0 ] || fail "the signer refused $refused times during the flood"
pass "$N codes redeemed during the commands: each paid exactly once, no refusal"

# ---- a daemon that does not answer (stopped, after the flood: its clients would time out too)
kill -STOP "$d_pid"
cli --timeout 1 device info >"$dir/cli.stopped.out" 2>"$dir/cli.stopped.err"
rc=$?
kill -CONT "$d_pid"
[ $rc = 2 ] && grep -q "busy: held by oncesignd (pid $d_pid): its admin socket .* does not answer" "$dir/cli.stopped.err" ||
  fail "device info beside a stopped daemon: exit $rc, $(cat "$dir/cli.stopped.err")"
pass "a daemon that does not answer: busy: held by oncesignd (pid $d_pid), exit 2"

# ---- stopped cleanly, the lock is gone and the CLI holds the signer itself again
stop_daemon
[ ! -e "$dir/ledger.db.oncesignd" ] && [ ! -e "$dir/ledger.db.admin.sock" ] || fail "pid file or admin socket left behind"
cli device info >"$dir/cli.info2.out" 2>"$dir/cli.info2.err" || fail "device info after the daemon: exit $?"
grep -q "through oncesignd" "$dir/cli.info2.out" && fail "still routed after the daemon stopped"
pass "after oncesignd stops: its pid file and socket are gone, the CLI opens the signer itself"
echo "test_device_beside_daemon: all passed"
