#!/bin/bash
# End-to-end: the operator's kit (issue 11). --version and --help of every program; the sample
# config packaging/oncesignd.conf names exactly the settings `oncesignd --help` lists, and the
# daemon accepts it as shipped and with each commented setting switched on; secrets are refused on
# the command line and in a config file others can read; a '#' inside a value is part of it;
# `make -n host` needs neither the ARM toolchain nor QEMU; `make install DESTDIR=` lays out the
# programs, unit, sysusers, udev rule and a 0640 config. Then oncesignd from a config file on the
# simulated signer, serving only a Unix socket: socket 0660, ledger 0600, a code issued over the
# socket, a non-JSON body refused (415); `log export --out` refuses to replace a FIFO.
# Needs $ONCESIGN_BUILD. Runs in a few seconds.
set -uo pipefail
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
. "$(dirname "$0")/lib/wait.bash"
D=$B/oncesignd CLI=$B/oncesign SIM=$B/oncesign-sim NODE=$B/oncesign-testnode
for x in "$D" "$CLI" "$SIM" "$NODE"; do [ -x "$x" ] || { echo "FAIL: $x not built" >&2; exit 1; }; done
for t in curl jq; do command -v $t >/dev/null || { echo "FAIL: needs $t" >&2; exit 1; }; done

dir=$(mktemp -d /tmp/oncesign-kit.XXXXXX)
sim_pid= d_pid=
cleanup() {
  for p in $d_pid $sim_pid; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$dir"/*.err; do [ -s "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 12 "$f" >&2; }; done
  exit 1
}
pass() { echo "ok - $*"; }
unset ONCESIGN_DEVICE

# ---- --version, --help
version=$(sed -n 's/^#define ONCESIGN_VERSION "\(.*\)"$/\1/p' include/oncesign/version.h)
[ -n "$version" ] || fail "no ONCESIGN_VERSION in include/oncesign/version.h"
for p in oncesignd oncesign oncesign-sim oncesign-testnode; do
  out=$("$B/$p" --version 2>&1) || fail "$p --version: exit $?"
  [ "$out" = "$p $version" ] || fail "$p --version printed '$out'"
  "$B/$p" --help >"$dir/help.$p" 2>&1 || fail "$p --help: exit $?"
  grep -q "^usage: $p" "$dir/help.$p" || fail "$p --help has no usage line"
  grep -q -- "--version" "$dir/help.$p" || fail "$p --help does not mention --version"
done
pass "--version and --help on oncesignd, oncesign, oncesign-sim, oncesign-testnode"

# ---- the sample config against the daemon's settings
SAMPLE=packaging/oncesignd.conf
help_names=$("$D" --help | sed -n '/^settings/,$s/^  --\([a-z-]*\) [A-Z_]*  .*/\1/p' | sort)
sample_names=$(sed -n 's/^#\{0,1\}\([a-z][a-z-]*\) = .*/\1/p' "$SAMPLE" | sort -u)
[ "$(wc -l <<<"$help_names")" -ge 20 ] || fail "oncesignd --help lists too few settings: $help_names"
[ "$help_names" = "$sample_names" ] || fail "settings differ (< --help, > sample): $(diff <(echo "$help_names") <(echo "$sample_names") | grep '^[<>]' | tr '\n' ' ')"
check_config() { "$D" --config "$1" --check-config >"$dir/check.out" 2>"$dir/check.err"; }
cp "$SAMPLE" "$dir/sample.conf"; chmod 600 "$dir/sample.conf"
check_config "$dir/sample.conf" || fail "the sample as shipped: $(cat "$dir/check.err")"
n=0
while read -r name; do
  # switch on this one setting; the password ones replace the cookie (one auth method at a time)
  sed -e "s/^#\($name = \)/\1/" "$dir/sample.conf" >"$dir/one.conf"
  case $name in rpc-user|rpc-password|rpc-password-file)
    sed -i -e 's/^rpc-cookie = /#rpc-cookie = /' -e 's/^#\(rpc-user = \)/\1/' "$dir/one.conf"
    [ "$name" = rpc-user ] && sed -i 's/^#\(rpc-password-file = \)/\1/' "$dir/one.conf" ;;
  # the webhook's URL and secret go together
  webhook-url|webhook-secret-file) sed -i 's/^#\(webhook-\(url\|secret-file\) = \)/\1/' "$dir/one.conf" ;;
  esac
  chmod 600 "$dir/one.conf"
  check_config "$dir/one.conf" || fail "sample with '$name' switched on: $(cat "$dir/check.err")"
  n=$((n + 1))
done < <(sed -n 's/^#\([a-z][a-z-]*\) = .*/\1/p' "$SAMPLE")
[ $n -ge 10 ] || fail "only $n commented settings in the sample"
pass "sample config: the same $(wc -l <<<"$help_names") settings as --help; accepted as shipped and with each of $n alternatives on"

# ---- secrets
"$D" --device hid --token-file /x --rpc-user u --rpc-password p --check-config >"$dir/pw.out" 2>"$dir/pw.err" \
  && fail "--rpc-password on the command line was accepted"
grep -q "refused on the command line" "$dir/pw.err" || fail "no reason given: $(cat "$dir/pw.err")"
printf 'device = hid\ntoken-file = /x\nrpc-user = u\nrpc-password = s3cret\n' >"$dir/pw.conf"
chmod 644 "$dir/pw.conf"
check_config "$dir/pw.conf" && fail "a world-readable config holding rpc-password was accepted"
grep -q "chmod 600" "$dir/check.err" || fail "no remedy given: $(cat "$dir/check.err")"
chmod 600 "$dir/pw.conf"
check_config "$dir/pw.conf" || fail "a private config holding rpc-password: $(cat "$dir/check.err")"
"$CLI" reconcile --rpc-url http://127.0.0.1:1/ --rpc-user u --rpc-password p >"$dir/clipw.out" 2>"$dir/clipw.err"
[ $? -eq 1 ] || fail "oncesign accepted --rpc-password on the command line"
grep -q "rpc-password-file" "$dir/clipw.err" || fail "oncesign --rpc-password: no alternative named"
pass "rpc-password refused on the command line (oncesignd and oncesign) and in a config others can read"

# ---- make host / make install
make -n host BUILD="$dir/hostbuild" >"$dir/host.plan" 2>&1 || fail "make -n host: $(tail -3 "$dir/host.plan")"
grep -q 'oncesignd' "$dir/host.plan" || fail "make -n host does not build oncesignd"
grep -E 'arm-none-eabi|qemu|gcc-arm|libcmocka' "$dir/host.plan" && fail "make host needs the ARM toolchain, QEMU or test packages"
make --no-print-directory install BUILD="$B" DESTDIR="$dir/root" PREFIX=/usr >"$dir/install.out" 2>"$dir/install.err" \
  || fail "make install: $(tail -3 "$dir/install.err")"
for f in usr/bin/oncesignd usr/bin/oncesign usr/lib/systemd/system/oncesignd.service usr/lib/sysusers.d/oncesign.conf \
  usr/lib/udev/rules.d/70-oncesign.rules usr/share/doc/oncesign/OPERATING.md etc/oncesign/oncesignd.conf; do
  [ -f "$dir/root/$f" ] || fail "make install did not install /$f"
done
[ "$(stat -c %a "$dir/root/etc/oncesign/oncesignd.conf")" = 640 ] || fail "installed config is not 0640"
grep -q '^ExecStart=/usr/bin/oncesignd --config /etc/oncesign/oncesignd.conf$' \
  "$dir/root/usr/lib/systemd/system/oncesignd.service" || fail "unit's ExecStart has unfilled paths"
grep -q '@[A-Z]*@' "$dir/root/usr/lib/systemd/system/oncesignd.service" && fail "unit keeps a @PLACEHOLDER@"
grep -q 'ATTRS{idVendor}=="1209"' "$dir/root/usr/lib/udev/rules.d/70-oncesign.rules" || fail "udev rule"
echo "# edited" >>"$dir/root/etc/oncesign/oncesignd.conf"
make --no-print-directory install BUILD="$B" DESTDIR="$dir/root" PREFIX=/usr >/dev/null 2>&1 || fail "second make install"
tail -1 "$dir/root/etc/oncesign/oncesignd.conf" | grep -q '^# edited$' || fail "make install replaced an edited config"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$dir/root/usr/lib/systemd/system/oncesignd.service" 2>&1 | grep -v 'not executable\|No such file' \
    | grep -i 'unknown\|invalid' && fail "systemd-analyze verify complains about the unit"
fi
pass "make -n host needs no ARM toolchain or QEMU; make install lays out the kit and keeps an edited config"

# ---- oncesignd on a Unix socket only, from a config file
"$SIM" --socket "$dir/s.sock" --flash "$dir/flash.bin" --control "$dir/c.sock" --no-tty \
  </dev/null 2>>"$dir/sim.err" &
sim_pid=$!
for _ in $(seq 100); do [ -S "$dir/c.sock" ] && [ -S "$dir/s.sock" ] && break; sleep 0.05; done
ctl() { "$SIM" --control "$dir/c.sock" --send "$1"; }
timeout 60 "$CLI" --device "sim:$dir/s.sock" device init --network regtest --script-type p2pkh \
  --restore "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" \
  >"$dir/init.out" 2>&1 &
init_pid=$!
for _ in $(seq 400); do kill -0 $init_pid 2>/dev/null || break; ctl approve >/dev/null 2>&1; sleep 0.05; done
wait $init_pid || fail "device init: $(cat "$dir/init.out")"

# ---- descriptors for a watch-only wallet: key origin (the "abandon ... about" master fingerprint is
# 73c5da0a, BIP84's test vector), the device's account xpub, both chains ranged, a checksum
xpub=$("$CLI" --device "sim:$dir/s.sock" device xpub) || fail "device xpub"
"$CLI" --device "sim:$dir/s.sock" --json device descriptors >"$dir/desc.json" 2>"$dir/desc.err" || fail "device descriptors"
jq -e --arg x "$xpub" '.ok and .fingerprint == "73c5da0a"
  and (.receive | test("^pkh\\(\\[73c5da0a/44h/1h/0h\\]" + $x + "/0/\\*\\)#[a-z0-9]{8}$"))
  and (.change | test("^pkh\\(\\[73c5da0a/44h/1h/0h\\]" + $x + "/1/\\*\\)#[a-z0-9]{8}$"))
  and (.importmulti | length) == 2 and .importmulti[0].desc == .receive and .importmulti[1].internal
  and .importmulti[0].range == [0,999] and .importmulti[0].watchonly' "$dir/desc.json" >/dev/null \
  || fail "device descriptors: $(cat "$dir/desc.json")"
pass "device descriptors: key origin with the master fingerprint, both chains, checksums, the importmulti call"

TOKEN=kit-token-0123456789abcdef
mkdir -p "$dir/tok#dir"
(umask 077; echo "$TOKEN" >"$dir/tok#dir/api.token")
cat >"$dir/d.conf" <<CONF
# a comment line
db = $dir/ledger.db
device = sim:$dir/s.sock
network = regtest
   # an indented comment line
token-file = $dir/tok#dir/api.token
listen = none
socket = $dir/api.sock
log-format = json
CONF
"$D" --config "$dir/d.conf" --init >"$dir/d.out" 2>"$dir/d.err" &
d_pid=$!
wait_line "$dir/d.out" 'listening on unix:' $d_pid
grep -q "listening on unix:$dir/api.sock" "$dir/d.out" || fail "oncesignd did not start on the socket"
grep -q 'listening on 127' "$dir/d.out" && fail "oncesignd opened TCP with listen = none"
[ "$(stat -c %a "$dir/api.sock")" = 660 ] || fail "API socket mode $(stat -c %a "$dir/api.sock"), not 660"
for f in "$dir"/ledger.db*; do
  [ "$(stat -c %a "$f")" = 600 ] || fail "$(basename "$f") has mode $(stat -c %a "$f"), not 600"
done
api() { curl -s -m 10 --unix-socket "$dir/api.sock" -H "Authorization: Bearer $TOKEN" "$@"; }
api -X POST -H 'Content-Type: application/json' --data-binary '{"amount":150000}' http://oncesign/v1/codes \
  >"$dir/issue.json" || fail "POST /v1/codes over the socket"
jq -e '(.code | length) >= 16 and .amount == 150000' "$dir/issue.json" >/dev/null || fail "issue: $(cat "$dir/issue.json")"
st=$(api -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: text/plain' --data-binary '{"amount":1}' \
  http://oncesign/v1/codes)
[ "$st" = 415 ] || fail "a text/plain body got HTTP $st, not 415"
api http://oncesign/v1/health | jq -e '.disk == true and .disk_free_bytes > 0' >/dev/null || fail "health: no disk state"
api http://oncesign/metrics >"$dir/metrics.txt"
for fam in oncesign_wallet_balance_sat oncesign_payouts oncesign_payout_queue_age_seconds oncesign_approvals_waiting \
  oncesign_approval_wait_seconds oncesign_signer_connected oncesign_nonce_set_size oncesign_last_block_height \
  oncesign_rpc_errors_total oncesign_broadcasts_total oncesign_disk_free_bytes; do
  grep -q "^$fam[{ ]" "$dir/metrics.txt" || fail "/metrics lacks $fam"
done
grep -q '^oncesign_signer_connected 1$' "$dir/metrics.txt" || fail "/metrics: the signer is connected but oncesign_signer_connected is not 1"

# ---- scoped API keys, made with the CLI while the daemon runs: an issuer and a redeemer
"$CLI" apikey create shop-issuer --scopes issue --db "$dir/ledger.db" >"$dir/k1" 2>"$dir/k1.err" || fail "apikey create"
"$CLI" apikey create shop-redeemer --scopes redeem --db "$dir/ledger.db" >"$dir/k2" 2>"$dir/k2.err" || fail "apikey create"
K1=$(cat "$dir/k1") K2=$(cat "$dir/k2")
[[ $K1 =~ ^osk_[0-9a-f]{64}$ ]] || fail "apikey create printed '$K1'"
keyapi() { local k=$1; shift; curl -s -m 10 --unix-socket "$dir/api.sock" -H "Authorization: Bearer $k" "$@"; }
code=$(keyapi "$K1" -X POST -H 'Content-Type: application/json' --data-binary '{"amount":120000}' http://oncesign/v1/codes | jq -r .code)
[ -n "$code" ] && [ "$code" != null ] || fail "the issuer key could not issue a code"
st=$(keyapi "$K2" -o "$dir/forbidden.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data-binary '{"amount":120000}' http://oncesign/v1/codes)
[ "$st" = 403 ] && jq -e '.error.code == "forbidden"' "$dir/forbidden.json" >/dev/null || fail "the redeemer key issued a code ($st)"
st=$(keyapi "$K2" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'Idempotency-Key: w1' \
  --data-binary '{"address":"mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn","amount":300000000}' http://oncesign/v1/payouts)
[ "$st" = 403 ] || fail "the redeemer key withdrew ($st)"
keyapi "$K2" -X POST -H 'Content-Type: application/json' --data-binary '{"address":"mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"}' \
  "http://oncesign/v1/codes/$code/redeem" >"$dir/redeem.json"
jq -e '.id > 0 and .amount == 120000' "$dir/redeem.json" >/dev/null || fail "redeem with the redeemer key: $(cat "$dir/redeem.json")"
"$CLI" --json apikey list --db "$dir/ledger.db" >"$dir/keys.json" || fail "apikey list"
jq -e '(.keys | map({(.name): .uses}) | add) == {"shop-issuer": 1, "shop-redeemer": 1}' "$dir/keys.json" >/dev/null \
  || fail "key uses not recorded: $(cat "$dir/keys.json")"
"$CLI" apikey revoke shop-redeemer --db "$dir/ledger.db" >/dev/null || fail "apikey revoke"
st=$(keyapi "$K2" -o /dev/null -w '%{http_code}' "http://oncesign/v1/codes/$code")
[ "$st" = 403 ] || fail "a revoked key still works ($st)"
pass "scoped API keys over the socket: issue-only and redeem-only keys, 403 outside the scope, uses recorded, revocation"
pass "oncesignd from a config file ('#' inside a path kept): Unix socket 0660 only, ledger 0600, a code issued over the socket, 415 for non-JSON"
kill -TERM $d_pid; wait $d_pid || fail "oncesignd stop: exit $?"; d_pid=
[ -e "$dir/api.sock" ] && fail "the socket is left behind after a clean stop"
jq -e -s 'all(.[]; (.ts | test("^[0-9-]+T[0-9:.]+Z$")) and (.level | length) > 0 and (.event | length) > 0)
  and (map(.event) | index("daemon.started") and index("daemon.stopped"))
  and (map(select(.event == "daemon.started"))[0] | .socket and .network == "regtest")' "$dir/d.err" >/dev/null \
  || fail "log-format = json: $(head -c 600 "$dir/d.err")"
pass "log-format = json: every stderr line is a JSON event with time, level, event and ids"

# ---- writers never replace a non-regular file
mkfifo "$dir/export.fifo"
timeout 20 "$CLI" log export --db "$dir/ledger.db" --out "$dir/export.fifo" >"$dir/export.out" 2>"$dir/export.err"
rc=$?
[ $rc -ne 0 ] || fail "log export --out FIFO succeeded"
[ -p "$dir/export.fifo" ] || fail "log export replaced the FIFO"
grep -q "not a regular file" "$dir/export.err" || fail "log export: no reason given: $(cat "$dir/export.err")"
pass "log export --out refuses to replace a FIFO"
echo "test_operator_kit: all passed"
