#!/bin/bash
# make usb-check (docs/USB.md, "The test route"): the firmware's USB device stack
# (firmware/usb_device.c) inside build/oncesign-sim --usbredir becomes a USB device of a QEMU x86-64
# guest (-device qemu-xhci + usb-redir); the guest's Linux (Debian's kernel: xhci-hcd, usbhid,
# hid-generic, hidraw) enumerates it, and build/oncesign inside the guest, through hidapi's hidraw
# backend, lists it, finds it by vendor/product id and serial (hid:SERIAL), runs device info, device
# init (restore), an address with --show (approved on the simulator's control socket from outside
# the guest), and signs a payout whose previous transaction it fetches from the test node over
# QEMU's user network (10.0.2.2 is this machine). This script broadcasts the finalized transaction
# the guest printed to the test node, which must accept it, and mines it. A second simulator is a
# second device of the same guest: a bare `--device hid` must refuse, `hid:SERIAL` must pick it.
#
# Needs $ONCESIGN_BUILD with oncesign, oncesign-sim, oncesign-testnode and usb-guest/ (make
# usb-guest). QEMU runs with TCG unless USB_CHECK_ACCEL=kvm (docs/USB.md says why). Every wait is
# bounded; the trap stops every process it started.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
CLI=$B/oncesign
SIM=$B/oncesign-sim
# --seed (reproducible keys for the test) needs the test build of the simulator: the production one
# refuses it (docs/DECISIONS.md, the test RNG).
SIM_TEST=$B/oncesign-sim-test
NODE=$B/oncesign-testnode
GUEST=$B/usb-guest
ACCEL=${USB_CHECK_ACCEL:-tcg}
QEMU=${QEMU_X86:-qemu-system-x86_64}
for x in "$CLI" "$SIM" "$NODE" "$GUEST/vmlinuz" "$GUEST/initrd.gz"; do
  [ -e "$x" ] || { echo "FAIL: $x not built (make usb-guest)" >&2; exit 1; }
done
command -v "$QEMU" >/dev/null || { echo "FAIL: $QEMU not installed (make deps)" >&2; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq missing" >&2; exit 1; }

dir=$(mktemp -d /tmp/oncesign-usb.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${USB_CHECK_KEEP:-}" ] && echo "kept $dir" >&2 || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
  echo "FAIL: $*" >&2
  for f in "$dir"/*.err "$dir"/guest.log; do [ -s "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 25 "$f" >&2; }; done
  exit 1
}
pass() { echo "ok - $*"; }
start=$SECONDS
MNEMONIC="abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
SERIAL=OSUSBCHECK01
SERIAL2=OSUSBCHECK02   # a second device attached beside it: the host must pick by serial

# ---- the test node, funded: a coin on the signer's first receive address (derived by a helper
# simulator on a socket, restored from the same words the guest will restore over USB)
"$NODE" --port 0 --rpcuser u --rpcpassword p --seed 13 >"$dir/node.out" 2>"$dir/node.err" &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$dir/node.out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/^testnode: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/node.out")
[ -n "$port" ] || fail "test node did not start"
rpc() {
  curl -s -u u:p --data-binary "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" \
    "http://127.0.0.1:$port/"
}

"$SIM_TEST" --socket "$dir/h.sock" --flash "$dir/helper.bin" --control "$dir/hc.sock" --no-tty --seed 5 \
  </dev/null 2>"$dir/helper.err" &
helper=$!
pids+=($helper)
for _ in $(seq 100); do [ -S "$dir/hc.sock" ] && [ -S "$dir/h.sock" ] && break; sleep 0.05; done
timeout 60 "$CLI" --device "sim:$dir/h.sock" device init --network regtest --script-type p2pkh --restore "$MNEMONIC" \
  >"$dir/helper-init.err" 2>&1 &
init_pid=$!
for _ in $(seq 400); do
  kill -0 $init_pid 2>/dev/null || break
  "$SIM" --control "$dir/hc.sock" --send approve >/dev/null 2>&1; sleep 0.05
done
wait $init_pid || fail "helper simulator: device init"
a0=$(timeout 30 "$CLI" --device "sim:$dir/h.sock" device address --index 0) || fail "helper simulator: device address"
kill $helper; wait $helper 2>/dev/null

miner=$(rpc getnewaddress | jq -r .result)
rpc generatetoaddress "[101, \"$miner\"]" >/dev/null
fund=$(rpc sendtoaddress "[\"$a0\", 2]" | jq -r .result)
[[ "$fund" =~ ^[0-9a-f]{64}$ ]] || fail "sendtoaddress: $fund"
rpc generatetoaddress "[1, \"$miner\"]" >/dev/null
vout=$(rpc getrawtransaction "[\"$fund\", 1]" | jq -r --arg a "$a0" \
  '.result.vout[] | select(.scriptPubKey.addresses // [] | index($a)) | .n' | head -n1)
[[ "$vout" =~ ^[0-9]+$ ]] || fail "no output of $fund pays $a0"
dest=$(rpc getnewaddress | jq -r .result)
pass "test node on port $port: 2 MONA on $a0 ($fund:$vout); payout destination $dest"

# ---- the USB device: the simulator on the usbredir socket
"$SIM_TEST" --usbredir "$dir/ur.sock" --usb-serial "$SERIAL" --flash "$dir/flash.bin" --control "$dir/c.sock" --no-tty \
  --seed 5 </dev/null 2>"$dir/sim.err" &
pids+=($!)
for _ in $(seq 100); do [ -S "$dir/c.sock" ] && [ -S "$dir/ur.sock" ] && break; sleep 0.05; done
[ -S "$dir/ur.sock" ] || fail "the simulator did not open its usbredir socket"
ctl() { "$SIM" --control "$dir/c.sock" --send "$1"; }
"$SIM_TEST" --usbredir "$dir/ur2.sock" --usb-serial "$SERIAL2" --flash "$dir/flash2.bin" --no-tty --seed 6 \
  </dev/null 2>"$dir/sim2.err" &
pids+=($!)
for _ in $(seq 100); do [ -S "$dir/ur2.sock" ] && break; sleep 0.05; done
[ -S "$dir/ur2.sock" ] || fail "the second simulator did not open its usbredir socket"

# ---- what the guest runs: /test.sh and /test.env, appended to the initramfs as a second cpio
mkdir -p "$dir/extra"
cat >"$dir/extra/test.env" <<ENV
SERIAL=$SERIAL
SERIAL2=$SERIAL2
MNEMONIC="$MNEMONIC"
RPC_URL=http://10.0.2.2:$port/
FUND=$fund
VOUT=$vout
DEST=$dest
ENV
cat >"$dir/extra/test.sh" <<'GUEST'
#!/bin/sh
# Runs inside the guest. Each result is one line "RESULT name rc output" on the console.
. /test.env
cd /tmp
result() { echo "RESULT $1 $2 $(tr '\n' ' ' <"/tmp/$1.out")"; }
run() { name=$1; shift; "$@" >"/tmp/$name.out" 2>"/tmp/$name.err"; rc=$?; result "$name" $rc; [ $rc -eq 0 ] || sed "s/^/ERR $name: /" "/tmp/$name.err"; }
for i in $(seq 40); do [ -e /sys/class/hidraw/hidraw1 ] && break; sleep 0.25; done
echo "RESULT uevent 0 $(cat /sys/class/hidraw/hidraw*/device/uevent | tr '\n' ' ')"
run list oncesign --json device list
run anyhid oncesign --device hid device info
run second oncesign --device "hid:$SERIAL2" --json device info
export ONCESIGN_DEVICE=hid:$SERIAL
run info0 oncesign --json device info
run init oncesign device init --network regtest --script-type p2pkh --restore "$MNEMONIC"
run addr oncesign device address --index 0 --show
echo p >/tmp/rpc.password   # the CLI takes the node's password from a file only
run create oncesign psbt create --to "$DEST" --amount 50000000 --nonce 0000000000000000000000000000000000000000000000000000000000000007 \
  --input "$FUND:$VOUT" --change-index 2 --rpc-url "$RPC_URL" --rpc-user u --rpc-password-file /tmp/rpc.password --out /tmp/p.psbt
run ledger oncesign ledger init --db /tmp/ledger.db
run sign oncesign --json sign /tmp/p.psbt --finalize --db /tmp/ledger.db
GUEST
chmod 755 "$dir/extra/test.sh"
(cd "$dir/extra" && printf 'test.sh\ntest.env\n' | cpio -o -H newc --quiet | gzip -1 >"$dir/extra.gz")
cat "$GUEST/initrd.gz" "$dir/extra.gz" >"$dir/initrd.gz"

# ---- boot the guest; approve the prompts it causes on the device's screen (restore, address)
accel_opt=(-accel tcg)
[ "$ACCEL" = kvm ] && accel_opt=(-accel kvm -cpu host)
qemu_start=$SECONDS
timeout 150 "$QEMU" "${accel_opt[@]}" -m 512 -smp 1 -nographic -no-reboot -monitor none \
  -kernel "$GUEST/vmlinuz" -initrd "$dir/initrd.gz" -append "console=ttyS0 quiet loglevel=3 panic=-1" \
  -device qemu-xhci,id=xhci -chardev "socket,id=usbredir0,path=$dir/ur.sock" \
  -device usb-redir,chardev=usbredir0,bus=xhci.0 \
  -chardev "socket,id=usbredir1,path=$dir/ur2.sock" -device usb-redir,chardev=usbredir1,bus=xhci.0 \
  -nic user,model=e1000 \
  </dev/null >"$dir/guest.log" 2>"$dir/qemu.err" &
qemu_pid=$!
pids+=($qemu_pid)
last= approvals=0
while kill -0 $qemu_pid 2>/dev/null; do
  screen=$(ctl screen 2>/dev/null) || { sleep 0.1; continue; }
  if [ "$screen" != "$last" ] && grep -Eq '^approve (=|if)' <<<"$screen"; then
    printf '%s\n---\n' "$screen" >>"$dir/screens.txt"
    ctl approve >/dev/null || fail "approve not acknowledged"
    approvals=$((approvals + 1))
    last=$screen
  fi
  sleep 0.1
done
wait $qemu_pid
qrc=$?
guest_s=$((SECONDS - qemu_start))
[ $qrc -eq 0 ] || fail "QEMU exited with $qrc (124: the guest did not power off within 150 s)"
grep -q 'usb: QEMU said hello' "$dir/sim.err" || fail "QEMU never spoke usbredir to the simulator"

res() { sed -n "s/^RESULT $1 \([0-9]*\) \(.*\)\$/\1 \2/p" "$dir/guest.log" | tr -d '\r' | head -n1; }
ok() { local r; r=$(res "$1"); [ "${r%% *}" = 0 ] || fail "guest: $1 exited ${r%% *}: $(grep "ERR $1:" "$dir/guest.log" | head -5)"; echo "${r#* }"; }

uevent=$(res uevent)
[ "$(grep -o 'HID_ID=0003:00001209:00004F53' <<<"$uevent" | wc -l)" = 2 ] && grep -q "HID_UNIQ=$SERIAL " <<<"$uevent" \
  && grep -q "HID_UNIQ=$SERIAL2 " <<<"$uevent" || fail "hidraw uevents in the guest: $uevent"
pass "the guest's kernel bound usbhid/hidraw to two 1209:4F53 devices, serials $SERIAL and $SERIAL2 (xHCI, usb-redir)"
# The operator's udev rule must name the ids the device enumerated with.
rule=packaging/udev/70-oncesign.rules
grep -q 'ATTRS{idVendor}=="1209", ATTRS{idProduct}=="4f53"' "$rule" \
  || fail "$rule does not match the enumerated device 1209:4f53"

list=$(ok list) || exit 1
jq -e --arg s "$SERIAL" --arg s2 "$SERIAL2" '.ok and .count == 2 and ([.devices[].serial] | sort) == [$s, $s2] and
  all(.devices[]; .vendor_id == 4617 and .product_id == 20307 and (.path | startswith("/dev/hidraw")) and
      .device == "hid:" + .serial)' <<<"$list" >/dev/null || fail "device list: $list"
pass "oncesign device list in the guest: $(jq -c '[.devices[] | {serial, path}]' <<<"$list")"

r=$(res anyhid)
[ "${r%% *}" = 2 ] && grep -q "ERR anyhid: .*2 oncesign devices attached; choose one with --device hid:SERIAL" "$dir/guest.log" \
  || fail "a bare --device hid with two devices attached did not refuse: $r $(grep 'ERR anyhid' "$dir/guest.log")"
second=$(ok second) || exit 1
path2=$(jq -r --arg s "$SERIAL2" '.devices[] | select(.serial == $s) | .path' <<<"$list")
jq -e --arg d "hid:$path2" '.ok and .device == $d and .initialized == false' <<<"$second" >/dev/null \
  || fail "--device hid:$SERIAL2 did not open $path2: $second"
pass "two devices attached: a bare 'hid' refuses and names the choice; hid:$SERIAL2 opens $path2"

info=$(ok info0) || exit 1
jq -e '.ok and .initialized == false and .test_only_rng and (.device | startswith("hid:"))' <<<"$info" >/dev/null \
  || fail "device info: $info"
pass "oncesign --device hid:$SERIAL device info (hidapi, hidraw): $(jq -r .device <<<"$info"), blank"

ok init >/dev/null || exit 1
addr=$(ok addr) || exit 1
addr=${addr%% }
[ "$addr" = "$a0" ] || fail "device address over USB is '$addr', the helper simulator said $a0"
tr -d '\n' <"$dir/screens.txt" | grep -q "Receive address #0$a0" || fail "the device did not show $a0: $(cat "$dir/screens.txt")"
# the restore's setup screen has 3 pages (every field shown, docs/OPERATING.md) and the address 1
[ $approvals -eq 4 ] || fail "expected 4 approvals (3 restore pages, the address), pressed $approvals"
pass "device init --restore and device address --index 0 --show over USB: $addr, shown on the device and approved"

ok create >/dev/null || exit 1
signed=$(ok sign) || exit 1
hex=$(jq -r .hex <<<"$signed")
txid=$(jq -r .txid <<<"$signed")
[[ "$hex" =~ ^[0-9a-f]+$ ]] || fail "sign printed no transaction: $signed"
sent=$(rpc sendrawtransaction "[\"$hex\"]")
jq -e --arg t "$txid" '.result == $t' <<<"$sent" >/dev/null || fail "the test node refused the payout: $sent"
rpc generatetoaddress "[1, \"$miner\"]" >/dev/null
rpc getrawtransaction "[\"$txid\", 1]" | jq -e --arg d "$dest" '.result.confirmations >= 1 and
  ([.result.vout[] | select(.scriptPubKey.addresses // [] | index($d)) | .value] == [0.5])' >/dev/null \
  || fail "the payout $txid is not confirmed paying 0.5 to $dest"
pass "psbt create (previous tx over RPC from the guest) and sign --finalize over USB: $txid accepted and mined"

echo "usb-check: ran oncesign-sim-test --usbredir (firmware/usb_device.c) -> QEMU $($QEMU --version | head -n1 | sed 's/.*version //') usb-redir on qemu-xhci ($ACCEL) -> Linux $(grep -o 'kernel [^;]*' "$dir/guest.log" | head -n1 | cut -d' ' -f2) usbhid/hidraw -> hidapi -> build/oncesign; guest ${guest_s}s, total $((SECONDS - start))s"
