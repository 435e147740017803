#!/bin/bash
# The docs are run (issue 11): every fenced shell block of README.md, docs/*.md and proto/PROTOCOL.md
# is executed, in the order the pages show them, in the scenario its tag names (the rule and the
# tags: tests/e2e/lib/docs.bash). A block runs with set -e and pipefail; the first command that
# fails fails this test with the page and line. Blocks marked not-run are listed with their reason;
# a shell block without a tag fails. A planted failing block checks that a failure is caught and
# located. Scenarios, all in one temporary directory:
#   offline  nothing running; a fresh empty directory per page, holding `build` (the build directory)
#   device   the test node and a simulated signer set up for regtest (ONCESIGN_DEVICE); the page runs
#            in the stack's directory (where OPERATING.md's example keeps oncesign.db, api.token,
#            oncesignd.conf); HOME holds the node's cookie (.monacoin/regtest/.cookie), RPC_PORT its port
#   daemon   the same, with oncesignd running as OPERATING.md's example configures it
#            (`oncesignd --config oncesignd.conf`, plus --port 0: PORT is the port it took) and a
#            funded wallet; ADDRESS is a regtest address of the node's wallet to pay to. Its webhooks
#            (--webhook-url, --webhook-secret-file webhook.secret) go to tests/e2e/webhook_receiver.c
#   webhook  the daemon scenario once the receiver has taken a delivery: SIG holds its
#            Oncesign-Signature header and body.json its body, byte for byte
#   install  the repository root with DESTDIR set (a staging root): `make install` installs there;
#            afterwards the installed tree is checked and the daemon started as the installed unit says
# Every scenario has build/ first on PATH, so `oncesign` is build/oncesign. Needs $ONCESIGN_BUILD.
STACK_TAG=docs
. "$(dirname "$0")/lib/stack.bash"
. "$(dirname "$0")/lib/docs.bash"
command -v make >/dev/null || fail "needs make"

# OPERATING.md first: its example creates the ledger and config the other pages' examples use
pages=(docs/OPERATING.md README.md $(ls docs/*.md | grep -v '^docs/OPERATING.md$') proto/PROTOCOL.md)
mkdir -p "$dir/parse"
docs_parse "$dir/parse" "${pages[@]}"
docs_lint "$dir/parse" >"$dir/lint" || fail "docs that break the rule of tests/e2e/lib/docs.bash:
$(cat "$dir/lint")"

# ---- the self-test: a planted page with a failing command on its line 7, and one with an untagged
# shell block, must be caught and located
mkdir -p "$dir/planted"
printf '# planted\n\n<!-- run: offline -->\n```sh\ntrue\necho fine\nfalse && true; test -e /no/such/file\necho not reached\n```\n' \
  >"$dir/planted/fail.md"
printf '# planted\n\n```sh\necho untagged\n```\n\n```\nno language\n```\n\n```console\n$ make\n```\n\n```text\n$ make check\n```\n' \
  >"$dir/planted/untagged.md"
docs_parse "$dir/planted" "$dir/planted/untagged.md"
docs_lint "$dir/planted" >"$dir/planted/lint" && fail "an untagged shell block passed the lint"
for want in "untagged.md:3: shell block without" "untagged.md:7: fence without a language" "untagged.md:11: \`\`\`console" \
            "untagged.md:15: a \`\`\`text block with a shell prompt"; do
  grep -qF "$want" "$dir/planted/lint" || fail "the lint did not name the planted block ($want): $(cat "$dir/planted/lint")"
done
docs_parse "$dir/planted" "$dir/planted/fail.md"
# (not inside && or ||: bash ignores set -e in a subshell there)
( cd "$dir/planted" && docs_source "$dir/planted/fail.md" 4 "$dir/planted/block.1" ) >"$dir/planted/out" 2>&1
[ $? -ne 0 ] || fail "the planted failing block passed"
grep -q "FAIL: $dir/planted/fail.md:7: false && true; test -e /no/such/file (exit 1)" "$dir/planted/out" &&
  ! grep -q "not reached" "$dir/planted/out" || fail "the planted failure was not located: $(cat "$dir/planted/out")"
# a block that passes hands the caller's shell back as it was: stack.bash's pipefail stays on, and
# errexit stays off (docs_source used to switch pipefail off for the rest of the test)
printf 'true\n' >"$dir/planted/ok.sh"
opts=$(set -o pipefail; set +e; docs_source "$dir/planted/ok.md" 0 "$dir/planted/ok.sh"
       [[ -o pipefail ]] && echo pipefail; [[ -o errexit ]] && echo errexit; true)
[ "$opts" = pipefail ] || fail "docs_source left the caller's options changed: '$opts' (want pipefail only)"
pass "the harness fails on an untagged block and names the line of a failing command"

# ---- the environment every scenario shares
mkdir -p "$dir/home/.monacoin/regtest" "$dir/bin"
ln -s "$B" "$dir/bin/build"
export PATH="$B:$PATH"
start_node_and_signer
(umask 077; echo "u:p" >"$dir/home/.monacoin/regtest/.cookie")
export HOME="$dir/home" ONCESIGN_DEVICE="sim:$dir/s.sock" RPC_PORT=$node_port
export ADDRESS; ADDRESS=$(rpc getnewaddress | jq -r .)
[ -x "$B/oncesign-webhook_receiver" ] || fail "$B/oncesign-webhook_receiver not built"
"$B/oncesign-webhook_receiver" --out "$dir/webhooks.received" >"$dir/receiver.out" 2>"$dir/receiver.log" &
receiver_pid=$!
trap 'kill $receiver_pid 2>/dev/null; cleanup' EXIT
wait_line "$dir/receiver.out" 'listening on' $receiver_pid || fail "the webhook receiver did not start"
receiver_port=$(sed -n 's/^receiver: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/receiver.out")
(umask 077; echo "docs-webhook-secret-$RANDOM$RANDOM" >"$dir/webhook.secret")
daemon_up=
docs_daemon_pid=

# docs_scenario NAME: brings the stack into that state and goes to the scenario's directory. Runs in
# the page's subshell (which started any daemon it stops).
docs_scenario() {
  case $1 in
    offline) [ -z "$docs_daemon_pid" ] || docs_daemon_stop; cd "$dir/offline.$page_tag" ;;
    device)  [ -z "$docs_daemon_pid" ] || docs_daemon_stop; cd "$dir" ;;
    daemon)  cd "$dir"; [ -n "$docs_daemon_pid" ] || docs_daemon_start ;;
    webhook) cd "$dir"; [ -n "$docs_daemon_pid" ] || docs_daemon_start || return 1
             local _
             for _ in $(seq 150); do [ -s "$dir/webhooks.received" ] && break; mine 1; sleep 0.2; done
             [ -s "$dir/webhooks.received" ] || { echo "FAIL: no webhook delivery arrived" >&2; return 1; }
             export SIG; SIG=$(head -n1 "$dir/webhooks.received" | cut -f1)
             head -n1 "$dir/webhooks.received" | cut -f3 | tr -d '\n' >body.json ;;
    install) [ -z "$docs_daemon_pid" ] || docs_daemon_stop; cd "$repo"; export DESTDIR="$dir/root"
             sudo() { "$@"; }   # root here: sudo would run the command as it is
             ran_install=1 ;;
  esac
}
docs_daemon_start() {
  [ -s "$dir/oncesignd.conf" ] || { echo "FAIL: no oncesignd.conf: docs/OPERATING.md's example did not run" >&2; return 1; }
  oncesignd --config oncesignd.conf --port 0 --webhook-url "http://127.0.0.1:$receiver_port/oncesign" \
    --webhook-secret-file webhook.secret >"$dir/d.docs.out" 2>"$dir/d.docs.err" &
  docs_daemon_pid=$!
  wait_line "$dir/d.docs.out" 'listening on 127' $docs_daemon_pid ||
    { echo "FAIL: oncesignd --config oncesignd.conf did not start: $(tail -n 5 "$dir/d.docs.err")" >&2; return 1; }
  export PORT; PORT=$(sed -n 's/^oncesignd: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/d.docs.out")
  api_port=$PORT token=$(head -n1 "$dir/api.token")
  # once per run: pages run in subshells, so the mark is a file, not a variable
  if [ ! -e "$dir/daemon.funded" ]; then fund_wallet 3 && : >"$dir/daemon.funded"; fi
}
docs_daemon_stop() {
  kill -TERM "$docs_daemon_pid"; wait "$docs_daemon_pid"; local rc=$?
  docs_daemon_pid=
  [ $rc -eq 0 ] || { echo "FAIL: oncesignd exited $rc on SIGTERM" >&2; return 1; }
}
repo=$PWD
ran_install=

# ---- run every page's blocks, one subshell per page (variables carry from block to block)
not_run=0 ran=0
for page in "${pages[@]}"; do
  page_tag=${page//\//_}
  mkdir -p "$dir/offline.$page_tag"; ln -sfn "$B" "$dir/offline.$page_tag/build"
  awk -F'\037' -v P="$page" '$2 == P && $5 == "run" && $6 ~ /^(offline|device|daemon|webhook|install)/' "$dir/parse/blocks" >"$dir/page.blocks"
  [ -s "$dir/page.blocks" ] || continue
  (
    # what a page's blocks start in the background (a simulator, a `device init` waiting for its
    # presses) ends with the page, whether it passed or failed: nothing outlives the test
    trap 'left=$(jobs -p); [ -z "$left" ] || kill $left 2>/dev/null; wait 2>/dev/null' EXIT
    while IFS=$'\037' read -r id file line lang kind arg; do
      docs_scenario "${arg%% *}" || exit 1
      echo "--- $file:$line (${arg%% *})"
      docs_source "$file" "$line" "$dir/parse/block.$id" </dev/null
    done <"$dir/page.blocks"
    [ -z "$docs_daemon_pid" ] || docs_daemon_stop
    [ -z "$ran_install" ] || touch "$dir/ran_install"
  ) >"$dir/out.$page_tag" 2>&1
  [ $? -eq 0 ] || { cat "$dir/out.$page_tag" >&2; fail "$page: a command failed (above)"; }
  ran=$((ran + $(wc -l <"$dir/page.blocks")))
done
by_tests=$(awk -F'\037' '$5 == "run" && $6 ~ /^tests\// { print $2 ":" $3 " by " $6 }' "$dir/parse/blocks")
echo "blocks run by other tests (they check what the block prints):"; sed 's/^/  /' <<<"$by_tests"
echo "blocks not run:"
awk -F'\037' '$5 == "not-run" { print "  " $2 ":" $3 ": " $6 }' "$dir/parse/blocks"
not_run=$(awk -F'\037' '$5 == "not-run"' "$dir/parse/blocks" | wc -l)
[ $ran -ge 15 ] || fail "only $ran blocks ran (is the extraction broken?)"
pass "$ran shell blocks of ${#pages[@]} pages ran as written; $(wc -l <<<"$by_tests") run by other tests; $not_run not run (listed above)"

# ---- the installed tree (docs/OPERATING.md "Installing" ran `make install` into $dir/root)
[ -e "$dir/ran_install" ] || fail "docs/OPERATING.md has no block in the install scenario"
. "$(dirname "$0")/lib/install_check.bash"
install_check "$dir/root"
