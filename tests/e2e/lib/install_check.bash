# Sourced by tests/e2e/test_docs_run.sh after docs/OPERATING.md's install block ran `make install`
# into a staging root (issue 11, "Done means": install, start the unit, pay a code through a scoped
# key over the Unix socket). Needs stack.bash's node and signer helpers.
#
# install_check ROOT: the installed programs answer --version; systemd-sysusers --root creates the
# account; the unit passes `systemd-analyze verify` (its commands mapped into ROOT); the installed
# config passes the unit's own ExecStartPre. Then the operator's steps of OPERATING.md's service
# block inside ROOT (the config edited for the simulated signer and the test node, the ledger
# created, a redeem key made with the installed `oncesign apikey`), oncesignd started with the
# unit's ExecStart (every absolute path mapped into ROOT; as this user, not User=oncesign: there is
# no PID 1 to switch), and a code issued with the CLI, redeemed over the unit's Unix socket with
# curl and the key, and confirmed on chain exactly once.
install_check() {
  local root=$1 unit bin version p start pre key code id recv sock db conf
  unit=$root/usr/lib/systemd/system/oncesignd.service
  bin=$root/usr/bin
  [ -f "$unit" ] || fail "make install put no unit at $unit"
  version=$(sed -n 's/^#define ONCESIGN_VERSION "\(.*\)"$/\1/p' include/oncesign/version.h)
  for p in oncesignd oncesign oncesign-sim; do
    [ "$("$bin/$p" --version 2>&1)" = "$p $version" ] || fail "installed $p --version: $("$bin/$p" --version 2>&1)"
  done
  systemd-sysusers --root="$root" >"$dir/sysusers.out" 2>&1 || fail "systemd-sysusers --root: $(cat "$dir/sysusers.out")"
  grep -q '^oncesign:' "$root/etc/passwd" && grep -q '^oncesign:' "$root/etc/group" ||
    fail "systemd-sysusers made no account oncesign from the installed sysusers.d entry"
  # the unit names /usr/bin/...: verify a copy whose commands point into the staging root
  sed "s|=\(-\{0,1\}\)/usr/bin/|=\1$root/usr/bin/|" "$unit" >"$dir/oncesignd.service"
  if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify --man=no "$dir/oncesignd.service" >"$dir/verify.out" 2>&1 ||
      fail "systemd-analyze verify of the installed unit: $(cat "$dir/verify.out")"
  fi
  # ExecStartPre/ExecStart with every absolute path mapped into the root
  map() { sed -n "s/^$1=//p" "$unit" | sed -E "s#(^| )/#\1$root/#g"; }
  pre=$(map ExecStartPre) start=$(map ExecStart)
  [ -n "$pre" ] && [ -n "$start" ] || fail "the unit has no ExecStartPre/ExecStart"
  conf=$root/etc/oncesign/oncesignd.conf
  [ "$(stat -c %a "$conf")" = 640 ] || fail "installed config mode $(stat -c %a "$conf"), expected 640"
  $pre >"$dir/pre.out" 2>&1 || fail "the unit's ExecStartPre on the config as installed: $(cat "$dir/pre.out")"

  # the operator's part (OPERATING.md "As a service"): the config names this signer and node; the
  # unit's StateDirectory and RuntimeDirectory are made as systemd would
  db=$root/var/lib/oncesign/oncesign.db sock=$root/run/oncesign/api.sock
  install -d -m 0700 "$root/var/lib/oncesign"; install -d -m 0750 "$root/run/oncesign"
  (umask 077; echo "u:p" >"$root/etc/oncesign/node.cookie")
  sed -i -e "s|^device = .*|device = sim:$dir/s.sock|" -e "s|^network = .*|network = regtest|" \
    -e "s|^rpc-url = .*|rpc-url = http://127.0.0.1:$node_port/|" -e "s|^rpc-cookie = .*|rpc-cookie = $root/etc/oncesign/node.cookie|" \
    -e "s|^db = /|db = $root/|" -e "s|^socket = /|socket = $root/|" "$conf"
  # a signer of its own: the docs' one has signed for another ledger
  stop_sim; rm -f "$dir/flash.bin"; start_sim; init_sim
  "$bin/oncesign" ledger init --db "$db" >"$dir/linit.out" 2>&1 || fail "installed oncesign ledger init: $(cat "$dir/linit.out")"
  key=$("$bin/oncesign" apikey create shop --scopes redeem,read --db "$db" 2>"$dir/key.err" | grep -o 'osk_[0-9a-f]*' | head -n1)
  [ -n "$key" ] || fail "installed oncesign apikey create printed no key: $(cat "$dir/key.err")"
  $pre >"$dir/pre.out" 2>&1 || fail "the unit's ExecStartPre on the edited config: $(cat "$dir/pre.out")"
  $start >"$dir/d.unit.out" 2>"$dir/d.unit.err" &
  d_pid=$!
  wait_line "$dir/d.unit.out" "listening on unix:$sock" $d_pid || fail "the unit's ExecStart did not serve $sock"
  [ "$(stat -c %a "$sock")" = 660 ] || fail "API socket mode $(stat -c %a "$sock")"
  ucurl() { curl -sS -m 10 --fail-with-body --unix-socket "$sock" -H "Authorization: Bearer $key" "$@"; }
  recv=$(ucurl http://oncesign/v1/wallet | jq -r .receive_address) || fail "GET /v1/wallet over the socket"
  rpc sendtoaddress "[\"$recv\", 2]" >/dev/null; mine 1
  for _ in $(seq 100); do [ "$(ucurl http://oncesign/v1/wallet | jq -r .balance.confirmed)" = 200000000 ] && break; sleep 0.1; done
  code=$("$bin/oncesign" codes issue --amount 1234567 --db "$db" 2>/dev/null) || fail "installed oncesign codes issue"
  local dest; dest=$(rpc getnewaddress | jq -r .)
  id=$(ucurl -H 'Content-Type: application/json' -d "{\"address\":\"$dest\"}" "http://oncesign/v1/codes/$code/redeem" | jq -r .id) ||
    fail "redeem over the Unix socket"
  # a key without the issue scope is refused POST /v1/codes
  [ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d '{"amount":1000}' http://oncesign/v1/codes)" = 403 ] || fail "a redeem,read key issued a code"
  local s=
  for _ in $(seq 150); do
    s=$(ucurl "http://oncesign/v1/payouts/$id" | jq -r .status)
    [ "$s" = confirmed ] && break
    mine 1; sleep 0.2
  done
  [ "$s" = confirmed ] || fail "the code's payout $id stayed $s"
  exactly_once "$dest" 1234567
  kill -TERM $d_pid; wait $d_pid || fail "the unit's oncesignd did not stop cleanly on SIGTERM"; d_pid=
  pass "installed tree: programs, account (sysusers), unit (systemd-analyze verify), config; the unit's ExecStart served its socket and paid a code redeemed with a scoped key, once"
}
